/**
 * Upper bounds of the latency buckets, in seconds: 1-2.5-5 steps from 10 µs to 10 s (the range a
 * block request, a control operation or an API call can take here). Fixed, so that series of one
 * family can be summed across volumes, VMs and restarts.
 */
export const LATENCY_BOUNDS_S: readonly number[] = [
  1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** A latency histogram as data (what crosses a worker's message port): counts per bucket, not cumulative. */
export interface LatencyHistogramData {
  /** Observations per bucket of {@link LATENCY_BOUNDS_S}, plus one last bucket for anything slower. */
  counts: number[];
  /** Sum of the observations, seconds. */
  sumSeconds: number;
  /** Number of observations. */
  count: number;
}

/**
 * A Prometheus-style latency histogram with the fixed {@link LATENCY_BOUNDS_S} buckets. Recording
 * is a short scan and two adds (no allocation), cheap enough per block request.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(LATENCY_BOUNDS_S.length + 1);
  private sum = 0;
  private n = 0;

  /** Adds one observation, in seconds. */
  record(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_S.length && seconds > LATENCY_BOUNDS_S[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.n++;
  }

  /** The histogram as plain data. */
  data(): LatencyHistogramData {
    return { counts: Array.from(this.counts), sumSeconds: this.sum, count: this.n };
  }

  /**
   * Prometheus text of one histogram family: HELP, TYPE, then per series the cumulative
   * `_bucket{le}` lines, `_sum` and `_count`. `series` pairs a label set (`a="x",b="y"`) with its data.
   */
  static render(
    name: string,
    help: string,
    series: Iterable<readonly [string, LatencyHistogram | LatencyHistogramData]>,
  ): string {
    const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const [labels, h] of series) {
      const d = h instanceof LatencyHistogram ? h.data() : h;
      const sep = labels ? ',' : '';
      let acc = 0;
      LATENCY_BOUNDS_S.forEach((le, i) => {
        acc += d.counts[i] ?? 0;
        out.push(`${name}_bucket{${labels}${sep}le="${le}"} ${acc}`);
      });
      out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${d.count}`);
      out.push(`${name}_sum${labels ? `{${labels}}` : ''} ${d.sumSeconds}`);
      out.push(`${name}_count${labels ? `{${labels}}` : ''} ${d.count}`);
    }
    return out.join('\n');
  }
}
