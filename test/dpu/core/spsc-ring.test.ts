import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpscRing } from '../../../src/dpu/core/spsc-ring.js';

describe('SpscRing', () => {
  const make = (capacity = 4): SpscRing => new SpscRing(new Int32Array(new SharedArrayBuffer(4096)), 64, capacity, 8);

  it('is FIFO, refuses a push when full and a pop when empty', () => {
    const r = make(4);
    for (let i = 0; i < 4; i++) expect(r.push((w) => (r.i32[w] = i))).toBe(true);
    expect(r.push(() => undefined)).toBe(false);
    expect(r.size()).toBe(4);
    const got: number[] = [];
    while (r.pop((w) => got.push(r.i32[w]!)));
    expect(got).toEqual([0, 1, 2, 3]);
    expect(r.hasData()).toBe(false);
  });

  it('keeps order and counts across i32 wrap-around of head and tail', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (ops) => {
        const r = make(8);
        r.i32[r.headIdx] = 0x7fff_fffd;
        r.i32[r.tailIdx] = 0x7fff_fffd;
        const model: number[] = [];
        let next = 0;
        for (const push of ops) {
          if (push) {
            const v = next;
            const ok = r.push((w) => (r.i32[w] = v));
            expect(ok).toBe(model.length < 8);
            if (ok) model.push(next++);
          } else {
            let got: number | undefined;
            const ok = r.pop((w) => (got = r.i32[w]));
            expect(ok).toBe(model.length > 0);
            if (ok) expect(got).toBe(model.shift());
          }
          expect(r.size()).toBe(model.length);
        }
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('rejects a capacity that is not a power of two', () => {
    expect(() => new SpscRing(new Int32Array(64), 0, 3, 8)).toThrow(RangeError);
  });
});
