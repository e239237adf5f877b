/**
 * Per-second rates of counters between two reads: the live stream sends throughput rather than
 * totals. A key seen for the first time (or a counter that went back, e.g. a VM re-created) has
 * rate 0. Keys not read again are forgotten.
 */
export class RateTracker {
  private prev = new Map<string, { at: number; values: number[] }>();
  private seen = new Set<string>();

  /** Rates of `values` (per second) since the last call with `key`. */
  rates(key: string, values: readonly number[], now = performance.now()): number[] {
    this.seen.add(key);
    const p = this.prev.get(key);
    this.prev.set(key, { at: now, values: [...values] });
    if (!p || now <= p.at) return values.map(() => 0);
    const s = (now - p.at) / 1000;
    return values.map((v, i) => Math.max(0, (v - (p.values[i] ?? v)) / s));
  }

  /** Forgets keys not read since the last sweep. */
  sweep(): void {
    for (const k of this.prev.keys()) if (!this.seen.has(k)) this.prev.delete(k);
    this.seen.clear();
  }
}
