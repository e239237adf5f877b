// GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator 2: the field of
// ISA-L (ec_base.h gff_base), klauspost/reedsolomon (generatingPolynomial = 29) and Backblaze.
//
// The tables live in the region the loader hands qt_init (no data segments: docs/design.md,
// "Kernel rules", rules 2-3), built once with build = 1, bound by every other instance with
// build = 0.
//
//   +0      EXP   u8[512]    EXP[i] = 2^i for i in [0, 510); EXP[i + 255] = EXP[i], so
//                            EXP[LOG[a] + LOG[b]] needs no modulo
//   +512    LOG   u8[256]    LOG[2^i] = i; LOG[0] unused (0)
//   +768    INV   u8[256]    INV[a] = a^-1; INV[0] = 0
//   +1024   MUL   u8[65536]  MUL[a << 8 | b] = a * b
//   +66560  MASK  v128       0x0f in every lane (loaded, not a constant: see dot-product.ts)

export const GF_EXP: usize = 0;
export const GF_LOG: usize = 512;
export const GF_INV: usize = 768;
export const GF_MUL: usize = 1024;
export const GF_MASK: usize = 66560;
export const GF_TABLES_BYTES: i32 = 66576;

/** Base of the bound table region (per instance: a Wasm global, set by qt_init). */
let tables: usize = 0;

@inline export function gfTables(): usize {
  return tables;
}

@inline export function gfMul(a: u32, b: u32): u32 {
  // SAFETY: a, b < 256, so the index is inside MUL.
  return <u32>load<u8>(tables + GF_MUL + (((<usize>a) & 0xff) << 8) + ((<usize>b) & 0xff));
}

@inline export function gfInv(a: u32): u32 {
  return <u32>load<u8>(tables + GF_INV + ((<usize>a) & 0xff));
}

/** Binds this instance to `base`; builds the tables there first when `build` is 1. */
export function gfBind(base: usize, build: i32): i32 {
  if (base == 0) return -1;
  tables = base;
  if (build == 0) return 0;
  let x: u32 = 1;
  for (let i: u32 = 0; i < 255; i++) {
    store<u8>(base + GF_EXP + i, <u8>x);
    store<u8>(base + GF_EXP + i + 255, <u8>x);
    store<u8>(base + GF_LOG + x, <u8>i);
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  store<u8>(base + GF_EXP + 510, 1);
  store<u8>(base + GF_EXP + 511, 2);
  store<u8>(base + GF_LOG, 0);
  for (let a: u32 = 0; a < 256; a++) {
    const la = <usize>load<u8>(base + GF_LOG + a);
    store<u8>(base + GF_INV + a, a == 0 ? 0 : load<u8>(base + GF_EXP + ((255 - la) % 255)));
    for (let b: u32 = 0; b < 256; b++) {
      const p: u8 = a == 0 || b == 0 ? 0 : load<u8>(base + GF_EXP + la + <usize>load<u8>(base + GF_LOG + b));
      store<u8>(base + GF_MUL + ((<usize>a) << 8) + b, p);
    }
  }
  v128.store(base + GF_MASK, i8x16.splat(0x0f));
  return 0;
}
