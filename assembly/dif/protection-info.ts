// T10 protection information: 8 bytes per block, big-endian (T10 SBC, SPDK lib/util/dif.c):
//
//   +0 u16 guard    CRC-16/T10-DIF of the block's data bytes (seeded with the guard seed, 0 normally)
//   +2 u16 appTag   application tag
//   +4 u32 refTag   reference tag: type 1 = low 32 bits of the LBA, +1 per block; type 2 = the
//                   command's initial tag, +1 per block; type 3 = a constant, never checked
//
// Escape (skip every check of a block): app tag 0xFFFF for types 1 and 2; app tag 0xFFFF and
// ref tag 0xFFFFFFFF for type 3.
//
// The configuration travels as three i32 arguments, packed by the TS side (src/dpu/dif/):
//   cfg: bits 0-1 type (1..3), bit 4 check guard, bit 5 check app tag, bit 6 check ref tag,
//        bits 16-31 guard seed
//   app: bits 0-15 app tag, bits 16-31 app tag mask (bits compared by verify)
//   ref: the reference tag of the first block
// A verify failure is reported in a 16-byte result: +0 u32 block, +4 u32 tag (1 guard, 2 app tag,
// 3 ref tag), +8 u32 expected, +12 u32 actual.

export const PI_BYTES: usize = 8;
export const CFG_CHECK_GUARD: u32 = 1 << 4;
export const CFG_CHECK_APP: u32 = 1 << 5;
export const CFG_CHECK_REF: u32 = 1 << 6;
export const CFG_SEED_SHIFT: u32 = 16;
export const APP_MASK_SHIFT: u32 = 16;
export const TAG_GUARD: u32 = 1;
export const TAG_APP: u32 = 2;
export const TAG_REF: u32 = 3;
export const RES_BLOCK: usize = 0;
export const RES_TAG: usize = 4;
export const RES_EXPECTED: usize = 8;
export const RES_ACTUAL: usize = 12;
export const RES_BYTES: usize = 16;

@inline export function piType(cfg: u32): u32 {
  return cfg & 3;
}

@inline export function guardSeed(cfg: u32): u32 {
  return cfg >>> CFG_SEED_SHIFT;
}

/** Reference tag of block i: +1 per block for types 1 and 2 (wrapping at 2^32), constant for 3. */
@inline export function refTagOf(cfg: u32, ref: u32, i: u32): u32 {
  return piType(cfg) == 3 ? ref : ref + i;
}

@inline export function writePi(pi: usize, guard: u32, app: u32, ref: u32): void {
  store<u16>(pi, bswap<u16>(<u16>guard));
  store<u16>(pi, bswap<u16>(<u16>app), 2);
  store<u32>(pi, bswap<u32>(ref), 4);
}

@inline export function piAppTag(pi: usize): u32 {
  return <u32>bswap<u16>(load<u16>(pi, 2));
}

@inline export function piRefTag(pi: usize): u32 {
  return bswap<u32>(load<u32>(pi, 4));
}

@inline export function piGuard(pi: usize): u32 {
  return <u32>bswap<u16>(load<u16>(pi));
}

/** The block carries the escape values: no check applies to it. */
@inline export function escaped(cfg: u32, pi: usize): bool {
  return piAppTag(pi) == 0xffff && (piType(cfg) != 3 || piRefTag(pi) == 0xffffffff);
}

@inline function fail(res: usize, block: u32, tag: u32, expected: u32, actual: u32): bool {
  store<u32>(res + RES_BLOCK, block);
  store<u32>(res + RES_TAG, tag);
  store<u32>(res + RES_EXPECTED, expected);
  store<u32>(res + RES_ACTUAL, actual);
  return false;
}

/**
 * Checks block `block`'s PI against its computed guard and the expected tags, in SPDK's order
 * (guard, app tag, ref tag). On a mismatch fills `res` and returns false. The caller has already
 * handled escaped blocks.
 */
export function checkPi(pi: usize, guard: u32, cfg: u32, app: u32, ref: u32, block: u32, res: usize): bool {
  if ((cfg & CFG_CHECK_GUARD) != 0) {
    const got = piGuard(pi);
    if (got != guard) return fail(res, block, TAG_GUARD, guard, got);
  }
  if ((cfg & CFG_CHECK_APP) != 0) {
    const mask = app >>> APP_MASK_SHIFT,
      got = piAppTag(pi);
    if ((got & mask) != (app & mask)) return fail(res, block, TAG_APP, app & 0xffff, got);
  }
  if ((cfg & CFG_CHECK_REF) != 0 && piType(cfg) != 3) {
    const want = refTagOf(cfg, ref, block),
      got = piRefTag(pi);
    if (got != want) return fail(res, block, TAG_REF, want, got);
  }
  return true;
}
