import { AVAIL_RING, USED_ELEM_BYTES, USED_RING } from '../../generated/virtio.js';

/*
 * virtio 1.2 ring sizes and the event-index rule. The ring layouts themselves are declared once,
 * in assembly/virtio/layout.ts; their offsets, flags and feature bits come from
 * src/generated/virtio.ts.
 *
 * Split (§2.7): desc[N] {u64 addr, u32 len, u16 flags, u16 next} · avail {u16 flags, u16 idx,
 * u16 ring[N], u16 used_event} · used {u16 flags, u16 idx, {u32 id, u32 len}[N], u16 avail_event}.
 * Packed (§2.8): desc[N] {u64 addr, u32 len, u16 id, u16 flags} · driver and device event
 * suppression {u16 off_wrap, u16 flags}.
 */

/** Bytes of a split available ring of `n` entries (u16 each), with used_event when `eventIdx`. */
export const splitAvailBytes = (n: number, eventIdx: boolean): number => AVAIL_RING + 2 * n + (eventIdx ? 2 : 0);
/** Bytes of a split used ring of `n` elements, with avail_event when `eventIdx`. */
export const splitUsedBytes = (n: number, eventIdx: boolean): number =>
  USED_RING + USED_ELEM_BYTES * n + (eventIdx ? 2 : 0);

/** vring_need_event (§2.7.7.2): true when eventIdx lies in (old, new] mod 2^16. */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
