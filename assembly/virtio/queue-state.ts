// Device-side queue state: a state region (magic 'VQST') in host memory, private to the device
// (the guest never sees it). Everything the device needs between bursts lives here, so a queue
// can be quiesced, saved, restored, migrated or served by another kernel version unchanged.
//
//   +64  u32 flags         QF_* below
//   +68  u32 size          N
//   +72  u32 gmap          host address of the guest memory map (GMAP region)
//   +76  u32 broken        reason code once broken (0 while healthy)
//   +80  u32 brokenDetail  the offending index or value
//   +84  u32 descHost      host addresses of the three areas, translated and bounds-checked at setup
//   +88  u32 driverHost    split: available ring; packed: driver event suppression
//   +92  u32 deviceHost    split: used ring;      packed: device event suppression
//   +96  u64 descGpa  +104 u64 driverGpa  +112 u64 deviceGpa
//   +120 u64 features      negotiated feature bits
//   +128 u16 nextAvail     split: last_avail_idx (free-running);  packed: next slot to read
//   +130 u16 nextUsed      split: shadow used idx (free-running);  packed: next slot to write
//   +132 u16 availWrap     packed: driver ring wrap counter as seen by the device (starts 1)
//   +134 u16 usedWrap      packed: device ring wrap counter (starts 1)
//   +136 u16 signalledUsed used idx (split) / slot (packed) at the last interrupt check
//   +138 u16 signalledValid  0 until the first check (the first check always notifies)
//   +140 u32 irqAddr       host address of this queue's interrupt word (0: none)
//   +144 u32 inflight      chains popped and not yet pushed
//   +148 u32 lastPoppedWrap packed: used to pair tokens (reserved otherwise)
//   +152 u64 popped  +160 u64 pushed  +168 u64 irqSent  +176 u64 irqSuppressed  +184 u64 rejected  +192 u64 arms
//   +256 in-flight table: split: bitmap of heads (N bits); packed: u32 per slot {u16 id, u16 descCount}
//
// Exported (exports.ts), so the TS side's constants are generated from these (src/generated/virtio.ts).

export const VQ_MAGIC: u32 = 0x54535156; // 'VQST'
export const VQ_LAYOUT: u32 = 1;

export const VQ_FLAGS: u32 = 64;
export const VQ_SIZE: u32 = 68;
export const VQ_GMAP: u32 = 72;
export const VQ_BROKEN: u32 = 76;
export const VQ_BROKEN_DETAIL: u32 = 80;
export const VQ_DESC_HOST: u32 = 84;
export const VQ_DRIVER_HOST: u32 = 88;
export const VQ_DEVICE_HOST: u32 = 92;
export const VQ_DESC_GPA: u32 = 96;
export const VQ_DRIVER_GPA: u32 = 104;
export const VQ_DEVICE_GPA: u32 = 112;
export const VQ_FEATURES: u32 = 120;
export const VQ_NEXT_AVAIL: u32 = 128;
export const VQ_NEXT_USED: u32 = 130;
export const VQ_AVAIL_WRAP: u32 = 132;
export const VQ_USED_WRAP: u32 = 134;
export const VQ_SIGNALLED_USED: u32 = 136;
export const VQ_SIGNALLED_VALID: u32 = 138;
export const VQ_IRQ_ADDR: u32 = 140;
export const VQ_INFLIGHT: u32 = 144;
export const VQ_POPPED: u32 = 152;
export const VQ_PUSHED: u32 = 160;
export const VQ_IRQ_SENT: u32 = 168;
export const VQ_IRQ_SUPPRESSED: u32 = 176;
export const VQ_REJECTED: u32 = 184;
export const VQ_ARMS: u32 = 192;
export const VQ_TABLE: u32 = 256;

// flags
export const QF_READY: u32 = 1;
export const QF_PACKED: u32 = 2;
export const QF_EVENT_IDX: u32 = 4;
export const QF_INDIRECT: u32 = 8;
export const QF_IN_ORDER: u32 = 16;
/** Kicks are enabled (the device armed before sleeping); the next busy pop disables them. */
export const QF_KICKS_ON: u32 = 32;

// Packed in-flight table: one u32 per slot at VQ_TABLE + 4·slot, { u16 id; u16 descCount }.
export const VQ_SLOT_BYTES: u32 = 4;
export const VQ_SLOT_ID: u32 = 0;
export const VQ_SLOT_DESC_COUNT: u32 = 2;

/** Bytes a queue state region needs for queue size n. */
export function vqStateBytes(n: u32, packed: bool): u32 {
  return VQ_TABLE + (packed ? VQ_SLOT_BYTES * n : (n + 7) >> 3);
}

// Why a queue is broken (DEVICE_NEEDS_RESET). Numbers are stable: tests and docs name them.
export const VQ_BRK_AVAIL_IDX: u32 = 1; // B1 avail.idx moved more than N past last_avail_idx
export const VQ_BRK_HEAD_RANGE: u32 = 2; // B2 ring[i] >= N
export const VQ_BRK_HEAD_INFLIGHT: u32 = 3; // B3 a head published again while in flight
export const VQ_BRK_NEXT_RANGE: u32 = 4; // C1 next >= N
export const VQ_BRK_LOOP: u32 = 5; // C2 more than N descriptors in a chain (a cycle)
export const VQ_BRK_PACKED_CHAIN: u32 = 6; // F2 packed NEXT chain longer than N

// Why one chain is rejected (returned with len 0; the queue goes on).
export const VQ_REJ_ADDR: u16 = 1; // C4 a buffer not wholly inside guest RAM, or addr+len overflows
export const VQ_REJ_TOO_LONG: u16 = 2; // C3 total length > 2^32 - 1
export const VQ_REJ_ORDER: u16 = 3; // C5 a readable descriptor after a writable one
export const VQ_REJ_SEGS: u16 = 4; // C7 more than VQ_MAX_SEGS segments
export const VQ_REJ_IND_FEATURE: u16 = 5; // D1 INDIRECT without VIRTIO_F_INDIRECT_DESC
export const VQ_REJ_IND_LEN: u16 = 6; // D2/D2a/D2b/F3 table length 0, not a multiple of 16, or > N entries
export const VQ_REJ_IND_NESTED: u16 = 7; // D3 INDIRECT inside a table
export const VQ_REJ_IND_NEXT: u16 = 8; // D4 INDIRECT together with NEXT (split), or inside a NEXT list (packed)
export const VQ_REJ_IND_ADDR: u16 = 9; // D6 table not inside guest RAM
export const VQ_REJ_IND_LOOP: u16 = 10; // D7 a cycle inside the table
export const VQ_REJ_IND_NEXT_RANGE: u16 = 11; // D7a next >= table length

// Setup/restore refusals (A1-A6), returned negated by vq_setup / vq_restore.
export const VQ_SETUP_SIZE: i32 = 1; // A1
export const VQ_SETUP_ALIGN: i32 = 2; // A2
export const VQ_SETUP_RANGE: i32 = 3; // A3
export const VQ_SETUP_OVERLAP: i32 = 4; // A4
export const VQ_SETUP_STATE: i32 = 5; // A6 (restore)
export const VQ_SETUP_REGION: i32 = 6; // the state region is too small or has no header

/** At most this many segments per chain (C7), like DPDK's 256. */
export const VQ_MAX_SEGS: u32 = 256;
