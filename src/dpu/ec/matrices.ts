import { gfInv, gfMul, gfPow } from './gf256.js';

/**
 * Encode matrices, n = k + m rows by k columns, row-major bytes; rows 0..k-1 are the identity
 * (systematic: data shards are stored as they are) and rows k..n-1 make the parity.
 *
 *   isal-cauchy  ISA-L gf_gen_cauchy1_matrix, = klauspost WithCauchyMatrix():
 *                a[i][j] = inv(i ^ j), i in [k, n), j in [0, k). MDS for every k + m <= 255.
 *   isal-rs      ISA-L gf_gen_rs_matrix: parity row p is (2^p)^j, j in [0, k). Not MDS for every
 *                size (see isal-rs-limits.ts).
 *   klauspost    klauspost/reedsolomon's default, = Backblaze JavaReedSolomon and rust
 *                reed-solomon-erasure: V[r][c] = r^c (n x k Vandermonde, 0^0 = 1),
 *                M = V * inverse(V[0..k-1]). MDS.
 *
 * MATRIX_KINDS lists the accepted values of `ReedSolomonOptions.matrix`.
 */
export const MATRIX_KINDS = ['isal-cauchy', 'isal-rs', 'klauspost'] as const;
/**
 * The encode matrix of a {@link ReedSolomon} code, which fixes the parity bytes:
 *
 * - `isal-cauchy`: coding rows a[i][j] = inv(i ⊕ j), i ∈ [k, k+m), j ∈ [0, k); the bytes of ISA-L's
 *   `gf_gen_cauchy1_matrix` + `ec_encode_data` and of klauspost's `WithCauchyMatrix()`.
 * - `isal-rs`: parity row p is (2^p)^j; the bytes of ISA-L's `gf_gen_rs_matrix` + `ec_encode_data`.
 * - `klauspost`: V · inverse(top k rows of V), V[r][c] = r^c; the bytes of klauspost/reedsolomon's
 *   default, Backblaze JavaReedSolomon and rust reed-solomon-erasure.
 *
 * `isal-rs` rebuilds every erasure pattern only for some sizes ({@link isalRsMaxDataShards});
 * other sizes are refused at construction.
 */
export type MatrixKind = (typeof MATRIX_KINDS)[number];

export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  /** Row-major, rows * cols bytes. */
  readonly data: Uint8Array;
}

export function matrix(rows: number, cols: number, data = new Uint8Array(rows * cols)): Matrix {
  return { rows, cols, data };
}

export function at(a: Matrix, r: number, c: number): number {
  return a.data[r * a.cols + c]!;
}

export function identity(n: number): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new RangeError(`multiply: ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const out = matrix(a.rows, b.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < b.cols; c++) {
      let acc = 0;
      for (let i = 0; i < a.cols; i++) acc ^= gfMul(at(a, r, i), at(b, i, c));
      out.data[r * b.cols + c] = acc;
    }
  }
  return out;
}

/** The rows listed, in that order. */
export function selectRows(a: Matrix, rows: readonly number[]): Matrix {
  const out = matrix(rows.length, a.cols);
  rows.forEach((r, i) => out.data.set(a.data.subarray(r * a.cols, (r + 1) * a.cols), i * a.cols));
  return out;
}

/** Gauss-Jordan inverse of a square matrix; null when it is singular. */
export function invert(a: Matrix): Matrix | null {
  const n = a.rows;
  if (a.cols !== n) throw new RangeError(`invert: ${a.rows}x${a.cols} is not square`);
  const w = 2 * n;
  const m = new Uint8Array(n * w);
  for (let r = 0; r < n; r++) {
    m.set(a.data.subarray(r * n, (r + 1) * n), r * w);
    m[r * w + n + r] = 1;
  }
  for (let c = 0; c < n; c++) {
    let p = c;
    while (p < n && m[p * w + c] === 0) p++;
    if (p === n) return null;
    if (p !== c) {
      const tmp = m.slice(p * w, (p + 1) * w);
      m.copyWithin(p * w, c * w, (c + 1) * w);
      m.set(tmp, c * w);
    }
    const inv = gfInv(m[c * w + c]!);
    for (let i = 0; i < w; i++) m[c * w + i] = gfMul(m[c * w + i]!, inv);
    for (let r = 0; r < n; r++) {
      const f = m[r * w + c]!;
      if (r === c || f === 0) continue;
      for (let i = 0; i < w; i++) m[r * w + i]! ^= gfMul(f, m[c * w + i]!);
    }
  }
  const out = matrix(n, n);
  for (let r = 0; r < n; r++) out.data.set(m.subarray(r * w + n, (r + 1) * w), r * n);
  return out;
}

/** The n x k encode matrix of a kind (callers have validated k, m and, for isal-rs, MDS-ness). */
export function encodeMatrix(kind: MatrixKind, k: number, m: number): Matrix {
  const n = k + m;
  switch (kind) {
    case 'isal-cauchy': {
      const a = matrix(n, k);
      for (let i = 0; i < k; i++) a.data[i * k + i] = 1;
      for (let i = k; i < n; i++) for (let j = 0; j < k; j++) a.data[i * k + j] = gfInv(i ^ j);
      return a;
    }
    case 'isal-rs': {
      const a = matrix(n, k);
      for (let i = 0; i < k; i++) a.data[i * k + i] = 1;
      let gen = 1;
      for (let i = k; i < n; i++) {
        let p = 1;
        for (let j = 0; j < k; j++) {
          a.data[i * k + j] = p;
          p = gfMul(p, gen);
        }
        gen = gfMul(gen, 2);
      }
      return a;
    }
    case 'klauspost': {
      const v = matrix(n, k);
      for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) v.data[r * k + c] = gfPow(r, c);
      const topInv = invert(selectRows(v, [...Array(k).keys()]));
      // The top k rows of a Vandermonde matrix with distinct nodes 0..k-1 are never singular.
      if (!topInv) throw new Error('klauspost: singular Vandermonde top (cannot happen for k <= 255)');
      return multiply(v, topInv);
    }
  }
}
