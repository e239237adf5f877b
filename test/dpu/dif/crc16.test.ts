import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16t10dif, crc16t10difAt } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { bytes, FLAVOURS, hex, vectors } from '../ec/helpers.js';

/** Byte-wise reference, bit by bit: MSB-first, poly 0x8BB7, init = seed, no final xor. */
function crcRef(data: Uint8Array, seed = 0): number {
  let crc = seed;
  for (const b of data) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x8bb7) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

describe.each(FLAVOURS)('crc16t10dif (%s kernels)', (simd) => {
  const opt = { simd };

  it('matches every ISA-L crc16_t10dif vector', () => {
    const v = vectors().crc16_t10dif;
    expect(v.length).toBeGreaterThan(5);
    for (const c of v) expect(crc16t10dif(hex(c.data), 0, opt), `${c.data.length / 2} bytes`).toBe(Number(c.crc));
  });

  it('has the catalogue check value and the published Linux/ISA-L values', () => {
    const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(crc16t10dif(ascii('123456789'), 0, opt)).toBe(0xd0db);
    expect(crc16t10dif(ascii('abc'), 0, opt)).toBe(0x443b);
    expect(crc16t10dif(new Uint8Array(512), 0, opt)).toBe(0);
    expect(crc16t10dif(new Uint8Array(512).fill(0xff), 0, opt)).toBe(0xe6a1);
    expect(crc16t10dif(new Uint8Array(4096).fill(0xff), 0, opt)).toBe(0x8b5d);
  });

  it('SIMD lanes, slice-by-16 and a bit-by-bit reference agree on every length and seed', () => {
    const rt = new LoaderRuntime(new HostMemory({ sizeBytes: 4 << 20 }));
    const k = rt.kernel(simd === 'relaxed' ? 'dif-rlx' : 'dif');
    const scalar = k.fn<(s: number, p: number, n: number) => number>('dif_crc16_scalar');
    const region = rt.memory.alloc({ name: 'crc', owner: 't', kind: 'core-scratch', sizeBytes: 8192 });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 1, max: 1 << 30 }),
        fc.integer({ min: 0, max: 15 }),
        (n, seed, s, skew) => {
          const data = bytes(n, s);
          rt.memory.u8.set(data, region.base + skew);
          const want = crcRef(data, seed);
          expect(crc16t10dif(data, seed, { runtime: rt, simd })).toBe(want);
          expect(scalar(seed, region.base + skew, n)).toBe(want);
          expect(crc16t10difAt(region.base + skew, n, seed, { runtime: rt, simd })).toBe(want);
        },
      ),
      { numRuns: 400, seed: 0xd1f },
    );
  });

  it('continues from a seed: crc(a + b) = crc(b, crc(a)), across the 1 MiB staging chunks', () => {
    const big = bytes((3 << 20) + 77, 3);
    const whole = crc16t10dif(big, 0, opt);
    expect(whole).toBe(crcRef(big));
    const cut = 1_000_003;
    expect(crc16t10dif(big.subarray(cut), crc16t10dif(big.subarray(0, cut), 0, opt), opt)).toBe(whole);
  });

  it('rejects bad arguments', () => {
    expect(() => crc16t10dif('abc' as never)).toThrow(/data: expected a Uint8Array/);
    expect(() => crc16t10dif(new Uint8Array(1), 0x10000)).toThrow(/seed: expected an integer in \[0, 65535\]/);
    expect(() => crc16t10difAt(0, 10)).toThrow(/address: expected an integer in \[1, /);
  });
});
