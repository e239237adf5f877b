import { describe, expect, it } from 'vitest';
import { decodeCoefficients } from '../../../src/dpu/ec/decode-plans.js';
import { encodeMatrix } from '../../../src/dpu/ec/matrices.js';
import { isalRsMaxDataShards } from '../../../src/index.js';

/** Every way of losing m of the k + m shards: can the k survivors be inverted? */
function allPatternsDecodable(k: number, m: number): boolean {
  const enc = encodeMatrix('isal-rs', k, m);
  const n = k + m;
  const pick = (start: number, left: number, lost: number[]): boolean => {
    if (left === 0) {
      const sources = [...Array(n).keys()].filter((i) => !lost.includes(i));
      return decodeCoefficients(enc, sources, lost) !== null;
    }
    for (let i = start; i <= n - left; i++) if (!pick(i + 1, left - 1, [...lost, i])) return false;
    return true;
  };
  return pick(0, m, []);
}

describe('isal-rs (gf_gen_rs_matrix) sizes that rebuild every erasure pattern', () => {
  it("agrees with the ranges ISA-L's erasure_code.h states", () => {
    // "k<=3", "k=4, m<=25" (m = total rows: parity <= 21), "k=5, m<=10" (parity <= 5),
    // "k<=21 with m-k=4", "m-k<=3".
    for (const m of [1, 2, 3]) expect(isalRsMaxDataShards(m)).toBe(255 - m);
    expect(isalRsMaxDataShards(4)).toBe(21);
    expect(isalRsMaxDataShards(5)).toBe(5);
    for (let m = 6; m <= 21; m++) expect(isalRsMaxDataShards(m), `m=${m}`).toBe(4);
    for (const m of [22, 23, 50, 85, 86, 200, 252]) expect(isalRsMaxDataShards(m), `m=${m}`).toBe(3);
    expect(isalRsMaxDataShards(253)).toBe(2);
  });

  it('matches exhaustive decoding of every erasure pattern at the limits', () => {
    for (const [k, m, ok] of [
      [21, 4, true],
      [22, 4, false],
      [5, 5, true],
      [6, 5, false],
      [4, 6, true],
      [5, 6, false],
      [3, 9, true],
      [4, 22, false],
      [4, 21, true],
    ] as const) {
      expect(allPatternsDecodable(k, m), `${k}+${m}`).toBe(ok);
      expect(k <= isalRsMaxDataShards(m)).toBe(ok);
    }
  });
});
