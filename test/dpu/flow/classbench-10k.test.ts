import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier, parseTrace } from '../../../src/index.js';

const fixture = (name: string): string => readFileSync(join(__dirname, '..', '..', 'fixtures', name), 'utf8');

/** Real ClassBench 10k filter sets: the classifier's answer is the linear scan's on every header. */
describe('ClassBench 10k sets: exact on every trace line', () => {
  for (const [set, rules, headers] of [
    ['fw2_10k', 9645, 96451],
    ['ipc1_10k', 8739, 87474],
    ['acl3_10k', 9146, 91460],
    ['fw4_10k', 8847, 89596],
  ] as const) {
    it(`${set}: ${rules} rules, ${headers} headers`, () => {
      const trace = parseTrace(fixture(`${set}_trace`));
      const expected = Int32Array.from(fixture(`${set}.expected`).trim().split('\n').map(Number));
      expect(trace.length / 5).toBe(headers);
      expect(expected.length).toBe(headers);
      const c = Classifier.fromClassBench(fixture(set));
      try {
        expect(c.size).toBe(rules);
        const got = c.classify(trace);
        const wrong: number[] = [];
        for (let i = 0; i < headers; i++) if (got[i] !== expected[i]) wrong.push(i);
        expect(wrong.slice(0, 10), `${wrong.length} headers answered wrongly`).toEqual([]);
      } finally {
        c.dispose();
      }
    });
  }
});
