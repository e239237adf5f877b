import { describe, expect, it } from 'vitest';
import { ByteSink, PromFamily, PromHistogram, labelValue } from '../../../src/orchestrator/daemon/prom-text.js';

const text = (f: PromFamily): string => {
  const page = new ByteSink(8);
  f.flush(page);
  return page.view().toString('latin1');
};

describe('Prometheus text written into bytes', () => {
  it('formats numbers as String() does, integers digit by digit', () => {
    const f = new PromFamily('x_total', 'counter', 'X');
    const p = f.prefix('a="1"');
    const values = [0, 7, 9, 10, 99, 100, 12345, 4096 * 1e6, 2 ** 53 - 1, 2 ** 53, 1.5, 1e-6, -3];
    for (const v of values) f.add(p, v);
    expect(text(f)).toBe(
      '# HELP x_total X\n# TYPE x_total counter\n' + values.map((v) => `x_total{a="1"} ${String(v)}\n`).join(''),
    );
    // Flushed: the next page starts with the header alone.
    expect(text(f)).toBe('# HELP x_total X\n# TYPE x_total counter\n');
  });

  it('prints a histogram series cumulatively, and again from its memo while it does not move', () => {
    const h = new PromHistogram('d_seconds', 'D', [0.001, 0.01]);
    const s = h.series('vm="a"');
    const memo = { count: -1, sum: -1, bytes: null };
    const want = (c: number[], sum: number): string =>
      `d_seconds_bucket{vm="a",le="0.001"} ${c[0]}\nd_seconds_bucket{vm="a",le="0.01"} ${c[0]! + c[1]!}\n` +
      `d_seconds_bucket{vm="a",le="+Inf"} ${c[0]! + c[1]! + c[2]!}\nd_seconds_sum{vm="a"} ${sum}\n` +
      `d_seconds_count{vm="a"} ${c[0]! + c[1]! + c[2]!}\n`;
    const head = '# HELP d_seconds D\n# TYPE d_seconds histogram\n';
    h.observeMemo(s, { counts: [1, 2, 3], sumSeconds: 0.5, count: 6 }, 0, memo);
    expect(text(h)).toBe(head + want([1, 2, 3], 0.5));
    const printed = memo.bytes;
    h.observeMemo(s, { counts: [1, 2, 3], sumSeconds: 0.5, count: 6 }, 0, memo);
    expect(memo.bytes).toBe(printed);
    expect(text(h)).toBe(head + want([1, 2, 3], 0.5));
    // Same count, another sum (read between a burst's bucket and its sum): printed afresh.
    h.observeMemo(s, { counts: [1, 2, 3], sumSeconds: 0.75, count: 6 }, 0, memo);
    expect(text(h)).toBe(head + want([1, 2, 3], 0.75));
    h.observeMemo(s, { counts: [2, 2, 3], sumSeconds: 0.8, count: 7 }, 0, memo);
    expect(text(h)).toBe(head + want([2, 2, 3], 0.8));
  });

  it('grows past its first size, and escapes label values', () => {
    const sink = new ByteSink(4);
    for (let i = 0; i < 1000; i++) sink.latin1('abcdefgh');
    expect(sink.view().length).toBe(8000);
    expect(labelValue('plain-name')).toBe('plain-name');
    expect(labelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});
