import { gfPow } from './gf256.js';
import { invert, matrix } from './matrices.js';

/**
 * Where ISA-L's gf_gen_rs_matrix is usable. Its parity part is P[p][j] = (2^p)^j = 2^(p j)
 * (p = parity row, j = data column). A systematic code [I; P] recovers every pattern of <= m
 * erasures (is MDS) exactly when every square submatrix of P is nonsingular. Two facts keep the
 * search small:
 *  - rows {a, a+1, .., a+s-1} (consecutive) and any columns C: the entries are x_j^a x_j^i with
 *    x_j = 2^j distinct and non-zero (j < 255), a Vandermonde determinant times a non-zero
 *    factor, so never singular;
 *  - P is symmetric in p and j, so the same holds for consecutive columns.
 * So only submatrices whose rows and columns are both non-consecutive are checked. Going up in
 * k, only the submatrices that use the new column k-1 are new. The first singular one gives the
 * limit. (ISA-L's erasure_code.h states safe ranges; test/dpu/ec/isal-rs-limits.test.ts checks
 * this computation agrees with them and with exhaustive decoding of small codes.)
 */
const memo = new Map<number, number>();

/**
 * The largest k for which ISA-L's `gf_gen_rs_matrix` with m parity rows is MDS (rebuilds every
 * pattern of up to m erasures; k + m ≤ 255): every square submatrix of the parity rows must be
 * nonsingular. Checked against exhaustive decoding, and exactly the set ISA-L's `erasure_code.h`
 * documents:
 *
 * | parity shards m | largest k |
 * | --- | --- |
 * | 1, 2, 3 | 255 − m (every size) |
 * | 4 | 21 |
 * | 5 | 5 |
 * | 6 … 21 | 4 |
 * | 22 … 252 | 3 |
 * | 253 | 2 |
 */
export function isalRsMaxDataShards(m: number): number {
  let k = memo.get(m);
  if (k === undefined) {
    k = search(m);
    memo.set(m, k);
  }
  return k;
}

function search(m: number): number {
  const kLimit = 255 - m;
  for (let k = 2; k <= kLimit; k++) {
    const newCol = k - 1;
    for (let s = 2; s <= Math.min(m, k); s++) {
      for (const cols of combinations(newCol, s - 1)) {
        cols.push(newCol);
        if (consecutive(cols)) continue;
        for (const rows of combinations(m, s)) {
          if (consecutive(rows)) continue;
          if (singular(rows, cols)) return k - 1;
        }
      }
    }
  }
  return kLimit;
}

function consecutive(set: readonly number[]): boolean {
  return set[set.length - 1]! - set[0]! === set.length - 1;
}

function singular(rows: readonly number[], cols: readonly number[]): boolean {
  const s = rows.length;
  const a = matrix(s, s);
  for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) a.data[r * s + c] = gfPow(gfPow(2, rows[r]!), cols[c]!);
  return invert(a) === null;
}

/** Every sorted s-subset of [0, n), as fresh arrays. */
function* combinations(n: number, s: number): Generator<number[]> {
  if (s === 0) {
    yield [];
    return;
  }
  const idx = Array.from({ length: s }, (_, i) => i);
  while (true) {
    yield idx.slice();
    let i = s - 1;
    while (i >= 0 && idx[i] === n - s + i) i--;
    if (i < 0) return;
    idx[i]!++;
    for (let j = i + 1; j < s; j++) idx[j] = idx[j - 1]! + 1;
  }
}
