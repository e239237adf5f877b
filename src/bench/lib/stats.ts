/** Sample statistics for benchmarks. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in [0, 100]) of already sorted samples. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
}

/** Sorts the samples in place and summarises them. */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  return {
    p50: percentileSorted(samples, 50),
    p99: percentileSorted(samples, 99),
    max: samples[samples.length - 1] ?? NaN,
  };
}

/** Median of each field over several runs' summaries. */
export function medianOf<K extends string>(runs: readonly Record<K, number>[]): Record<K, number> {
  const out = {} as Record<K, number>;
  const keys = Object.keys(runs[0] ?? {}) as K[];
  for (const k of keys) out[k] = median(runs.map((r) => r[k]));
  return out;
}

/** How a median was reached: the run count and the smallest and largest run (each divided by `unit`). */
export interface Spread {
  runs: number;
  min: number;
  max: number;
}

export function spreadOf(xs: readonly number[], unit = 1): Spread {
  return { runs: xs.length, min: Math.min(...xs) / unit, max: Math.max(...xs) / unit };
}
