// A burst carried across turns: which chains of the device's burst buffer are done, and how far
// the chain in progress got, so that a turn can stop anywhere (its work budget spent) and the
// next one go on (work-budget.ts). Any device uses it the same way:
//
//   turn:  if ccIdle: wbLimitPop, n = vqPop, ccStart(n)      else: ccResume (translate again)
//          for chain ccNext .. count: do up to the budget's bytes from ccDone on;
//                                     ccAdvance(bytes); when the chain is whole, ccComplete
//          ccPush (gives back the chains completed, in order: the guest sees one completion each)
//
// A block of CC_BYTES inside the device's state region:
//
//   +0  u32 count   chains of the burst in progress (0: none, the next turn pops)
//   +4  u32 next    the chain being worked on; chains [pushed, next) are complete, not yet pushed
//   +8  u32 done    bytes of chain `next` done so far (the device's own measure)
//   +12 u32 pushed  chains [0, pushed) already given back to the driver

import { CH_READ_SEGS, CH_SEG_START, CH_WRITE_SEGS, SEG_BYTES, SEG_LEN, chainAt, segsBase } from './burst';
import { vqPushRange, vqRefresh } from './vq';

export const CC_COUNT: u32 = 0;
export const CC_NEXT: u32 = 4;
export const CC_DONE: u32 = 8;
export const CC_PUSHED: u32 = 12;
export const CC_BYTES: u32 = 16;

/** No burst in progress: the next turn pops. */
@inline export function ccIdle(cc: usize): bool {
  return load<u32>(cc, CC_COUNT) == 0;
}

/** A burst of `n` chains was just popped. */
@inline export function ccStart(cc: usize, n: u32): void {
  store<u32>(cc, n, CC_COUNT);
  store<u32>(cc, 0, CC_NEXT);
  store<u32>(cc, 0, CC_DONE);
  store<u32>(cc, 0, CC_PUSHED);
}

/**
 * A turn goes on with a burst an earlier turn began: the remaining chains' segments are
 * translated again (vqRefresh; a chain no longer in guest RAM is rejected).
 */
@inline export function ccResume(cc: usize, vq: usize, burst: usize): void {
  const next = load<u32>(cc, CC_NEXT);
  vqRefresh(vq, burst, next, load<u32>(cc, CC_COUNT) - next);
}

@inline export function ccNext(cc: usize): u32 {
  return load<u32>(cc, CC_NEXT);
}

@inline export function ccCount(cc: usize): u32 {
  return load<u32>(cc, CC_COUNT);
}

/** Bytes of the chain in progress done so far. */
@inline export function ccDone(cc: usize): u32 {
  return load<u32>(cc, CC_DONE);
}

@inline export function ccAdvance(cc: usize, bytes: u32): void {
  store<u32>(cc, load<u32>(cc, CC_DONE) + bytes, CC_DONE);
}

/** The chain in progress is whole (its used length set): move to the next. */
@inline export function ccComplete(cc: usize): void {
  store<u32>(cc, load<u32>(cc, CC_NEXT) + 1, CC_NEXT);
  store<u32>(cc, 0, CC_DONE);
}

/**
 * Gives back the chains completed since the last push (one publish, at most one interrupt);
 * when the whole burst is back the cursor is idle. Returns the chains pushed, or -1 (vqPushRange
 * refused: nothing published).
 */
export function ccPush(cc: usize, vq: usize, burst: usize): i32 {
  const pushed = load<u32>(cc, CC_PUSHED);
  const next = load<u32>(cc, CC_NEXT);
  if (next == pushed) return 0;
  const r = vqPushRange(vq, burst, pushed, next - pushed);
  if (r < 0) return r;
  store<u32>(cc, next, CC_PUSHED);
  if (next == load<u32>(cc, CC_COUNT)) store<u32>(cc, 0, CC_COUNT);
  return r;
}

/**
 * Where byte `pos` of a chain's readable (write = false) or writable segments lies: the
 * segment's index in the burst's pool << 32 | the offset in it. A `pos` at or past the side's
 * last byte gives the index one past its last segment, offset 0. At most one step per segment.
 */
export function segAt(burst: usize, rec: usize, write: bool, pos: u32): u64 {
  const nr = <u32>load<u16>(rec, CH_READ_SEGS);
  const n = write ? <u32>load<u16>(rec, CH_WRITE_SEGS) : nr;
  let i = load<u32>(rec, CH_SEG_START) + (write ? nr : 0);
  const end = i + n;
  const segs = segsBase(burst);
  let left = pos;
  for (; i < end; i++) {
    // SAFETY: segments [CH_SEG_START, +readSegs+writeSegs) were written by the pop inside the pool.
    const len = load<u32>(segs + <usize>i * SEG_BYTES, SEG_LEN);
    if (left < len) return ((<u64>i) << 32) | (<u64>left);
    left -= len;
  }
  return (<u64>end) << 32;
}

/** The chain record the cursor is on. */
@inline export function ccChain(cc: usize, burst: usize): usize {
  return chainAt(burst, load<u32>(cc, CC_NEXT));
}
