// CRC-16/T10-DIF over a buffer, as fast as Wasm allows without a carry-less multiply.
//
// Scalar: slice-by-16 (16 table lookups per 16 bytes; Kounavis-Berry, the SPDK and Linux
// fallback): the path for buffers under 64 bytes and for the tail the SIMD form leaves.
//
// SIMD (buffers >= 64 bytes): the buffer is read as 16 interleaved byte streams, stream i
// holding the bytes at offsets 16t + i, one stream per lane. With the message polynomial
// M = sum_p b_p x^(8(n-1-p)) and n = 16N,
//   M x^16 = sum_i x^(8(15-i)+16) S_i,   S_i = sum_t b_(16t+i) x^(128(N-1-t))   (mod P),
// and each lane keeps its S_i (16 bits: high bytes in vector H, low bytes in L) by Horner's
// rule, S <- S x^128 + b. Four vectors per step: S <- S x^512 + D0 x^384 + D1 x^256 + D2 x^128 + D3,
// every product a linear map done with nibble tables (crc-tables.ts): 8 + 3 * 4 = 20 lookups per
// 64 bytes, no per-byte table load. Then the lanes are folded: sum_i S_i x^(8(15-i)) is the 17-byte
// big-endian string q with q_0 = H_0, q_i = L_(i-1) ^ H_i, q_16 = L_15, and the CRC is the CRC of q
// (slice-by-16 and one byte step). A seed s is the same as XORing s into the first two message
// bytes (s x^(8n) = (s x^(8(n-2))) x^16). Remaining 16-byte vectors take single steps (x^128),
// the last < 16 bytes the scalar loop, seeded with the SIMD result.

import { crcTables, DATA, FOLD1, FOLD4, MASK, SLICE } from './crc-tables';
import { hiNibbles, loNibbles, lut16 } from '../common/lut16';

@inline function slice(n: usize, b: u32): u32 {
  // SAFETY: n < 16 and b is masked to a byte: inside SLICE.
  return <u32>load<u16>(crcTables() + SLICE + (n << 9) + (((<usize>b) & 0xff) << 1));
}

@inline export function crcByte(crc: u32, b: u32): u32 {
  return ((crc << 8) ^ slice(0, (crc >> 8) ^ b)) & 0xffff;
}

/** CRC of 16 bytes given as two little-endian u64 words (byte 0 = low byte of a), continuing crc. */
@inline function crc16Bytes(crc: u32, a: u64, b: u64): u32 {
  return (
    slice(15, (<u32>a) ^ (crc >> 8)) ^
    slice(14, (<u32>(a >> 8)) ^ crc) ^
    slice(13, <u32>(a >> 16)) ^
    slice(12, <u32>(a >> 24)) ^
    slice(11, <u32>(a >> 32)) ^
    slice(10, <u32>(a >> 40)) ^
    slice(9, <u32>(a >> 48)) ^
    slice(8, <u32>(a >> 56)) ^
    slice(7, <u32>b) ^
    slice(6, <u32>(b >> 8)) ^
    slice(5, <u32>(b >> 16)) ^
    slice(4, <u32>(b >> 24)) ^
    slice(3, <u32>(b >> 32)) ^
    slice(2, <u32>(b >> 40)) ^
    slice(1, <u32>(b >> 48)) ^
    slice(0, <u32>(b >> 56))
  );
}

/** Slice-by-16 CRC of [p, p + n), continuing `crc`. SAFETY: callers checked [p, p + n) (and dst). */
export function crc16Scalar(crc: u32, p: usize, n: usize): u32 {
  const end = p + n;
  for (; p + 16 <= end; p += 16) crc = crc16Bytes(crc, load<u64>(p), load<u64>(p, 8));
  for (; p < end; p++) crc = crcByte(crc, <u32>load<u8>(p));
  return crc;
}

/** CRC of [p, p + n), continuing `crc`. Trusted range. */
export function crc16(crc: u32, p: usize, n: usize): u32 {
  return crcSimd(crc, p, n, 0, false);
}

/** CRC of [src, src + n) while copying it to dst (one read of the data). Trusted ranges. */
export function crc16Copy(crc: u32, src: usize, dst: usize, n: usize): u32 {
  return crcSimd(crc, src, n, dst, true);
}

@inline function crcSimd(crc: u32, p: usize, n: usize, dst: usize, COPY: bool): u32 {
  if (n < 64) {
    if (COPY) memory.copy(dst, p, n);
    return crc16Scalar(crc, p, n);
  }
  const t = crcTables();
  const mask = v128.load(t + MASK);
  const vecEnd = p + (n & ~15);
  const end = p + n;
  // The seed goes into message bytes 0 (high byte) and 1 (low byte): lane 0 of a u16x8, whose
  // low byte is byte 0.
  let seed = i16x8.replace_lane(i64x2.splat(0), 0, <i16>(((crc >> 8) & 0xff) | ((crc & 0xff) << 8)));
  let H = i64x2.splat(0),
    L = H;
  let q = p;
  for (; q + 64 <= vecEnd; q += 64) {
    const d0 = v128.xor(v128.load(q), seed),
      d1 = v128.load(q, 16),
      d2 = v128.load(q, 32),
      d3 = v128.load(q, 48);
    seed = i64x2.splat(0);
    if (COPY) {
      const o = dst + (q - p);
      v128.store(o, v128.load(q));
      v128.store(o, d1, 16);
      v128.store(o, d2, 32);
      v128.store(o, d3, 48);
    }
    const f = t + FOLD4,
      dt = t + DATA;
    const hh = hiNibbles(H, mask),
      hl = loNibbles(H, mask),
      lh = hiNibbles(L, mask),
      ll = loNibbles(L, mask);
    const a0 = hiNibbles(d0, mask),
      b0 = loNibbles(d0, mask);
    const a1 = hiNibbles(d1, mask),
      b1 = loNibbles(d1, mask);
    const a2 = hiNibbles(d2, mask),
      b2 = loNibbles(d2, mask);
    const nh = v128.xor(
      v128.xor(
        v128.xor(lut16(v128.load(f), hh), lut16(v128.load(f, 32), hl)),
        v128.xor(lut16(v128.load(f, 64), lh), lut16(v128.load(f, 96), ll)),
      ),
      v128.xor(
        v128.xor(
          v128.xor(lut16(v128.load(dt), a0), lut16(v128.load(dt, 32), b0)),
          v128.xor(lut16(v128.load(dt, 64), a1), lut16(v128.load(dt, 96), b1)),
        ),
        v128.xor(lut16(v128.load(dt, 128), a2), lut16(v128.load(dt, 160), b2)),
      ),
    );
    const nl = v128.xor(
      v128.xor(
        v128.xor(lut16(v128.load(f, 16), hh), lut16(v128.load(f, 48), hl)),
        v128.xor(lut16(v128.load(f, 80), lh), lut16(v128.load(f, 112), ll)),
      ),
      v128.xor(
        v128.xor(
          v128.xor(lut16(v128.load(dt, 16), a0), lut16(v128.load(dt, 48), b0)),
          v128.xor(lut16(v128.load(dt, 80), a1), lut16(v128.load(dt, 112), b1)),
        ),
        v128.xor(v128.xor(lut16(v128.load(dt, 144), a2), lut16(v128.load(dt, 176), b2)), d3),
      ),
    );
    H = nh;
    L = nl;
  }
  for (; q < vecEnd; q += 16) {
    const d = v128.xor(v128.load(q), seed);
    seed = i64x2.splat(0);
    if (COPY) v128.store(dst + (q - p), v128.load(q));
    const f = t + FOLD1;
    const hh = hiNibbles(H, mask),
      hl = loNibbles(H, mask),
      lh = hiNibbles(L, mask),
      ll = loNibbles(L, mask);
    H = v128.xor(
      v128.xor(lut16(v128.load(f), hh), lut16(v128.load(f, 32), hl)),
      v128.xor(lut16(v128.load(f, 64), lh), lut16(v128.load(f, 96), ll)),
    );
    L = v128.xor(
      v128.xor(
        v128.xor(lut16(v128.load(f, 16), hh), lut16(v128.load(f, 48), hl)),
        v128.xor(lut16(v128.load(f, 80), lh), lut16(v128.load(f, 112), ll)),
      ),
      d,
    );
  }
  // Fold the lanes: q_0..q_15 = H ^ (L moved up one lane), q_16 = L_15.
  const z = i64x2.splat(0);
  const folded = v128.xor(H, i8x16.shuffle(z, L, 0, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30));
  let c = crc16Bytes(0, i64x2.extract_lane(folded, 0), i64x2.extract_lane(folded, 1));
  c = crcByte(c, <u32>i8x16.extract_lane_u(L, 15));
  if (COPY) memory.copy(dst + (vecEnd - p), vecEnd, end - vecEnd);
  for (q = vecEnd; q < end; q++) c = crcByte(c, <u32>load<u8>(q));
  return c;
}
