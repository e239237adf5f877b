// The block through which a VM's vCPU 0 finds the drivers it runs ('GPRG'), laid out in guest
// RAM by the firmware at each boot, like the tables a guest kernel builds at probe. Host
// addresses are the firmware's; the magic is written last (the vCPU takes the block up then).
//
//   +0  u32 magic  +4 u32 net (host address of the NIC's stack 'GNET', 0: none)
//   +8  u32 blk (host address of the disk's job 'GBJB', 0: none)
//   +12 u32 irq (host address of vCPU 0's interrupt word: every driven queue's vector)
//   +16 ping: u32 dst (network order)  +20 u32 count  +24 u32 sent  +28 u32 base (stack's replies at start)
//   +32 u64 lastNs (clock of the last attempt)  +40 u32 pending (0 none, 1 a ping out, 2 ARP asked)
//   +44 u32 runs (ping runs asked for: each has an ICMP identifier of its own, so late replies to
//   an earlier run are not counted)
//   +48 u64 steps  +56 u64 sleeps (steps that slept on the interrupt word)

export const GP_MAGIC: u32 = 0x47525047; // 'GPRG'
export const GP_NET: u32 = 4;
export const GP_BLK: u32 = 8;
export const GP_IRQ: u32 = 12;
export const GP_PING_DST: u32 = 16;
export const GP_PING_COUNT: u32 = 20;
export const GP_PING_SENT: u32 = 24;
export const GP_PING_BASE: u32 = 28;
export const GP_PING_LAST: u32 = 32;
export const GP_PING_PENDING: u32 = 40;
export const GP_PING_RUNS: u32 = 44;
export const GP_STEPS: u32 = 48;
export const GP_SLEEPS: u32 = 56;
export const GP_BYTES: u32 = 64;

/** The ICMP identifier of the pings of run 0 (run r uses GP_PING_IDENT + r, 16 bits). */
export const GP_PING_IDENT: u32 = 0x5100;
