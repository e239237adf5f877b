import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier, isQingtianError, parseClassBench, parseTrace } from '../../../src/index.js';
import { ruleMatches } from '../../../src/internals.js';

const fixture = (name: string): string => readFileSync(join(__dirname, '..', '..', 'fixtures', name), 'utf8');

describe('ClassBench acl1_1k', () => {
  const text = fixture('acl1_1k');
  const trace = parseTrace(fixture('acl1_1k_trace'));
  const expected = fixture('acl1_1k.expected').trim().split('\n').map(Number);

  it('parses every rule and every trace line', () => {
    expect(parseClassBench(text)).toHaveLength(878);
    expect(trace.length / 5).toBe(expected.length);
  });

  it('the classifier reproduces acl1_1k.expected for every trace line', () => {
    const c = Classifier.fromClassBench(text);
    try {
      const got = c.classify(trace);
      let wrong = 0;
      for (let i = 0; i < expected.length; i++) if (got[i] !== expected[i]) wrong++;
      expect(wrong).toBe(0);
      expect(Array.from(got)).toEqual(expected);
    } finally {
      c.dispose();
    }
  });

  it('the reference linear scan agrees with the expected file (the model the property tests use)', () => {
    const rules = parseClassBench(text);
    for (let i = 0; i < expected.length; i += 7) {
      const h = trace.subarray(i * 5, i * 5 + 5);
      const idx = rules.findIndex((r) => ruleMatches(r, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!));
      expect(idx).toBe(expected[i]);
    }
  });

  it('rejects malformed lines with their line number', () => {
    const lines = text.split('\n');
    const cases: [string, RegExp][] = [
      ['@1.2.3.4/33\t5.6.7.8/32\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000', /line 3: prefix length 33/],
      [
        '@1.2.3.4/32\t5.6.7.8/32\t90 : 80\t0 : 65535\t0x06/0xFF\t0x0000/0x0000',
        /line 3: source port range 90 : 80 has low > high/,
      ],
      ['@1.2.3.4/32\t5.6.7.8/32\t0 : 65535\t100 : 99\t0x06/0xFF\t0x0000/0x0000', /line 3: destination port range/],
      ['@1.2.3.4/32\t5.6.7.8/32\t0 : 65535', /line 3: expected/],
      ['@1.2.300.4/32\t5.6.7.8/32\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000', /line 3: an address octet/],
    ];
    for (const [bad, msg] of cases) {
      const t = [lines[0], lines[1], bad, lines[2]].join('\n');
      let err: unknown;
      try {
        Classifier.fromClassBench(t);
      } catch (e) {
        err = e;
      }
      expect(isQingtianError(err, 'QT_BAD_FORMAT')).toBe(true);
      expect((err as Error).message).toMatch(msg);
    }
  });
});
