// The erasure-coding inner loop: dst[r] = XOR over sources j of C[r][j] * src[j], for every byte.
// Encoding (C = the parity rows of the encode matrix, sources = data shards) and decoding
// (C = rows of the inverted survivor matrix, sources = k surviving shards) are the same pass.
//
// Per group of R <= GROUP_MAX rows, 32 bytes per step: each source's two vectors are loaded once,
// split into nibbles once, and looked up in R table pairs (ISA-L's gf_Nvect_dot_prod shape). 2R
// accumulators (8 for R = 4) stay in registers across the k sources. The portable flavour runs
// pairs of rows 64 bytes a step first (dotPairWide). A 16-byte step and a scalar loop (MUL
// table) finish tails of any length.
//
// All functions here are trusted: the exported entry points (index.ts, batch-job.ts) have
// checked every pointer and length against memory first.

import { gfMul, gfTables, GF_MASK } from './gf-tables';
import { cellCoefficient, groupRows, GROUP_MAX } from './nibble-tables';
import { hiNibbles, loNibbles, lut16 } from '../common/lut16';

/** Runs every group: dst pointers at `dst` (rows x u32), source pointers at `src` (k x u32). */
export function dotProduct(len: usize, k: i32, rows: i32, tbls: usize, src: usize, dst: usize): void {
  for (let r0 = 0; r0 < rows; r0 += GROUP_MAX) {
    const R = groupRows(rows, r0);
    const g = tbls + <usize>r0 * <usize>k * 32;
    const d = dst + ((<usize>r0) << 2);
    if (R == 4) dot4(len, k, g, src, d);
    else if (R == 3) dot3(len, k, g, src, d);
    else if (R == 2) dot2(len, k, g, src, d);
    else dot1(len, k, g, src, d);
  }
}

function dot4(len: usize, k: i32, g: usize, src: usize, dst: usize): void {
  dotGroup(len, k, 4, g, src, dst);
}
function dot3(len: usize, k: i32, g: usize, src: usize, dst: usize): void {
  dotGroup(len, k, 3, g, src, dst);
}
function dot2(len: usize, k: i32, g: usize, src: usize, dst: usize): void {
  const done = ASC_FEATURE_RELAXED_SIMD ? 0 : dotPairWide(len, k, g, src, dst);
  dotGroup(len, k, 2, g, src, dst, done);
}
function dot1(len: usize, k: i32, g: usize, src: usize, dst: usize): void {
  dotGroup(len, k, 1, g, src, dst);
}

// R is a constant at every call site above: the optimizer folds the `R > n` tests away, so each
// wrapper is a loop with exactly R rows of accumulators.
@inline function dotGroup(len: usize, k: i32, R: i32, g: usize, src: usize, dst: usize, from: usize = 0): void {
  // The mask is loaded, not written as a constant: V8 would otherwise rebuild it in every
  // iteration.
  const mask = v128.load(gfTables() + GF_MASK);
  const o0 = <usize>load<u32>(dst);
  const o1 = R > 1 ? <usize>load<u32>(dst, 4) : 0;
  const o2 = R > 2 ? <usize>load<u32>(dst, 8) : 0;
  const o3 = R > 3 ? <usize>load<u32>(dst, 12) : 0;
  const srcEnd = src + ((<usize>k) << 2);
  const step = (<usize>R) << 5;
  let pos: usize = from;
  for (; pos + 32 <= len; pos += 32) {
    const z = i64x2.splat(0);
    let a0 = z,
      a1 = z,
      a2 = z,
      a3 = z,
      b0 = z,
      b1 = z,
      b2 = z,
      b3 = z;
    let t = g;
    for (let sp = src; sp < srcEnd; sp += 4) {
      // SAFETY: every source pointer p with [p, p + len) and every output (o0..o3) was checked
      // against memory by runPass; pos + 32 <= len. Tables: rows * k * 32 bytes, checked too.
      const p = <usize>load<u32>(sp) + pos;
      const x = v128.load(p),
        y = v128.load(p, 16);
      const xl = loNibbles(x, mask),
        xh = hiNibbles(x, mask);
      const yl = loNibbles(y, mask),
        yh = hiNibbles(y, mask);
      let lo = v128.load(t),
        hi = v128.load(t, 16);
      a0 = v128.xor(a0, v128.xor(lut16(lo, xl), lut16(hi, xh)));
      b0 = v128.xor(b0, v128.xor(lut16(lo, yl), lut16(hi, yh)));
      if (R > 1) {
        lo = v128.load(t, 32);
        hi = v128.load(t, 48);
        a1 = v128.xor(a1, v128.xor(lut16(lo, xl), lut16(hi, xh)));
        b1 = v128.xor(b1, v128.xor(lut16(lo, yl), lut16(hi, yh)));
      }
      if (R > 2) {
        lo = v128.load(t, 64);
        hi = v128.load(t, 80);
        a2 = v128.xor(a2, v128.xor(lut16(lo, xl), lut16(hi, xh)));
        b2 = v128.xor(b2, v128.xor(lut16(lo, yl), lut16(hi, yh)));
      }
      if (R > 3) {
        lo = v128.load(t, 96);
        hi = v128.load(t, 112);
        a3 = v128.xor(a3, v128.xor(lut16(lo, xl), lut16(hi, xh)));
        b3 = v128.xor(b3, v128.xor(lut16(lo, yl), lut16(hi, yh)));
      }
      t += step;
    }
    v128.store(o0 + pos, a0);
    v128.store(o0 + pos, b0, 16);
    if (R > 1) {
      v128.store(o1 + pos, a1);
      v128.store(o1 + pos, b1, 16);
    }
    if (R > 2) {
      v128.store(o2 + pos, a2);
      v128.store(o2 + pos, b2, 16);
    }
    if (R > 3) {
      v128.store(o3 + pos, a3);
      v128.store(o3 + pos, b3, 16);
    }
  }
  if (pos + 16 <= len) {
    const z = i64x2.splat(0);
    let a0 = z,
      a1 = z,
      a2 = z,
      a3 = z;
    let t = g;
    for (let sp = src; sp < srcEnd; sp += 4) {
      const x = v128.load(<usize>load<u32>(sp) + pos);
      const xl = loNibbles(x, mask),
        xh = hiNibbles(x, mask);
      a0 = v128.xor(a0, v128.xor(lut16(v128.load(t), xl), lut16(v128.load(t, 16), xh)));
      if (R > 1) a1 = v128.xor(a1, v128.xor(lut16(v128.load(t, 32), xl), lut16(v128.load(t, 48), xh)));
      if (R > 2) a2 = v128.xor(a2, v128.xor(lut16(v128.load(t, 64), xl), lut16(v128.load(t, 80), xh)));
      if (R > 3) a3 = v128.xor(a3, v128.xor(lut16(v128.load(t, 96), xl), lut16(v128.load(t, 112), xh)));
      t += step;
    }
    v128.store(o0 + pos, a0);
    if (R > 1) v128.store(o1 + pos, a1);
    if (R > 2) v128.store(o2 + pos, a2);
    if (R > 3) v128.store(o3 + pos, a3);
    pos += 16;
  }
  for (; pos < len; pos++) {
    let c0: u32 = 0,
      c1: u32 = 0,
      c2: u32 = 0,
      c3: u32 = 0;
    let t = g;
    for (let sp = src; sp < srcEnd; sp += 4) {
      const b = <u32>load<u8>(<usize>load<u32>(sp) + pos);
      c0 ^= gfMul(cellCoefficient(t), b);
      if (R > 1) c1 ^= gfMul(cellCoefficient(t + 32), b);
      if (R > 2) c2 ^= gfMul(cellCoefficient(t + 64), b);
      if (R > 3) c3 ^= gfMul(cellCoefficient(t + 96), b);
      t += step;
    }
    store<u8>(o0 + pos, <u8>c0);
    if (R > 1) store<u8>(o1 + pos, <u8>c1);
    if (R > 2) store<u8>(o2 + pos, <u8>c2);
    if (R > 3) store<u8>(o3 + pos, <u8>c3);
  }
}

/** Two rows, 64 bytes a step (8 accumulators); returns the bytes done (a multiple of 64). */
function dotPairWide(len: usize, k: i32, g: usize, src: usize, dst: usize): usize {
  const mask = v128.load(gfTables() + GF_MASK);
  const o0 = <usize>load<u32>(dst),
    o1 = <usize>load<u32>(dst, 4);
  const srcEnd = src + ((<usize>k) << 2);
  let pos: usize = 0;
  for (; pos + 64 <= len; pos += 64) {
    const z = i64x2.splat(0);
    let a0 = z,
      a1 = z,
      b0 = z,
      b1 = z,
      c0 = z,
      c1 = z,
      e0 = z,
      e1 = z;
    let t = g;
    for (let sp = src; sp < srcEnd; sp += 4) {
      // SAFETY: as in dotGroup; pos + 64 <= len.
      const p = <usize>load<u32>(sp) + pos;
      const x = v128.load(p),
        y = v128.load(p, 16),
        u = v128.load(p, 32),
        w = v128.load(p, 48);
      const xl = loNibbles(x, mask),
        xh = hiNibbles(x, mask);
      const yl = loNibbles(y, mask),
        yh = hiNibbles(y, mask);
      const ul = loNibbles(u, mask),
        uh = hiNibbles(u, mask);
      const wl = loNibbles(w, mask),
        wh = hiNibbles(w, mask);
      let lo = v128.load(t),
        hi = v128.load(t, 16);
      a0 = v128.xor(a0, v128.xor(lut16(lo, xl), lut16(hi, xh)));
      b0 = v128.xor(b0, v128.xor(lut16(lo, yl), lut16(hi, yh)));
      c0 = v128.xor(c0, v128.xor(lut16(lo, ul), lut16(hi, uh)));
      e0 = v128.xor(e0, v128.xor(lut16(lo, wl), lut16(hi, wh)));
      lo = v128.load(t, 32);
      hi = v128.load(t, 48);
      a1 = v128.xor(a1, v128.xor(lut16(lo, xl), lut16(hi, xh)));
      b1 = v128.xor(b1, v128.xor(lut16(lo, yl), lut16(hi, yh)));
      c1 = v128.xor(c1, v128.xor(lut16(lo, ul), lut16(hi, uh)));
      e1 = v128.xor(e1, v128.xor(lut16(lo, wl), lut16(hi, wh)));
      t += 64;
    }
    v128.store(o0 + pos, a0);
    v128.store(o0 + pos, b0, 16);
    v128.store(o0 + pos, c0, 32);
    v128.store(o0 + pos, e0, 48);
    v128.store(o1 + pos, a1);
    v128.store(o1 + pos, b1, 16);
    v128.store(o1 + pos, c1, 32);
    v128.store(o1 + pos, e1, 48);
  }
  return pos;
}
