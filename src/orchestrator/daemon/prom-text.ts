import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';

const TWO53 = 2 ** 53;
const NL = 10;

/**
 * A growable byte buffer the Prometheus text is written into: ASCII prefixes made once and
 * copied in, integers formatted digit by digit, no string built per line (a page of thousands
 * of lines then costs no string concatenation and no flattening).
 */
export class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(bytes = 4096) {
    this.buf = Buffer.allocUnsafe(bytes);
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A string of one-byte characters (the text format here is ASCII). */
  latin1(s: string): void {
    this.ensure(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  /** A number as the text format writes it: a safe non-negative integer digit by digit, else its JS form. */
  number(v: number): void {
    if (!(v >= 0 && v < TWO53 && Math.floor(v) === v)) return this.latin1(String(v));
    this.ensure(16);
    const b = this.buf;
    if (v < 10) {
      b[this.pos++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let at = this.pos + digits;
    this.pos = at;
    for (let x = v; x > 0; x = Math.floor(x / 10)) b[--at] = 48 + (x % 10);
  }

  /** One sample: its prefix (`name{labels} `), the value, a newline. */
  sample(prefix: Uint8Array, v: number): void {
    this.bytes(prefix);
    this.number(v);
    this.ensure(1);
    this.buf[this.pos++] = NL;
  }

  /** The bytes written so far (a view). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** A string's ASCII bytes. */
export const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * One family of the Prometheus text format (0.0.4) being written: its HELP and TYPE lines are
 * made once, when the family is declared; its samples go into a buffer of its own, reused from
 * page to page, so that a page can fill several families in one pass over its objects and still
 * print each family's lines together. A family with no sample prints its header.
 */
export class PromFamily {
  /** `# HELP …\n# TYPE …\n`, made once. */
  readonly header: Buffer;
  private readonly body = new ByteSink();
  /**
   * What the family holds, in order, when some of it is bytes kept elsewhere (raw): ranges of
   * `body` and those bytes, so that they are copied once, into the page, not twice.
   */
  private readonly parts: Uint8Array[] = [];
  /** Start of the range of `body` not yet in `parts`. */
  private open = 0;

  constructor(
    readonly name: string,
    type: 'counter' | 'gauge' | 'histogram',
    help: string,
  ) {
    this.header = ascii(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`);
  }

  /** The series prefix `name{labels} ` (labels: `a="x",b="y"`, or empty): make it once per series. */
  prefix(labels: string): Buffer {
    return ascii(labels ? `${this.name}{${labels}} ` : `${this.name} `);
  }

  /** Appends a sample whose prefix came from {@link prefix}. */
  add(prefix: Uint8Array, value: number): void {
    this.body.sample(prefix, value);
  }

  /** Appends bytes already in the text format (whole lines), by reference: `b` must stay as it is until the flush. */
  protected raw(b: Uint8Array): void {
    this.cut();
    this.parts.push(b);
  }

  /** Closes the open range of `body` into `parts`. */
  private cut(): void {
    if (this.body.pos > this.open) {
      this.parts.push(this.body.buf.subarray(this.open, this.body.pos));
      this.open = this.body.pos;
    }
  }

  /** Where the next sample goes, and a copy of what was written since `start`. */
  protected get end(): number {
    return this.body.pos;
  }
  protected copySince(start: number): Buffer {
    return Buffer.from(this.body.buf.subarray(start, this.body.pos));
  }

  /** Writes the header and the samples into `page`; the family starts empty again. */
  flush(page: ByteSink): void {
    page.bytes(this.header);
    if (this.parts.length === 0) page.bytes(this.body.view());
    else {
      this.cut();
      for (const p of this.parts) page.bytes(p);
      this.parts.length = 0;
    }
    this.body.pos = 0;
    this.open = 0;
  }
}

/**
 * A histogram family with fixed bucket bounds. Its per-series prefixes (one per bucket, `+Inf`,
 * `_sum`, `_count`) are made once per label set by {@link series} and kept by the caller.
 */
export class PromHistogram extends PromFamily {
  private readonly les: readonly string[];
  /** Per printed bucket, the index of its bound in the histograms' `bounds` (their counts). */
  private readonly at: readonly number[];

  /**
   * `bounds` are those of the histograms observed (LatencyHistogramData counts: one per bound,
   * then everything slower); `printed`, a subset of them, are the buckets the page shows (all by
   * default). Cumulative counts at a printed bound are exact: fewer lines, the same figures.
   */
  constructor(name: string, help: string, bounds: readonly number[], printed: readonly number[] = bounds) {
    super(name, 'histogram', help);
    this.les = [...printed.map(String), '+Inf'];
    this.at = printed.map((b) => {
      const i = bounds.indexOf(b);
      if (i < 0)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `${name}: printed bound: expected one of the histogram's bounds (${bounds.join(', ')}), got ${b}`,
        );
      return i;
    });
  }

  /** The prefixes of one series (labels: `a="x",b="y"`, or empty). */
  series(labels: string): Buffer[] {
    const sep = labels ? ',' : '';
    const plain = labels ? `{${labels}}` : '';
    return [
      ...this.les.map((le) => ascii(`${this.name}_bucket{${labels}${sep}le="${le}"} `)),
      ascii(`${this.name}_sum${plain} `),
      ascii(`${this.name}_count${plain} `),
    ];
  }

  /**
   * Appends one series: cumulative buckets from per-bucket counts (one more count than bounds:
   * the last is everything slower), then sum and count. The `+Inf` bucket is the count. The
   * series' prefixes start at `prefixes[at]`.
   */
  observe(prefixes: readonly Uint8Array[], h: LatencyHistogramData, at = 0): void {
    const n = this.les.length - 1;
    let acc = 0;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const upTo = this.at[i]!;
      for (; c <= upTo; c++) acc += h.counts[c] ?? 0;
      this.add(prefixes[at + i]!, acc);
    }
    this.add(prefixes[at + n]!, h.count);
    this.add(prefixes[at + n + 1]!, h.sumSeconds);
    this.add(prefixes[at + n + 2]!, h.count);
  }

  /**
   * {@link observe}, but a series whose count and sum are those it printed last (an idle
   * device) is copied from `memo` as it is instead of formatted again.
   */
  observeMemo(prefixes: readonly Uint8Array[], h: LatencyHistogramData, at: number, memo: SeriesMemo): void {
    if (memo.bytes && memo.count === h.count && memo.sum === h.sumSeconds) return this.raw(memo.bytes);
    const start = this.end;
    this.observe(prefixes, h, at);
    memo.bytes = this.copySince(start);
    memo.count = h.count;
    memo.sum = h.sumSeconds;
  }
}

/** What a histogram series printed last: printed again as one copy while its figures stay. */
export interface SeriesMemo {
  count: number;
  sum: number;
  bytes: Buffer | null;
}

/** A label value escaped for the text format (backslash, double quote, newline). */
export function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}
