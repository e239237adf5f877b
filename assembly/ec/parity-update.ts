// Parity update for one changed source shard (partial-stripe write; ISA-L's ec_encode_data_update
// and gf_Nvect_mad shape): with delta = old ^ new of source j,
//   parity[r] ^= C[r][j] * delta       for every parity row r,
// which equals re-encoding the stripe from scratch, because encoding is linear over XOR.
// Each delta vector is computed and split into nibbles once per group of rows. Trusted: the
// exported entry has checked every range.

import { gfMul, gfTables, GF_MASK } from './gf-tables';
import { cellCoefficient, groupRows, GROUP_MAX } from './nibble-tables';
import { hiNibbles, loNibbles, lut16 } from '../common/lut16';

export function parityUpdate(
  len: usize,
  k: i32,
  rows: i32,
  j: i32,
  tbls: usize,
  oldData: usize,
  newData: usize,
  parity: usize,
): void {
  for (let r0 = 0; r0 < rows; r0 += GROUP_MAX) {
    const R = groupRows(rows, r0);
    // Column j of this group: the group's first row * k cells in, then j * R cells.
    const col = tbls + <usize>r0 * <usize>k * 32 + ((<usize>(j * R)) << 5);
    const p = parity + ((<usize>r0) << 2);
    if (R == 4) mad4(len, col, oldData, newData, p);
    else if (R == 3) mad3(len, col, oldData, newData, p);
    else if (R == 2) mad2(len, col, oldData, newData, p);
    else mad1(len, col, oldData, newData, p);
  }
}

function mad4(len: usize, col: usize, a: usize, b: usize, p: usize): void {
  madGroup(len, 4, col, a, b, p);
}
function mad3(len: usize, col: usize, a: usize, b: usize, p: usize): void {
  madGroup(len, 3, col, a, b, p);
}
function mad2(len: usize, col: usize, a: usize, b: usize, p: usize): void {
  madGroup(len, 2, col, a, b, p);
}
function mad1(len: usize, col: usize, a: usize, b: usize, p: usize): void {
  madGroup(len, 1, col, a, b, p);
}

@inline function madGroup(len: usize, R: i32, col: usize, oldData: usize, newData: usize, parity: usize): void {
  const mask = v128.load(gfTables() + GF_MASK);
  const o0 = <usize>load<u32>(parity);
  const o1 = R > 1 ? <usize>load<u32>(parity, 4) : 0;
  const o2 = R > 2 ? <usize>load<u32>(parity, 8) : 0;
  const o3 = R > 3 ? <usize>load<u32>(parity, 12) : 0;
  // The R table pairs of column j stay in registers for the whole shard.
  const l0 = v128.load(col),
    h0 = v128.load(col, 16);
  const l1 = R > 1 ? v128.load(col, 32) : l0,
    h1 = R > 1 ? v128.load(col, 48) : h0;
  const l2 = R > 2 ? v128.load(col, 64) : l0,
    h2 = R > 2 ? v128.load(col, 80) : h0;
  const l3 = R > 3 ? v128.load(col, 96) : l0,
    h3 = R > 3 ? v128.load(col, 112) : h0;
  let pos: usize = 0;
  for (; pos + 16 <= len; pos += 16) {
    // SAFETY: [oldData, +len), [newData, +len) and each parity [o, o + len) were checked by ec_update.
    const d = v128.xor(v128.load(oldData + pos), v128.load(newData + pos));
    const dl = loNibbles(d, mask),
      dh = hiNibbles(d, mask);
    v128.store(o0 + pos, v128.xor(v128.load(o0 + pos), v128.xor(lut16(l0, dl), lut16(h0, dh))));
    if (R > 1) v128.store(o1 + pos, v128.xor(v128.load(o1 + pos), v128.xor(lut16(l1, dl), lut16(h1, dh))));
    if (R > 2) v128.store(o2 + pos, v128.xor(v128.load(o2 + pos), v128.xor(lut16(l2, dl), lut16(h2, dh))));
    if (R > 3) v128.store(o3 + pos, v128.xor(v128.load(o3 + pos), v128.xor(lut16(l3, dl), lut16(h3, dh))));
  }
  for (; pos < len; pos++) {
    const d = <u32>(load<u8>(oldData + pos) ^ load<u8>(newData + pos));
    store<u8>(o0 + pos, <u8>((<u32>load<u8>(o0 + pos)) ^ gfMul(cellCoefficient(col), d)));
    if (R > 1) store<u8>(o1 + pos, <u8>((<u32>load<u8>(o1 + pos)) ^ gfMul(cellCoefficient(col + 32), d)));
    if (R > 2) store<u8>(o2 + pos, <u8>((<u32>load<u8>(o2 + pos)) ^ gfMul(cellCoefficient(col + 64), d)));
    if (R > 3) store<u8>(o3 + pos, <u8>((<u32>load<u8>(o3 + pos)) ^ gfMul(cellCoefficient(col + 96), d)));
  }
}
