// 16-entry byte table lookup on every lane: the PSHUFB technique (ISA-L's gf_vect_mul, nibble CRCs).
//
// `idx` lanes are always 0..15 here (callers mask them), so the two Wasm forms agree:
//   i8x16.swizzle          portable; V8 lowers it to `vpaddusb idx, 0x70` + `vpshufb` (plus a load
//                          of the constant's address), because out-of-range lanes must give 0;
//   i8x16.relaxed_swizzle  relaxed-SIMD; a bare `vpshufb`. Out-of-range lanes are engine-defined,
//                          which never matters for masked indices.
// A family built with `--enable relaxed-simd` (its "-rlx" flavour, see flavours.json) gets the
// second; ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so the other branch is not emitted.
@inline export function lut16(table: v128, idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, idx);
  return i8x16.swizzle(table, idx);
}

/** Low nibble of every byte. `mask` is 0x0f in every lane (kept in a register by the caller). */
@inline export function loNibbles(v: v128, mask: v128): v128 {
  return v128.and(v, mask);
}

/** High nibble of every byte: a 16-bit lane shift (a real x86 instruction) and the same mask. */
@inline export function hiNibbles(v: v128, mask: v128): v128 {
  return v128.and(i16x8.shr_u(v, 4), mask);
}
