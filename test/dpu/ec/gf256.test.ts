import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gfInv, gfMul, gfPow } from '../../../src/dpu/ec/gf256.js';
import { identity, invert, matrix, multiply } from '../../../src/dpu/ec/matrices.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { FLAVOURS } from './helpers.js';

describe('GF(2^8) / 0x11D', () => {
  it('has klauspost galois_test.go values', () => {
    expect(gfMul(3, 4)).toBe(12);
    expect(gfMul(7, 7)).toBe(21);
    expect(gfMul(23, 45)).toBe(41);
    expect(gfPow(5, 20)).toBe(235);
    expect(gfPow(13, 7)).toBe(43);
  });

  it.each(FLAVOURS)('the kernel tables (%s) agree with the control plane on every product and inverse', (flavour) => {
    const rt = new LoaderRuntime(new HostMemory({ sizeBytes: 4 << 20 }));
    const k = rt.kernel(flavour === 'relaxed' ? 'ec-rlx' : 'ec');
    const mul = k.fn<(a: number, b: number) => number>('ec_gf_mul');
    const inv = k.fn<(a: number) => number>('ec_gf_inv');
    let wrong = 0;
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) if (mul(a, b) !== gfMul(a, b)) wrong++;
      if (a > 0 && (inv(a) !== gfInv(a) || gfMul(a, gfInv(a)) !== 1)) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('inverts random nonsingular matrices (A * A^-1 = I) and reports singular ones', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.uint8Array({ minLength: 144, maxLength: 144 }), (n, raw) => {
        const a = matrix(n, n, raw.slice(0, n * n));
        const inv = invert(a);
        if (inv) expect(multiply(a, inv)).toEqual(identity(n));
        const sing = matrix(n, n, a.data.slice());
        if (n > 1) {
          sing.data.copyWithin(n, 0, n); // row 1 = row 0
          expect(invert(sing)).toBeNull();
        }
      }),
      { numRuns: 300, seed: 0x6f },
    );
  });
});
