// virtio 1.2 ring layouts (all little-endian; Wasm is little-endian, so plain loads/stores).
//
// Split ring (§2.7), N = queue size (power of two, <= 32768):
//
//   descriptor table (align 16)   desc[N]: { u64 addr; u32 len; u16 flags; u16 next }      16·N
//   available ring   (align 2)    { u16 flags; u16 idx; u16 ring[N]; u16 used_event }      6 + 2·N
//   used ring        (align 4)    { u16 flags; u16 idx; {u32 id; u32 len} ring[N]; u16 avail_event }  6 + 8·N
//
// Packed ring (§2.8), N <= 32768 (any value):
//
//   descriptor ring  (align 16)   desc[N]: { u64 addr; u32 len; u16 id; u16 flags }        16·N
//   driver event suppression (align 4)   { u16 off_wrap; u16 flags }  (device reads)
//   device event suppression (align 4)   { u16 off_wrap; u16 flags }  (device writes)
//
// Exported (exports.ts), so the TS side's constants are generated from these (src/generated/virtio.ts).

export const DESC_ADDR: u32 = 0;
export const DESC_LEN: u32 = 8;
export const DESC_FLAGS: u32 = 12; // split
export const DESC_NEXT: u32 = 14; // split
export const PDESC_ID: u32 = 12; // packed
export const PDESC_FLAGS: u32 = 14; // packed
export const DESC_BYTES: u32 = 16;

export const F_NEXT: u16 = 1;
export const F_WRITE: u16 = 2;
export const F_INDIRECT: u16 = 4;
export const F_AVAIL: u16 = 1 << 7;
export const F_USED: u16 = 1 << 15;

export const AVAIL_FLAGS: u32 = 0;
export const AVAIL_IDX: u32 = 2;
export const AVAIL_RING: u32 = 4;
export const AVAIL_F_NO_INTERRUPT: u16 = 1;

export const USED_FLAGS: u32 = 0;
export const USED_IDX: u32 = 2;
export const USED_RING: u32 = 4;
export const USED_ELEM_BYTES: u32 = 8;
export const USED_ELEM_ID: u32 = 0;
export const USED_ELEM_LEN: u32 = 4;
export const USED_F_NO_NOTIFY: u16 = 1;

export const EVS_OFF_WRAP: u32 = 0;
export const EVS_FLAGS: u32 = 2;
export const EVS_BYTES: u32 = 4;
export const RING_EVENT_ENABLE: u16 = 0;
export const RING_EVENT_DISABLE: u16 = 1;
export const RING_EVENT_DESC: u16 = 2;

export const MAX_QUEUE_SIZE: u32 = 32768;

// Feature bits (ch. 6), as bit numbers of the 64-bit feature word.
export const FEAT_INDIRECT_DESC: u32 = 28;
export const FEAT_EVENT_IDX: u32 = 29;
export const FEAT_VERSION_1: u32 = 32;
export const FEAT_RING_PACKED: u32 = 34;
export const FEAT_IN_ORDER: u32 = 35;

// Device status bits (§2.1).
export const STATUS_DEVICE_NEEDS_RESET: u32 = 64;

/** Bytes of each split-ring part for queue size n, with the EVENT_IDX trailer when `eventIdx`. */
@inline export function splitAvailBytes(n: u32, eventIdx: bool): u32 {
  return 4 + 2 * n + (eventIdx ? 2 : 0);
}
@inline export function splitUsedBytes(n: u32, eventIdx: bool): u32 {
  return 4 + USED_ELEM_BYTES * n + (eventIdx ? 2 : 0);
}

/** vring_need_event (§2.7.7.2, virtio-queue.h): true when event_idx lies in (old, new] mod 2^16. */
@inline export function needEvent(eventIdx: u16, newIdx: u16, oldIdx: u16): bool {
  return <u16>(newIdx - eventIdx - 1) < <u16>(newIdx - oldIdx);
}
