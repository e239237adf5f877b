// Kernel family "dif": CRC-16/T10-DIF and T10 protection information (types 1, 2, 3; 8-byte PI,
// big-endian; interleaved DIF and separate-metadata DIX), the storage path's end-to-end data
// integrity. See crc16.ts for the CRC, protection-info.ts for the PI rules, pi-ops.ts for the
// operations. Flavours: "dif" (i8x16.swizzle) and "dif-rlx" (relaxed SIMD; common/lut16.ts).
//
// Statuses: 0 ok (verify: every block passed), 1 verify found a failing block (details in res),
// DIF_E_ARGS bad counts/sizes/config, DIF_E_RANGE a range outside memory.

import { KERNEL_ABI } from '../common/abi';
import { memoryBytes, rangeOk } from '../common/bounds';
import { crc16, crc16Scalar } from './crc16';
import { crcBind, CRC_TABLES_BYTES } from './crc-tables';
import { generate, insert, strip, verify, verifyCopy } from './pi-ops';
import {
  APP_MASK_SHIFT as AMS,
  CFG_CHECK_APP as CCA,
  CFG_CHECK_GUARD as CCG,
  CFG_CHECK_REF as CCR,
  CFG_SEED_SHIFT as CSS,
  PI_BYTES,
  RES_ACTUAL as RA,
  RES_BLOCK as RBL,
  RES_BYTES as RB,
  RES_EXPECTED as RE,
  RES_TAG as RT,
  TAG_APP as TA,
  TAG_GUARD as TG,
  TAG_REF as TR,
} from './protection-info';

export const QT_ABI: i32 = KERNEL_ABI;
// "dif" / "dif-rlx", packed little-endian.
export const QT_NAME: u64 = ASC_FEATURE_RELAXED_SIMD ? 0x786c722d666964 : 0x666964;
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = CRC_TABLES_BYTES;

export function qt_init(tables: usize, build: i32): i32 {
  return crcBind(tables, build);
}

export const DIF_E_ARGS: i32 = -1;
export const DIF_E_RANGE: i32 = -2;
export const DIF_MISMATCH: i32 = 1;
export const DIF_CHECK_GUARD: i32 = <i32>CCG;
export const DIF_CHECK_APP: i32 = <i32>CCA;
export const DIF_CHECK_REF: i32 = <i32>CCR;
export const DIF_TAG_GUARD: i32 = <i32>TG;
export const DIF_TAG_APP: i32 = <i32>TA;
export const DIF_TAG_REF: i32 = <i32>TR;
export const DIF_RESULT_BYTES: i32 = <i32>RB;
export const DIF_RES_BLOCK: i32 = <i32>RBL;
export const DIF_RES_TAG: i32 = <i32>RT;
export const DIF_RES_EXPECTED: i32 = <i32>RE;
export const DIF_RES_ACTUAL: i32 = <i32>RA;
export const DIF_PI_BYTES: i32 = <i32>PI_BYTES;
/** cfg: type | check bits | guard seed << DIF_CFG_SEED_SHIFT; app: tag | mask << DIF_APP_MASK_SHIFT. */
export const DIF_CFG_SEED_SHIFT: i32 = <i32>CSS;
export const DIF_APP_MASK_SHIFT: i32 = <i32>AMS;
/** Largest block the kernel accepts (the TS side allows 512 and 4096). */
export const DIF_MAX_BLOCK: i32 = 1 << 20;

/** CRC-16/T10-DIF of [p, p + n) continuing `seed`; a negative status for a bad range. */
export function dif_crc16(seed: i32, p: usize, n: i32): i32 {
  if (n < 0 || (seed & ~0xffff) != 0) return DIF_E_ARGS;
  if (n == 0) return seed;
  if (!rangeOk(p, <usize>n, memoryBytes())) return DIF_E_RANGE;
  return <i32>crc16(<u32>seed, p, <usize>n);
}

/** The same CRC by slice-by-16 alone (the scalar path; for tests and comparison). */
export function dif_crc16_scalar(seed: i32, p: usize, n: i32): i32 {
  if (n < 0 || (seed & ~0xffff) != 0) return DIF_E_ARGS;
  if (n == 0) return seed;
  if (!rangeOk(p, <usize>n, memoryBytes())) return DIF_E_RANGE;
  return <i32>crc16Scalar(<u32>seed, p, <usize>n);
}

@inline function cfgOk(blocks: i32, bs: i32, cfg: i32): bool {
  const type = cfg & 3;
  return blocks >= 0 && bs >= 1 && bs <= DIF_MAX_BLOCK && type >= 1 && (cfg & 0xff8c) == 0;
}

/** Range of `blocks` units of `bytes` each, `stride` apart, starting at `base`. */
@inline function runOk(base: usize, stride: usize, bytes: usize, blocks: i32, limit: u64): bool {
  if (blocks == 0) return true;
  const span = <u64>(blocks - 1) * <u64>stride + <u64>bytes;
  return base != 0 && <u64>base + span <= limit;
}

export function dif_generate(
  data: usize,
  dataStride: i32,
  pi: usize,
  piStride: i32,
  blocks: i32,
  bs: i32,
  cfg: i32,
  app: i32,
  ref: i32,
): i32 {
  if (!cfgOk(blocks, bs, cfg) || dataStride < bs || piStride < <i32>PI_BYTES) return DIF_E_ARGS;
  const limit = memoryBytes();
  if (!runOk(data, <usize>dataStride, <usize>bs, blocks, limit) || !runOk(pi, <usize>piStride, PI_BYTES, blocks, limit))
    return DIF_E_RANGE;
  generate(data, <usize>dataStride, pi, <usize>piStride, <u32>blocks, <usize>bs, <u32>cfg, <u32>app, <u32>ref);
  return 0;
}

export function dif_verify(
  data: usize,
  dataStride: i32,
  pi: usize,
  piStride: i32,
  blocks: i32,
  bs: i32,
  cfg: i32,
  app: i32,
  ref: i32,
  res: usize,
): i32 {
  if (!cfgOk(blocks, bs, cfg) || dataStride < bs || piStride < <i32>PI_BYTES) return DIF_E_ARGS;
  const limit = memoryBytes();
  if (!runOk(data, <usize>dataStride, <usize>bs, blocks, limit) || !runOk(pi, <usize>piStride, PI_BYTES, blocks, limit))
    return DIF_E_RANGE;
  if (!rangeOk(res, RB, limit)) return DIF_E_RANGE;
  const failed = verify(
    data,
    <usize>dataStride,
    pi,
    <usize>piStride,
    <u32>blocks,
    <usize>bs,
    <u32>cfg,
    <u32>app,
    <u32>ref,
    res,
  );
  return failed < <u32>blocks ? DIF_MISMATCH : 0;
}

export function dif_insert(src: usize, dst: usize, blocks: i32, bs: i32, cfg: i32, app: i32, ref: i32): i32 {
  if (!cfgOk(blocks, bs, cfg)) return DIF_E_ARGS;
  const limit = memoryBytes();
  const unit = <usize>bs + PI_BYTES;
  if (!runOk(src, <usize>bs, <usize>bs, blocks, limit) || !runOk(dst, unit, unit, blocks, limit)) return DIF_E_RANGE;
  insert(src, dst, <u32>blocks, <usize>bs, <u32>cfg, <u32>app, <u32>ref);
  return 0;
}

export function dif_strip(src: usize, dst: usize, blocks: i32, bs: i32): i32 {
  if (blocks < 0 || bs < 1 || bs > DIF_MAX_BLOCK) return DIF_E_ARGS;
  const limit = memoryBytes();
  const unit = <usize>bs + PI_BYTES;
  if (!runOk(src, unit, unit, blocks, limit) || !runOk(dst, <usize>bs, <usize>bs, blocks, limit)) return DIF_E_RANGE;
  strip(src, dst, <u32>blocks, <usize>bs);
  return 0;
}

export function dif_verify_copy(
  src: usize,
  dst: usize,
  blocks: i32,
  bs: i32,
  cfg: i32,
  app: i32,
  ref: i32,
  res: usize,
): i32 {
  if (!cfgOk(blocks, bs, cfg)) return DIF_E_ARGS;
  const limit = memoryBytes();
  const unit = <usize>bs + PI_BYTES;
  if (!runOk(src, unit, unit, blocks, limit) || !runOk(dst, <usize>bs, <usize>bs, blocks, limit)) return DIF_E_RANGE;
  if (!rangeOk(res, RB, limit)) return DIF_E_RANGE;
  const failed = verifyCopy(src, dst, <u32>blocks, <usize>bs, <u32>cfg, <u32>app, <u32>ref, res);
  return failed < <u32>blocks ? DIF_MISMATCH : 0;
}
