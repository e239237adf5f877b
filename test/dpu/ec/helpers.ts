import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../src/common/package-paths.js';
import { relaxedSimdSupported, type MatrixKind, type SimdFlavour } from '../../../src/index.js';

export interface RsVector {
  matrix: MatrixKind;
  k: number;
  m: number;
  len: number;
  coding_rows: string[];
  data: string[];
  parity: string[];
}

export interface Vectors {
  rs: RsVector[];
  crc16_t10dif: { data: string; crc: string }[];
}

export function vectors(): Vectors {
  return JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'ec', 'rs-vectors.json'), 'utf8')) as Vectors;
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Both kernel builds when the engine runs relaxed SIMD (vitest passes the flag on Node 20). */
export const FLAVOURS: SimdFlavour[] = relaxedSimdSupported() ? ['portable', 'relaxed'] : ['portable'];

/** Deterministic bytes (xorshift32). */
export function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
