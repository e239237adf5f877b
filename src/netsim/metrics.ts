/**
 * Flow and fairness metrics: FCT slowdown as the HPCC evaluation defines it
 * (docs/congestion-control.md, "The simulator": Outputs).
 */

/** One simulated flow's outcome. Times in ps. */
export interface FlowResult {
  /** Its index in the scenario's flows. */
  index: number;
  /** Sending host (node id). */
  src: number;
  /** Receiving host (node id). */
  dst: number;
  /** Payload bytes. */
  sizeBytes: number;
  /** When it started. */
  startPs: number;
  /** -1 while unfinished. */
  finishPs: number;
  /** Flow completion time: finish − start (-1 while unfinished). */
  fctPs: number;
  /** Base RTT of the pair + the flow's bytes with headers (no INT) at the host rate. */
  idealPs: number;
  /** max(1, fct / ideal); NaN while unfinished. */
  slowdown: number;
  /** Packets it retransmitted. */
  retransmits: number;
  /** Retransmission timeouts it took. */
  timeouts: number;
  /** Payload bytes acknowledged to its sender. */
  ackedBytes: number;
  /** Acked bytes / (finish or end - start), bit/s. */
  throughputBps: number;
}

/** One size bin of the FCT-slowdown figure (flows sorted by size, bins of equal counts). */
export interface SlowdownBin {
  /** The largest flow in the bin, bytes. */
  maxSize: number;
  /** Finished flows in the bin. */
  count: number;
  /** Median slowdown. */
  p50: number;
  /** 95th-percentile slowdown. */
  p95: number;
  /** 99th-percentile slowdown. */
  p99: number;
}

/** Flows below this many bytes are the "short flows" of the slowdown figures (20,000, as the HPCC paper). */
export const SHORT_FLOW_BYTES = 20_000;

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Finished flows sorted by size, cut into `bins` equal-count bins (the HPCC figures use 20). */
export function slowdownBins(flows: readonly FlowResult[], bins = 20): SlowdownBin[] {
  const done = flows.filter((f) => f.finishPs >= 0).sort((a, b) => a.sizeBytes - b.sizeBytes || a.index - b.index);
  const out: SlowdownBin[] = [];
  if (done.length === 0) return out;
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor((b * done.length) / bins);
    const hi = Math.floor(((b + 1) * done.length) / bins);
    if (hi <= lo) continue;
    const part = done.slice(lo, hi);
    const s = part.map((f) => f.slowdown).sort((x, y) => x - y);
    out.push({
      maxSize: part.at(-1)!.sizeBytes,
      count: part.length,
      p50: percentile(s, 50),
      p95: percentile(s, 95),
      p99: percentile(s, 99),
    });
  }
  return out;
}

/** Slowdown percentiles of finished flows below `cutBytes`. */
export function shortFlowSlowdown(
  flows: readonly FlowResult[],
  cutBytes = SHORT_FLOW_BYTES,
): { count: number; p50: number; p95: number; p99: number } {
  const s = flows
    .filter((f) => f.finishPs >= 0 && f.sizeBytes < cutBytes)
    .map((f) => f.slowdown)
    .sort((x, y) => x - y);
  return { count: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
}

/** Jain's fairness index (Σx)² / (n·Σx²); 1 for equal shares. */
export function jainIndex(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  let s2 = 0;
  for (const x of xs) {
    s += x;
    s2 += x * x;
  }
  return s2 === 0 ? 1 : (s * s) / (xs.length * s2);
}
