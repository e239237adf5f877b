/**
 * virtio 1.2 ring layouts and feature bits — TS mirror of assembly/virtio/layout.ts (every
 * constant here is checked against the Wasm export of the same name by
 * test/dpu/virtio/layout.test.ts).
 *
 * Split (§2.7): desc[N] {u64 addr, u32 len, u16 flags, u16 next} · avail {u16 flags, u16 idx,
 * u16 ring[N], u16 used_event} · used {u16 flags, u16 idx, {u32 id, u32 len}[N], u16 avail_event}.
 * Packed (§2.8): desc[N] {u64 addr, u32 len, u16 id, u16 flags} · driver and device event
 * suppression {u16 off_wrap, u16 flags}.
 */
export const DESC_ADDR = 0;
export const DESC_LEN = 8;
export const DESC_FLAGS = 12;
export const DESC_NEXT = 14;
export const PDESC_ID = 12;
export const PDESC_FLAGS = 14;
export const DESC_BYTES = 16;

export const F_NEXT = 1;
export const F_WRITE = 2;
export const F_INDIRECT = 4;
export const F_AVAIL = 1 << 7;
export const F_USED = 1 << 15;

export const AVAIL_FLAGS = 0;
export const AVAIL_IDX = 2;
export const AVAIL_RING = 4;
export const USED_FLAGS = 0;
export const USED_IDX = 2;
export const USED_RING = 4;
export const USED_ELEM_BYTES = 8;

export const EVS_OFF_WRAP = 0;
export const EVS_FLAGS = 2;
export const EVS_BYTES = 4;

export const FEAT_INDIRECT_DESC = 28;
export const FEAT_EVENT_IDX = 29;
export const FEAT_RING_PACKED = 34;
export const FEAT_IN_ORDER = 35;
export const STATUS_DEVICE_NEEDS_RESET = 64;
export const MAX_QUEUE_SIZE = 32768;

/** Not exported by Wasm (flag values the kernels name locally). */
export const AVAIL_F_NO_INTERRUPT = 1;
export const USED_F_NO_NOTIFY = 1;
export const RING_EVENT_ENABLE = 0;
export const RING_EVENT_DISABLE = 1;
export const RING_EVENT_DESC = 2;
export const FEAT_VERSION_1 = 32;

export const splitAvailBytes = (n: number, eventIdx: boolean): number => 4 + 2 * n + (eventIdx ? 2 : 0);
export const splitUsedBytes = (n: number, eventIdx: boolean): number => 4 + USED_ELEM_BYTES * n + (eventIdx ? 2 : 0);

/** vring_need_event (§2.7.7.2): true when eventIdx lies in (old, new] mod 2^16. */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
