// The T10 PI operations over runs of blocks (SPDK's spdk_dif_* / spdk_dix_* set):
//   generate     write the PI of each block           (DIF: interleaved; DIX: separate metadata)
//   verify       check each block, stop at the first failure
//   insert       data-only -> interleaved, generating PI on the way (spdk_dif_generate_copy)
//   strip        interleaved -> data-only, no checks
//   verifyCopy   interleaved -> data-only, checking each block (spdk_dif_verify_copy)
// Interleaved (DIF) and separate (DIX) differ only in where block i's data and PI sit, so
// generate/verify take a data stride and a PI stride:
//   DIF  data = buf, dataStride = bs + 8, pi = buf + bs, piStride = bs + 8
//   DIX  data = buf, dataStride = bs,     pi = md,       piStride = 8
// Trusted: the exported entries (index.ts) have checked every range.

import { crc16, crc16Copy } from './crc16';
import { checkPi, escaped, guardSeed, PI_BYTES, refTagOf, writePi } from './protection-info';

// SAFETY (every function here): the exported entry checked that all `blocks` data ranges
// (stride apart, bs bytes each) and PI ranges (8 bytes each) lie inside memory.
export function generate(
  data: usize,
  dataStride: usize,
  pi: usize,
  piStride: usize,
  blocks: u32,
  bs: usize,
  cfg: u32,
  app: u32,
  ref: u32,
): void {
  const seed = guardSeed(cfg);
  for (let i: u32 = 0; i < blocks; i++) {
    const guard = crc16(seed, data + <usize>i * dataStride, bs);
    writePi(pi + <usize>i * piStride, guard, app, refTagOf(cfg, ref, i));
  }
}

/** Returns the index of the first failing block (details in res), or `blocks` when all pass. */
export function verify(
  data: usize,
  dataStride: usize,
  pi: usize,
  piStride: usize,
  blocks: u32,
  bs: usize,
  cfg: u32,
  app: u32,
  ref: u32,
  res: usize,
): u32 {
  const seed = guardSeed(cfg);
  for (let i: u32 = 0; i < blocks; i++) {
    const p = pi + <usize>i * piStride;
    if (escaped(cfg, p)) continue;
    const guard = crc16(seed, data + <usize>i * dataStride, bs);
    if (!checkPi(p, guard, cfg, app, ref, i, res)) return i;
  }
  return blocks;
}

export function insert(src: usize, dst: usize, blocks: u32, bs: usize, cfg: u32, app: u32, ref: u32): void {
  const seed = guardSeed(cfg);
  const unit = bs + PI_BYTES;
  for (let i: u32 = 0; i < blocks; i++) {
    const out = dst + <usize>i * unit;
    const guard = crc16Copy(seed, src + <usize>i * bs, out, bs);
    writePi(out + bs, guard, app, refTagOf(cfg, ref, i));
  }
}

export function strip(src: usize, dst: usize, blocks: u32, bs: usize): void {
  const unit = bs + PI_BYTES;
  for (let i: u32 = 0; i < blocks; i++) memory.copy(dst + <usize>i * bs, src + <usize>i * unit, bs);
}

/** Copies block by block while checking; stops after the first failing block (which is copied). */
export function verifyCopy(
  src: usize,
  dst: usize,
  blocks: u32,
  bs: usize,
  cfg: u32,
  app: u32,
  ref: u32,
  res: usize,
): u32 {
  const seed = guardSeed(cfg);
  const unit = bs + PI_BYTES;
  for (let i: u32 = 0; i < blocks; i++) {
    const inp = src + <usize>i * unit,
      out = dst + <usize>i * bs;
    const p = inp + bs;
    if (escaped(cfg, p)) {
      memory.copy(out, inp, bs);
      continue;
    }
    const guard = crc16Copy(seed, inp, out, bs);
    if (!checkPi(p, guard, cfg, app, ref, i, res)) return i;
  }
  return blocks;
}
