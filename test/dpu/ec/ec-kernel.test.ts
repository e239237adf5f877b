import { describe, expect, it } from 'vitest';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { FLAVOURS } from './helpers.js';
import { EC_E_ARGS, EC_E_RANGE } from '../../../src/generated/ec.js';

type Encode = (len: number, k: number, rows: number, tbls: number, src: number, dst: number) => number;
type Update = (
  len: number,
  k: number,
  rows: number,
  j: number,
  tbls: number,
  a: number,
  b: number,
  p: number,
) => number;

describe.each(FLAVOURS)('ec kernel entry checks (%s)', (flavour) => {
  const mem = new HostMemory({ sizeBytes: 4 << 20 });
  const kernel = new LoaderRuntime(mem).kernel(flavour === 'relaxed' ? 'ec-rlx' : 'ec');
  const encode = kernel.fn<Encode>('ec_encode');
  const update = kernel.fn<Update>('ec_update');
  const init = kernel.fn<(k: number, rows: number, c: number, out: number) => number>('ec_init_tables');
  const r = mem.alloc({ name: 'w', owner: 't', kind: 'core-scratch', sizeBytes: 64 << 10 });
  const coeffs = r.base,
    tbls = r.base + 4096,
    src = r.base + 8192,
    dst = r.base + 8448,
    shards = r.base + 16384;
  mem.u8.fill(3, coeffs, coeffs + 8);
  expect(init(4, 2, coeffs, tbls)).toBe(0);
  for (let i = 0; i < 4; i++) mem.view.setUint32(src + 4 * i, shards + i * 1024, true);
  for (let i = 0; i < 2; i++) mem.view.setUint32(dst + 4 * i, shards + (4 + i) * 1024, true);

  it('refuses bad counts and out-of-memory ranges with a status, writing nothing', () => {
    const before = mem.u8.slice(r.base, r.base + r.sizeBytes);
    expect(encode(100, 0, 2, tbls, src, dst)).toBe(EC_E_ARGS);
    expect(encode(100, 4, 256, tbls, src, dst)).toBe(EC_E_ARGS);
    expect(encode(-1, 4, 2, tbls, src, dst)).toBe(EC_E_ARGS);
    expect(encode(100, 4, 2, mem.sizeBytes - 100, src, dst)).toBe(EC_E_RANGE);
    expect(encode(100, 4, 2, tbls, 0, dst)).toBe(EC_E_RANGE);
    mem.view.setUint32(dst + 4, mem.sizeBytes - 50, true); // second output runs past the end
    expect(encode(100, 4, 2, tbls, src, dst)).toBe(EC_E_RANGE);
    mem.view.setUint32(dst + 4, shards + 5 * 1024, true);
    expect(update(100, 4, 2, 4, tbls, shards, shards, dst)).toBe(EC_E_ARGS);
    expect(update(100, 4, 2, 0, tbls, mem.sizeBytes - 10, shards, dst)).toBe(EC_E_RANGE);
    expect(init(4, 2, coeffs, mem.sizeBytes - 10)).toBe(EC_E_RANGE);
    expect(mem.u8.slice(r.base, r.base + r.sizeBytes)).toEqual(before);
    expect(encode(100, 4, 2, tbls, src, dst)).toBe(0);
  });
});
