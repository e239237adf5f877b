import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { BURST_BOUNDS_S, BURST_BUCKETS } from './burst-latency.js';

/**
 * A burst split: per key (a switch port, say), how long the bursts that carried that key's
 * items took, one observation per item. The kernel says which keys a burst touched and how many
 * items each; the core, which times the burst, adds them to each key's histogram right after the
 * call. It lives in the job's state (any 8-aligned address the kernel and the attach agree on):
 *
 *   +0  u32 count     keys touched in this burst (the kernel appends, the core resets to 0)
 *   +4  u32 cap       keys 0..cap-1 (set once, before the job is attached)
 *   +8  u32 keys[cap] the keys touched, in first-touch order
 *       u32 items[cap]  items per key in this burst (the kernel adds; the core reads and zeroes)
 *       f64 hist[cap][BURST_SPLIT_SLOT_F64]  per key: sumNs, then BURST_BUCKETS counts (not
 *                       cumulative; the last: slower than every BURST_BOUNDS_S bound). Written by
 *                       the core only; any thread reads it.
 *
 * Kernels need no clock: they only count. A kernel run by no core (in-thread) fills count and
 * items and nobody observes them.
 */
export const BURST_SPLIT_SLOT_F64 = 1 + BURST_BUCKETS;
export const BURST_SPLIT_SLOT_BYTES = BURST_SPLIT_SLOT_F64 * 8;

/** Byte offset of the histograms from the block's start, for `cap` keys. */
export function burstSplitHistOffset(cap: number): number {
  return Math.ceil((8 + cap * 8) / 8) * 8;
}

/** Bytes of a split block for `cap` keys. */
export function burstSplitBytes(cap: number): number {
  return burstSplitHistOffset(cap) + cap * BURST_SPLIT_SLOT_BYTES;
}

const BOUNDS_NS = Float64Array.from(BURST_BOUNDS_S, (s) => s * 1e9);
const NBOUNDS = BOUNDS_NS.length;

/** Core side: a split block bound to a job (word indexes into the core's views of host memory). */
export interface BurstSplit {
  /** u32 index of `count`. */
  countIdx: number;
  /** u32 index of keys[0]; items[0] is at keysIdx + cap. */
  keysIdx: number;
  cap: number;
  /** f64 index of hist[0]. */
  histIdx: number;
}

/** Core side: the split block at host address `addr` (8-aligned), or null when there is none (0). */
export function bindBurstSplit(u32: Uint32Array, addr: number): BurstSplit | null {
  if (addr === 0) return null;
  const cap = u32[(addr >> 2) + 1]!;
  return { countIdx: addr >> 2, keysIdx: (addr >> 2) + 2, cap, histIdx: (addr + burstSplitHistOffset(cap)) >> 3 };
}

/**
 * Core side, after a call that did work and took `ns`: each touched key's items go into its
 * histogram, then the block is reset for the next burst. Nothing allocated.
 */
export function observeBurstSplit(s: BurstSplit, u32: Uint32Array, f64: Float64Array, ns: number): void {
  const count = Math.min(u32[s.countIdx]!, s.cap);
  if (count === 0) return;
  let b = 0;
  while (b < NBOUNDS && ns > BOUNDS_NS[b]!) b++;
  const items = s.keysIdx + s.cap;
  for (let i = 0; i < count; i++) {
    const k = u32[s.keysIdx + i]!;
    if (k >= s.cap) continue;
    const n = u32[items + k]!;
    u32[items + k] = 0;
    const h = s.histIdx + k * BURST_SPLIT_SLOT_F64;
    f64[h]! += n * ns;
    f64[h + 1 + b]! += n;
  }
  u32[s.countIdx] = 0;
}

/**
 * Any thread: key `key`'s histogram in the split block at `addr` (null when out of range).
 * `u32` and `f64` are views over the whole of host memory (kept by the caller: nothing but the
 * result is allocated).
 */
export function readBurstSplit(
  u32: Uint32Array,
  f64: Float64Array,
  addr: number,
  key: number,
): LatencyHistogramData | null {
  const cap = u32[(addr >> 2) + 1]!;
  if (!(key >= 0 && key < cap)) return null;
  const at = (addr + burstSplitHistOffset(cap) + key * BURST_SPLIT_SLOT_BYTES) >> 3;
  const counts = new Array<number>(BURST_BUCKETS);
  let count = 0;
  for (let b = 0; b < BURST_BUCKETS; b++) count += counts[b] = f64[at + 1 + b]!;
  return { counts, sumSeconds: f64[at]! / 1e9, count };
}
