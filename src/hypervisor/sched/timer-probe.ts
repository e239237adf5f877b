import { ErrorCode, QingtianError } from '../../common/errors.js';
import * as G from '../../generated/guest.js';

/**
 * The out-of-band side of the timer probe (assembly/guest/timer-probe.ts): a latency-sensitive
 * guest's vCPU runs `gvm_probe(ctl, probe)` as its program, waking every interval and recording
 * how late it got back into the guest in a histogram in its RAM; the host reads that histogram
 * here without stopping the guest.
 */

/** Bytes of guest RAM a probe area takes (TP_BYTES; place it 8-byte aligned). */
export const TIMER_PROBE_BYTES = G.TP_BYTES;

/** What a probe recorded, read out of band. Lateness is how long after its deadline the probe ran again. */
export interface TimerProbeReport {
  /** The probe's wake-up interval, ns. */
  intervalNs: number;
  /** Deadlines served (each one a lateness sample). */
  samples: number;
  /** Median lateness, ns (the middle of its histogram bucket, at most 1/32 off). */
  p50Ns: number;
  /** 99th percentile lateness, ns. */
  p99Ns: number;
  /** 99.9th percentile lateness, ns. */
  p999Ns: number;
  /** The largest lateness, ns (exact). */
  maxNs: number;
  /** Mean lateness, ns (exact). */
  meanNs: number;
  /** Deadlines that passed while the probe was still late for an earlier one (not sampled). */
  missed: number;
  /** Wake-ups before a deadline (a change of the VM's control block woke the vCPU). */
  wakes: number;
}

/** The range of values [low, high) in ns that histogram bucket `b` counts. */
export function probeBucketRange(b: number): [number, number] {
  const sub = 1 << G.TP_SUB_BITS;
  if (!Number.isInteger(b) || b < 0 || b >= G.TP_BUCKETS)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `timer probe bucket: expected an integer in [0, ${G.TP_BUCKETS - 1}], got ${b}`,
    );
  if (b < sub) return [b, b + 1];
  const e = Math.floor(b / sub) + G.TP_SUB_BITS - 1;
  const s = b % sub;
  const width = 2 ** (e - G.TP_SUB_BITS);
  return [(sub + s) * width, (sub + s + 1) * width];
}

/**
 * The value at quantile `q` (0 < q ≤ 1) of a histogram: the middle of the bucket holding it,
 * capped at `max` (the largest sample, returned as is for the top rank).
 */
export function histogramQuantile(buckets: ArrayLike<number>, total: number, q: number, max: number): number {
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  if (rank >= total) return max; // the largest sample is known exactly
  let seen = 0;
  for (let b = 0; b < buckets.length; b++) {
    seen += buckets[b]!;
    if (seen >= rank) {
      const [lo, hi] = probeBucketRange(b);
      return Math.min(max, hi - lo === 1 ? lo : (lo + hi) / 2);
    }
  }
  return max;
}

/** Per-bucket counts of the probe area at host address `addr`. */
export function readProbeBuckets(view: DataView, addr: number): Float64Array {
  checkProbe(view, addr);
  const out = new Float64Array(G.TP_BUCKETS);
  for (let b = 0; b < G.TP_BUCKETS; b++) out[b] = Number(view.getBigUint64(addr + G.TP_HIST + 8 * b, true));
  return out;
}

/**
 * Reads the probe area at host address `addr` (out of band: the guest keeps running; a sample
 * recorded during the read may be counted in some fields and not yet in others).
 */
export function readTimerProbe(view: DataView, addr: number): TimerProbeReport {
  const buckets = readProbeBuckets(view, addr);
  const u64 = (off: number): number => Number(view.getBigUint64(addr + off, true));
  let samples = 0;
  for (const n of buckets) samples += n;
  const maxNs = u64(G.TP_MAX);
  return {
    intervalNs: u64(G.TP_INTERVAL),
    samples,
    p50Ns: histogramQuantile(buckets, samples, 0.5, maxNs),
    p99Ns: histogramQuantile(buckets, samples, 0.99, maxNs),
    p999Ns: histogramQuantile(buckets, samples, 0.999, maxNs),
    maxNs,
    meanNs: samples === 0 ? 0 : u64(G.TP_SUM) / samples,
    missed: u64(G.TP_MISSED),
    wakes: u64(G.TP_WAKES),
  };
}

function checkProbe(view: DataView, addr: number): void {
  if (addr < 0 || addr % 8 !== 0 || addr + G.TP_BYTES > view.byteLength)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `timer probe address: expected an 8-byte aligned address with ${G.TP_BYTES} bytes after it inside host memory, got ${addr}`,
    );
  if (view.getUint32(addr, true) !== G.TP_MAGIC)
    throw new QingtianError(ErrorCode.InvalidArgument, `timer probe at ${addr}: no probe there (magic 'GTPR' missing)`);
}
