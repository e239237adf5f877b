// Tables for CRC-16/T10-DIF: width 16, polynomial 0x8BB7, init 0, MSB-first (no reflection), no
// final xor; check("123456789") = 0xD0DB. Built by qt_init into the loader's table region.
//
//   +0     SLICE  u16[16][256]  SLICE[n][b] = CRC of byte b followed by n zero bytes
//                               (slice-by-16; SLICE[0] is the classic byte-wise table, T[1] = 0x8BB7)
//   +8192  FOLD4  v128[8]       multiply-by-x^512 of a 16-bit lane state, per nibble (see crc16.ts)
//   +8320  FOLD1  v128[8]       multiply-by-x^128, the same shape
//   +8448  DATA   v128[12]      a data byte times x^(128 j), j = 3, 2, 1 (4 vectors each)
//   +8640  MASK   v128          0x0f in every lane
//
// A FOLD table set maps a lane state S = (H << 8) | L to S * x^N mod P. The map is linear over
// GF(2), so it is the XOR of the images of S's four nibbles: nibble q (q = 0: H >> 4, 1: H & 15,
// 2: L >> 4, 3: L & 15) has 16 possible values, and each image has a high and a low byte. So
// 8 vectors: [q * 2 + 0] = high bytes of the images, [q * 2 + 1] = low bytes. A DATA set maps
// one data byte d (the low byte of a state) the same way with two nibbles: 4 vectors.

export const CRC_POLY: u32 = 0x8bb7;
export const SLICE: usize = 0;
export const FOLD4: usize = 8192;
export const FOLD1: usize = 8320;
export const DATA: usize = 8448;
export const MASK: usize = 8640;
export const CRC_TABLES_BYTES: i32 = 8656;

let tables: usize = 0;

@inline export function crcTables(): usize {
  return tables;
}

/** v * x^bits mod P for a 16-bit v (one shift-and-reduce per bit; table building only). */
function mulXPow(v: u32, bits: i32): u32 {
  for (let i = 0; i < bits; i++) v = (v & 0x8000) != 0 ? ((v << 1) ^ CRC_POLY) & 0xffff : (v << 1) & 0xffff;
  return v;
}

function buildFold(out: usize, bits: i32): void {
  for (let q = 0; q < 4; q++) {
    for (let v: u32 = 0; v < 16; v++) {
      const image = mulXPow(v << u32(12 - 4 * q), bits);
      store<u8>(out + ((<usize>q) << 5) + v, <u8>(image >> 8));
      store<u8>(out + ((<usize>q) << 5) + 16 + v, <u8>image);
    }
  }
}

export function crcBind(base: usize, build: i32): i32 {
  if (base == 0) return -1;
  tables = base;
  if (build == 0) return 0;
  for (let b: u32 = 0; b < 256; b++) store<u16>(base + SLICE + ((<usize>b) << 1), <u16>mulXPow(b << 8, 8));
  for (let n: usize = 1; n < 16; n++) {
    for (let b: usize = 0; b < 256; b++) {
      const prev = <u32>load<u16>(base + SLICE + ((n - 1) << 9) + (b << 1));
      const next = ((prev << 8) ^ (<u32>load<u16>(base + SLICE + ((<usize>(prev >> 8)) << 1)))) & 0xffff;
      store<u16>(base + SLICE + (n << 9) + (b << 1), <u16>next);
    }
  }
  buildFold(base + FOLD4, 512);
  buildFold(base + FOLD1, 128);
  // DATA: j = 3, 2, 1 at +0, +64, +128: [hi-nibble image hi, lo] then [lo-nibble image hi, lo].
  for (let s = 0; s < 3; s++) {
    const out = base + DATA + ((<usize>s) << 6);
    const bits = 128 * (3 - s);
    for (let v: u32 = 0; v < 16; v++) {
      const hiImage = mulXPow(v << 4, bits),
        loImage = mulXPow(v, bits);
      store<u8>(out + v, <u8>(hiImage >> 8));
      store<u8>(out + 16 + v, <u8>hiImage);
      store<u8>(out + 32 + v, <u8>(loImage >> 8));
      store<u8>(out + 48 + v, <u8>loImage);
    }
  }
  v128.store(base + MASK, i8x16.splat(0x0f));
  return 0;
}
