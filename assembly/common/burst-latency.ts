// Burst-latency buckets as kernels place an observation: the same bounds as BURST_BOUNDS_S of
// src/dpu/core/burst-latency.ts, 1-2.5-5 steps from 1 µs to 100 ms, here in ns. A histogram is
// f64 sumNs then f64 counts[BURST_LAT_BUCKETS] (not cumulative; the last: slower than 100 ms),
// f64 so that a reader on any thread takes each word whole and exact up to 2^53.

export const BURST_LAT_BUCKETS: u32 = 17;
export const BURST_LAT_BYTES: u32 = 8 + BURST_LAT_BUCKETS * 8;

/** The bucket of an observation of `ns` (0 .. BURST_LAT_BUCKETS - 1). */
export function burstBucket(ns: f64): u32 {
  let bound: f64 = 1000;
  for (let i: u32 = 0; i < BURST_LAT_BUCKETS - 1; i++) {
    if (ns <= bound) return i;
    bound *= i % 3 == 0 ? 2.5 : 2;
  }
  return BURST_LAT_BUCKETS - 1;
}

/** `n` observations of `ns` each into the histogram at `h` (a state region's own words). */
@inline export function burstObserve(h: usize, ns: f64, n: u32): void {
  if (!(ns > 0)) ns = 0; // a clock never written (0) or read on another thread a hair earlier
  store<f64>(h, load<f64>(h) + ns * <f64>n);
  const b = h + 8 + ((<usize>burstBucket(ns)) << 3);
  store<f64>(b, load<f64>(b) + <f64>n);
}
