import type { LatencyHistogramData } from '../../common/latency-histogram.js';

/**
 * One family of the Prometheus text format (0.0.4) being written: its HELP and TYPE lines are
 * made once, when the family is declared, and its samples are appended to one string (V8 joins
 * the pieces once, when the page is read). A family with no sample still prints its header.
 */
export class PromFamily {
  /** `# HELP …\n# TYPE …\n`, made once. */
  readonly header: string;
  private body = '';

  constructor(
    readonly name: string,
    type: 'counter' | 'gauge' | 'histogram',
    help: string,
  ) {
    this.header = `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
  }

  /** The series prefix `name{labels} ` (labels: `a="x",b="y"`, or empty): cache it per series. */
  prefix(labels: string): string {
    return labels ? `${this.name}{${labels}} ` : `${this.name} `;
  }

  /** Appends a sample whose prefix came from {@link prefix}. */
  add(prefix: string, value: number): void {
    this.body += prefix + value + '\n';
  }

  /** Header and samples; the family starts empty again. */
  take(): string {
    const s = this.header + this.body;
    this.body = '';
    return s;
  }
}

/**
 * A histogram family with fixed bucket bounds. Its per-series prefixes (one per bucket, `+Inf`,
 * `_sum`, `_count`) are made once per label set by {@link series} and kept by the caller.
 */
export class PromHistogram extends PromFamily {
  private readonly les: readonly string[];

  constructor(name: string, help: string, bounds: readonly number[]) {
    super(name, 'histogram', help);
    this.les = [...bounds.map(String), '+Inf'];
  }

  /** The prefixes of one series (labels: `a="x",b="y"`, or empty). */
  series(labels: string): string[] {
    const sep = labels ? ',' : '';
    const plain = labels ? `{${labels}}` : '';
    return [
      ...this.les.map((le) => `${this.name}_bucket{${labels}${sep}le="${le}"} `),
      `${this.name}_sum${plain} `,
      `${this.name}_count${plain} `,
    ];
  }

  /**
   * Appends one series: cumulative buckets from per-bucket counts (one more count than bounds:
   * the last is everything slower), then sum and count. The `+Inf` bucket is the count. The
   * series' prefixes start at `prefixes[at]`.
   */
  observe(prefixes: readonly string[], h: LatencyHistogramData, at = 0): void {
    const n = this.les.length - 1;
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += h.counts[i] ?? 0;
      this.add(prefixes[at + i]!, acc);
    }
    this.add(prefixes[at + n]!, h.count);
    this.add(prefixes[at + n + 1]!, h.sumSeconds);
    this.add(prefixes[at + n + 2]!, h.count);
  }
}

/** A label value escaped for the text format (backslash, double quote, newline). */
export function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}
