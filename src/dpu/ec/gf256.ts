/**
 * GF(2^8) with polynomial 0x11D and generator 2, for the control plane's matrix work (building
 * encode matrices, inverting survivor matrices). The data path uses the kernel's own tables
 * (assembly/ec/gf-tables.ts); a test checks both agree on every product.
 */
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('gfInv(0)');
  return EXP[(255 - LOG[a]!) % 255]!;
}

/** a^n, with 0^0 = 1 (klauspost galExp). */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a]! * n) % 255]!;
}
