// The port table: port id (u16, below maxPorts) → what a frame output to that port reaches.
// Written by the control plane, read by the fast path on every packet; the fast path never
// writes it. Per-port statistics are the fast path's and live in the switch state (switch-state.ts).
//
// Region 'NPRT' (layout 1):  +64 u32 maxPorts  +68 u32 highWater (one past the highest port id
// whose kind is not NONE, kept by the writer: the fast path looks no further)
//   +128 entry[maxPorts], 64 bytes each:
//   +0  u8 kind      NONE 0 | VNIC 1 (a virtio-net device's queues) | TUNNEL 2 (a VXLAN socket
//                    worker's I/O rings) | TRUNK_SUB 3 (a VLAN sub-port of a VNIC port)
//   +1  u8 flags     UP 1 (down: output is dropped and counted) | MIRROR 2 (every frame in or out
//                    is copied to the mirror ring)
//   +2  u16 parent   TRUNK_SUB: the VNIC port the sub-port lives on
//   +4  u16 vlan     TRUNK_SUB: its VLAN id (output pushes an 802.1Q tag with it)
//   +6  u16 mtu      largest frame output may deliver, less 18 (Ethernet header and one tag); an
//                    encapsulating VNIC output may add VXLAN's 50 (0: no limit but the buffers)
//   +8  u32 target   VNIC: host address of the device state ('NETD'); TUNNEL: host address of the
//                    tunnel I/O region ('NTIO', tunnel-io.ts); TRUNK_SUB: 0
//   +12 u32 vlanMap  VNIC trunk: host address of u16[4096], VLAN id → sub-port id (0xffff: none,
//                    the frame keeps the VNIC port as its ingress); 0: not a trunk
//   +16 u32 mirror   host address of the port's mirror ring (mirror.ts), or 0
//   +20 u32 upcallRing  host address of the port's upcall ring (upcall.ts); sub-ports may share
//                    their parent's. 0: misses from this port are dropped (counted)
//   +24 u8[6] mac    the port's MAC (for the slow path and the pcap mirror; the fast path checks
//                    L2 addresses only through CHECK_L2 actions)
//   +32 .. +63 reserved, zero
//
// Changing an entry: the control plane writes kind = NONE first (Atomics.store), waits until the
// switch's epoch word has moved twice (no burst still holds the old entry), rewrites the other
// fields, then stores the new kind last. A new entry is written while kind is NONE, kind last.

export const NET_PT_MAGIC: u32 = 0x5452504e; // 'NPRT'
export const NET_PT_LAYOUT: u32 = 1;
export const NET_PT_MAX_PORTS: u32 = 64;
export const NET_PT_HIGH_WATER: u32 = 68;
export const NET_PT_ENTRIES: u32 = 128;
export const NET_PT_ENTRY_BYTES: u32 = 64;
/** Port ids are u16; 0xffff means "no port". */
export const NET_PORT_NONE_ID: u32 = 0xffff;
export const NET_PT_PORTS_LIMIT: u32 = 4096;

export const NET_PE_KIND: u32 = 0;
export const NET_PE_FLAGS: u32 = 1;
export const NET_PE_PARENT: u32 = 2;
export const NET_PE_VLAN: u32 = 4;
export const NET_PE_MTU: u32 = 6;
export const NET_PE_TARGET: u32 = 8;
export const NET_PE_VLAN_MAP: u32 = 12;
export const NET_PE_MIRROR: u32 = 16;
export const NET_PE_UPCALL_RING: u32 = 20;
export const NET_PE_MAC: u32 = 24;

export const NET_PORT_NONE: u32 = 0;
export const NET_PORT_VNIC: u32 = 1;
export const NET_PORT_TUNNEL: u32 = 2;
export const NET_PORT_TRUNK_SUB: u32 = 3;

export const NET_PF_UP: u32 = 1;
export const NET_PF_MIRROR: u32 = 2;

/** A VLAN map has one u16 per VLAN id. */
export const NET_VLAN_MAP_BYTES: u32 = 8192;

/** Bytes of a port table region for `maxPorts` ports. */
export function portTableBytes(maxPorts: u32): u32 {
  return NET_PT_ENTRIES + maxPorts * NET_PT_ENTRY_BYTES;
}
