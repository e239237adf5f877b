// Per-coefficient nibble tables (ISA-L ec_init_tables): multiplying a byte b by a constant c is
// linear over XOR, and b = (b >> 4) << 4 ^ (b & 15), so
//   c * b = LO_c[b & 15] ^ HI_c[b >> 4],   LO_c[x] = c * x,   HI_c[x] = c * (x << 4).
// 32 bytes per coefficient; one 16-lane lookup (lut16) does 16 of them at once.
//
// Layout of the tables for a `rows` x `k` coefficient matrix C. Rows are taken in groups of
// GROUP_MAX (the last group holds the remainder), the unit one dot-product pass produces; inside
// a group the tables of one source shard are adjacent, so a pass walks its tables in order:
//
//   group 0 (rows 0..R0-1)       group 1 (rows R0..)
//   +--------------------------+ +------ ...
//   | j=0: r0 r1 .. r(R0-1)    | |
//   | j=1: r0 r1 ..            | |        each cell: 32 bytes = LO[16] | HI[16]
//   | ...  (k sources)         | |
//   +--------------------------+ +------
//   group g starts at firstRow(g) * k * 32; its column j at that + j * R * 32.

import { gfMul } from './gf-tables';

/**
 * Rows produced by one pass over the sources: every source vector is loaded once per pass.
 * Relaxed flavour: 4 rows x 32 bytes a step (8 accumulators). Portable flavour: each lookup
 * costs V8 two more instructions (common/lut16.ts) and 4 rows spill registers, so 2 rows x 64
 * bytes a step is faster there.
 */
export const GROUP_MAX: i32 = ASC_FEATURE_RELAXED_SIMD ? 4 : 2;

/** Rows in the group that starts at row r0 of `rows`. */
@inline export function groupRows(rows: i32, r0: i32): i32 {
  return min(GROUP_MAX, rows - r0);
}

/** Bytes of the tables for a rows x k matrix. */
/** Bytes of one coefficient's tables: LO[16] | HI[16]. */
export const NIBBLE_TABLE_BYTES: usize = 32;

@inline export function tablesBytes(rows: i32, k: i32): usize {
  return <usize>rows * <usize>k * NIBBLE_TABLE_BYTES;
}

/**
 * Builds the tables of the row-major rows x k matrix at `coeffs` into `out`. Trusted: the caller
 * has checked both ranges.
 */
export function buildNibbleTables(k: i32, rows: i32, coeffs: usize, out: usize): void {
  for (let r0 = 0; r0 < rows; r0 += GROUP_MAX) {
    const R = groupRows(rows, r0);
    const group = out + <usize>r0 * <usize>k * 32;
    for (let j = 0; j < k; j++) {
      for (let r = 0; r < R; r++) {
        const c = <u32>load<u8>(coeffs + <usize>(r0 + r) * <usize>k + <usize>j);
        const cell = group + ((<usize>(j * R + r)) << 5);
        for (let x: u32 = 0; x < 16; x++) {
          store<u8>(cell + x, <u8>gfMul(c, x));
          store<u8>(cell + 16 + x, <u8>gfMul(c, x << 4));
        }
      }
    }
  }
}

/** The coefficient a cell encodes (LO[1] = c * 1): what the scalar tail multiplies by. */
@inline export function cellCoefficient(cell: usize): u32 {
  return <u32>load<u8>(cell, 1);
}
