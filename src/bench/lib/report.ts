import type { Spread } from './stats.js';

/**
 * Benchmark output. With --json: one JSON object per line, in the schema of docs/design.md,
 * "Stable interfaces":
 *   {"suite","case","metric","value","unit","better":"higher"|"lower","peer":{"name","value"}?,"vs"?}
 *   and "spread":{"runs","min","max"}? (the runs value is the median of, the slowest and fastest)
 * where vs = value / peer.value and the peer was measured in the same run. Without --json: a
 * table at the end. Progress goes to stderr either way, so stdout stays machine-readable.
 */
export interface BenchLine {
  suite: string;
  case: string;
  metric: string;
  value: number;
  unit: string;
  better: 'higher' | 'lower';
  peer?: { name: string; value: number };
  vs?: number;
  /** Of `value` (a median): the runs it is the median of, and the slowest and fastest of them. */
  spread?: Spread;
}

export type Measurement = Omit<BenchLine, 'suite' | 'vs'> & {
  /** The suite's declared target, shown in the table (not part of the JSON schema). */
  target?: number;
};

export interface BenchContext {
  readonly suite: string;
  readonly quick: boolean;
  /**
   * `--trace`: suites that can say where their time goes do so (DPU cores started with
   * DpuOptions.trace), at some cost in the figures themselves.
   */
  readonly trace: boolean;
  /** Independent repetitions whose median is reported. */
  readonly runs: number;
  report(m: Measurement): void;
  progress(message: string): void;
  /**
   * Whether case `name` was asked for (`--only text`: names containing text). Suites skip the
   * work of cases left out where they can; reports of cases left out are dropped either way.
   */
  wants(name: string): boolean;
}

export class Reporter {
  private readonly collected: (BenchLine & { target?: number })[] = [];

  constructor(
    private readonly json: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
    /** Where suites' progress messages go. Default: a line each on `err`. */
    private readonly progress: (message: string, suite: string) => void = (m, s) => this.err.write(`[${s}] ${m}\n`),
  ) {}

  context(suite: string, quick: boolean, runs: number, only?: string, trace = false): BenchContext {
    const wants = (name: string): boolean => only === undefined || name.includes(only);
    return {
      suite,
      quick,
      trace,
      runs,
      wants,
      report: (m) => {
        if (wants(m.case)) this.add(suite, m);
      },
      progress: (message) => this.progress(message, suite),
    };
  }

  private add(suite: string, m: Measurement): void {
    const { target, ...rest } = m;
    const line: BenchLine = { suite, ...rest, value: round(m.value) };
    if (m.spread) line.spread = { runs: m.spread.runs, min: round(m.spread.min), max: round(m.spread.max) };
    if (m.peer) {
      line.peer = { name: m.peer.name, value: round(m.peer.value) };
      line.vs = round(m.value / m.peer.value);
    }
    this.collected.push(target === undefined ? line : { ...line, target });
    if (this.json) this.out.write(JSON.stringify(line) + '\n');
  }

  /** Every line reported so far (with the suite's target where it declared one). */
  lines(): readonly (BenchLine & { target?: number })[] {
    return this.collected;
  }

  /** The human table (no-op in JSON mode). */
  finish(): void {
    if (this.json || this.collected.length === 0) return;
    const rows = this.collected.map((l) => [
      `${l.suite}/${l.case}`,
      l.metric,
      `${fmt(l.value)} ${l.unit}`,
      l.spread ? `${l.spread.runs}: ${fmt(l.spread.min)}–${fmt(l.spread.max)}` : '',
      l.peer ? `${l.peer.name} ${fmt(l.peer.value)} ${l.unit}` : '',
      l.vs === undefined ? '' : `${fmt(l.vs)}×`,
      l.target === undefined
        ? ''
        : `${l.better === 'lower' ? '≤' : '≥'} ${fmt(l.target)} ${meets(l) ? 'met' : 'NOT met'}`,
    ]);
    const head = ['case', 'metric', 'value', 'runs: min–max', 'peer (same run)', 'vs peer', 'target'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]): string =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    this.out.write([line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n');
  }
}

function meets(l: BenchLine & { target?: number }): boolean {
  return l.target === undefined || (l.better === 'lower' ? l.value <= l.target : l.value >= l.target);
}

function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const digits = Math.max(0, 4 - Math.ceil(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(digits, 6)));
}

function fmt(x: number): string {
  return Math.abs(x) >= 1e6 ? x.toExponential(3) : String(x);
}
