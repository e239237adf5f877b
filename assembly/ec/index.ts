// Kernel family "ec": Reed-Solomon erasure coding over GF(2^8)/0x11D, byte-compatible with
// Intel ISA-L's ec_encode_data and klauspost/reedsolomon for the same encode matrix. The matrix
// itself (Cauchy, ISA-L RS, Vandermonde-systematic), its inversion and the decode-matrix cache
// are control-plane work (src/dpu/ec/); this module holds the field tables and the data path:
//
//   ec_init_tables  coefficient matrix -> nibble tables (nibble-tables.ts)
//   ec_encode       dst[r] = sum_j C[r][j] * src[j]: encoding and reconstruction (dot-product.ts)
//   ec_update       parity += C[.][j] * (old ^ new): partial-stripe writes (parity-update.ts)
//   ec_batch        DPU-core job over a published list of passes (batch-job.ts)
//   ec_gf_mul, ec_gf_inv  the field, for the control plane's cross-check test
//
// Flavours (flavours.json): "ec" uses i8x16.swizzle; "ec-rlx" is the same source built with
// relaxed SIMD, whose relaxed_swizzle is a bare PSHUFB (common/lut16.ts).

import { KERNEL_ABI } from '../common/abi';
import { memoryBytes, rangeOk } from '../common/bounds';
import {
  batchJob,
  ECBJ_BYTES as BJB,
  ECBJ_BYTES_DONE as BJBD,
  ECBJ_COUNT as BJC,
  ECBJ_CURSOR as BJCU,
  ECBJ_DESCS as BJD,
  ECBJ_DONE_SEQ as BJDS,
  ECBJ_FAILED as BJF,
  ECBJ_FIRST_ERROR as BJFE,
  ECBJ_FIRST_FAILED as BJFF,
  ECBJ_LAYOUT as BJL,
  ECBJ_MAGIC as BJM,
  ECBJ_SEQ as BJS,
  ECBJ_STRIPES_DONE as BJSD,
  EC_DESC_BYTES as DB,
  EC_DESC_DST as DD,
  EC_DESC_K as DK,
  EC_DESC_LEN as DL,
  EC_DESC_ROWS as DR,
  EC_DESC_SRC as DS,
  EC_DESC_STATUS as DST,
  EC_DESC_TBLS as DT,
  runPass,
} from './batch-job';
import {
  EC_E_ARGS as EA,
  EC_E_RANGE as ER,
  EC_E_STATE as ES,
  EC_MAX_SHARDS as EMS,
  EC_OK,
  countOk,
  shardsOk,
} from './checks';
import { gfBind, gfInv, gfMul, GF_TABLES_BYTES } from './gf-tables';
import { buildNibbleTables, GROUP_MAX, NIBBLE_TABLE_BYTES, tablesBytes } from './nibble-tables';
import { parityUpdate } from './parity-update';

export const QT_ABI: i32 = KERNEL_ABI;
// "ec" / "ec-rlx", packed little-endian (byte 0 = first character).
export const QT_NAME: u64 = ASC_FEATURE_RELAXED_SIMD ? 0x786c722d6365 : 0x6365;
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = GF_TABLES_BYTES;

export function qt_init(tables: usize, build: i32): i32 {
  return gfBind(tables, build);
}

// Constants shared with the TS side (the build generates src/generated/ec.ts from these).
export const EC_E_ARGS: i32 = EA;
export const EC_E_RANGE: i32 = ER;
export const EC_E_STATE: i32 = ES;
export const EC_MAX_SHARDS: i32 = EMS;
export const EC_GROUP_ROWS: i32 = GROUP_MAX;
export const EC_TABLE_BYTES: i32 = <i32>NIBBLE_TABLE_BYTES;
export const ECBJ_MAGIC: i32 = <i32>BJM;
export const ECBJ_LAYOUT: i32 = <i32>BJL;
export const ECBJ_SEQ: i32 = <i32>BJS;
export const ECBJ_COUNT: i32 = <i32>BJC;
export const ECBJ_DESCS: i32 = <i32>BJD;
export const ECBJ_CURSOR: i32 = <i32>BJCU;
export const ECBJ_DONE_SEQ: i32 = <i32>BJDS;
export const ECBJ_FAILED: i32 = <i32>BJF;
export const ECBJ_FIRST_ERROR: i32 = <i32>BJFE;
export const ECBJ_FIRST_FAILED: i32 = <i32>BJFF;
export const ECBJ_STRIPES_DONE: i32 = <i32>BJSD;
export const ECBJ_BYTES_DONE: i32 = <i32>BJBD;
export const ECBJ_BYTES: i32 = <i32>BJB;
export const EC_DESC_BYTES: i32 = <i32>DB;
export const EC_DESC_LEN: i32 = <i32>DL;
export const EC_DESC_K: i32 = <i32>DK;
export const EC_DESC_ROWS: i32 = <i32>DR;
export const EC_DESC_TBLS: i32 = <i32>DT;
export const EC_DESC_SRC: i32 = <i32>DS;
export const EC_DESC_DST: i32 = <i32>DD;
export const EC_DESC_STATUS: i32 = <i32>DST;

export function ec_gf_mul(a: i32, b: i32): i32 {
  return <i32>gfMul(<u32>a, <u32>b);
}

export function ec_gf_inv(a: i32): i32 {
  return <i32>gfInv(<u32>a);
}

/** Nibble tables of the row-major rows x k matrix at `coeffs`, into `out` (rows * k * 32 bytes). */
export function ec_init_tables(k: i32, rows: i32, coeffs: usize, out: usize): i32 {
  if (!countOk(k) || !countOk(rows)) return EA;
  const limit = memoryBytes();
  if (!rangeOk(coeffs, <usize>rows * <usize>k, limit) || !rangeOk(out, tablesBytes(rows, k), limit)) return ER;
  buildNibbleTables(k, rows, coeffs, out);
  return EC_OK;
}

/**
 * One pass: for each of `rows` outputs, dst[r] = sum over the k sources of C[r][j] * src[j],
 * `len` bytes each. `src` and `dst` are arrays of u32 shard addresses; `tbls` the tables of C.
 */
export function ec_encode(len: i32, k: i32, rows: i32, tbls: usize, src: usize, dst: usize): i32 {
  if (len < 0) return EA;
  return runPass(<usize>len, k, rows, tbls, src, dst, memoryBytes());
}

/**
 * Parity update after source `j` changed from `oldData` to `newData`: parity[r] ^= C[r][j] * (old ^ new)
 * for the `rows` parity shards whose addresses are at `parity`. `tbls` are the tables of the
 * whole rows x k matrix C.
 */
export function ec_update(
  len: i32,
  k: i32,
  rows: i32,
  j: i32,
  tbls: usize,
  oldData: usize,
  newData: usize,
  parity: usize,
): i32 {
  if (len < 0 || !countOk(k) || !countOk(rows) || j < 0 || j >= k) return EA;
  const limit = memoryBytes();
  const n = <usize>len;
  if (!rangeOk(tbls, tablesBytes(rows, k), limit) || !rangeOk(oldData, n, limit) || !rangeOk(newData, n, limit))
    return ER;
  if (!shardsOk(parity, rows, n, limit)) return ER;
  parityUpdate(n, k, rows, j, tbls, oldData, newData, parity);
  return EC_OK;
}

/** DPU-core job entry: see batch-job.ts. */
export function ec_batch(state: usize, budget: i32): i32 {
  return batchJob(state, budget);
}
