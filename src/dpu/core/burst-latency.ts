import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { MAX_JOBS_PER_CORE } from './core-protocol.js';

/**
 * Upper bounds of the burst-duration buckets, in seconds: 1-2.5-5 steps from 1 µs to 100 ms
 * (a burst is a few µs of work; one that holds a core for 100 ms is already a fault).
 */
export const BURST_BOUNDS_S: readonly number[] = [
  1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,
];

/**
 * Out-of-band burst durations of one core's jobs: per job, a histogram of how long each call
 * that did work took (its burst's service time), with the fixed BURST_BOUNDS_S buckets. The
 * core writes a job's slot in place as each burst ends (no flush); any thread reads it.
 *
 *   slot[MAX_JOBS_PER_CORE], BURST_SLOT_BYTES each, all f64:
 *     +0  owner     the job's id + 1 (0: never used)
 *     +8  sumNs     the bursts' durations summed, ns
 *     +16 buckets[BURST_BOUNDS_S.length + 1]   bursts per bucket (not cumulative), the last: slower than all bounds
 *
 * A slot is bound when its job attaches (the first slot no attached job owns, zeroed) and keeps
 * its numbers after the job leaves, until another job takes it. A reader may see a burst in its
 * bucket before its duration is in the sum; the count is the buckets' total.
 */
export const BURST_BUCKETS = BURST_BOUNDS_S.length + 1;
const F_OWNER = 0;
const F_SUM = 1;
const F_BUCKETS = 2;
const SLOT_F64 = F_BUCKETS + BURST_BUCKETS;
export const BURST_SLOT_BYTES = Math.ceil((SLOT_F64 * 8) / 64) * 64;
export const BURST_LATENCY_BYTES = MAX_JOBS_PER_CORE * BURST_SLOT_BYTES;

const BOUNDS_NS = Float64Array.from(BURST_BOUNDS_S, (s) => s * 1e9);
const NBOUNDS = BOUNDS_NS.length;

/**
 * Core side: binds a slot to a newly attached job and returns the view the reactor records into
 * (`recordBurst`). `ownedBy` are the ids of the jobs attached now.
 */
export function bindBurstSlot(
  buf: SharedArrayBuffer | ArrayBuffer,
  base: number,
  jobId: number,
  ownedBy: readonly number[],
): Float64Array {
  const f64 = new Float64Array(buf, base, BURST_LATENCY_BYTES / 8);
  const step = BURST_SLOT_BYTES / 8;
  let free = -1;
  for (let s = 0; s < MAX_JOBS_PER_CORE; s++) {
    const owner = f64[s * step + F_OWNER]!;
    if (owner === 0 || !ownedBy.includes(owner - 1)) {
      free = s;
      if (owner === 0) break; // prefer a never-used slot: a recently left job's numbers stay readable
    }
  }
  // attachJob refuses a job beyond MAX_JOBS_PER_CORE, so a slot is always free here.
  const slot = f64.subarray(free * step, free * step + SLOT_F64);
  slot.fill(0);
  slot[F_OWNER] = jobId + 1;
  return slot;
}

/** Core side: one burst of `ns` nanoseconds. Two stores; nothing allocated. */
export function recordBurst(slot: Float64Array, ns: number): void {
  let i = 0;
  while (i < NBOUNDS && ns > BOUNDS_NS[i]!) i++;
  slot[F_BUCKETS + i]!++;
  slot[F_SUM]! += ns;
}

/** Any thread: the histogram of job `jobId`, or null when no slot holds it. */
export function readBurstLatency(
  buf: SharedArrayBuffer | ArrayBuffer,
  base: number,
  jobId: number,
): LatencyHistogramData | null {
  const f64 = new Float64Array(buf, base, BURST_LATENCY_BYTES / 8);
  const step = BURST_SLOT_BYTES / 8;
  for (let s = 0; s < MAX_JOBS_PER_CORE; s++) {
    const at = s * step;
    if (f64[at + F_OWNER] !== jobId + 1) continue;
    const counts = new Array<number>(BURST_BUCKETS);
    let count = 0;
    for (let b = 0; b < BURST_BUCKETS; b++) count += counts[b] = f64[at + F_BUCKETS + b]!;
    return { counts, sumSeconds: f64[at + F_SUM]! / 1e9, count };
  }
  return null;
}

/** Adds `b` into `a` (bucket by bucket); returns `a`. */
export function addLatency(a: LatencyHistogramData, b: LatencyHistogramData): LatencyHistogramData {
  for (let i = 0; i < BURST_BUCKETS; i++) a.counts[i] = (a.counts[i] ?? 0) + (b.counts[i] ?? 0);
  a.sumSeconds += b.sumSeconds;
  a.count += b.count;
  return a;
}

/** An empty histogram with the fixed buckets. */
export function emptyLatency(): LatencyHistogramData {
  return { counts: new Array<number>(BURST_BUCKETS).fill(0), sumSeconds: 0, count: 0 };
}
