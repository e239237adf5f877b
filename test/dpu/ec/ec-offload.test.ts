import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcOffload, Host, ReedSolomon } from '../../../src/index.js';
import { bytes } from './helpers.js';
import { EC_E_STATE } from '../../../src/generated/ec.js';

describe('EcOffload: stripe batches on the DPU cores', () => {
  let host: Host;
  beforeAll(async () => {
    host = await Host.boot({ memory: { sizeBytes: 64 << 20 }, dpu: { cores: 2, mode: 'adaptive' } });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('encodes and reconstructs a stripe set across cores, byte-equal to the main-thread coder', async () => {
    const rs = new ReedSolomon({ dataShards: 6, parityShards: 3, runtime: host.runtime });
    const off = await EcOffload.start(host.runtime, host.dpu, { stripesPerRound: 5, simd: rs.flavour });
    expect(off.cores).toBe(2);
    const len = 1000;
    const count = 23; // several rounds of 5 per core
    const region = host.memory.alloc({
      name: 'stripes',
      owner: 'test',
      kind: 'guest-ram',
      sizeBytes: count * 9 * 1024,
    });
    const addr = (s: number, i: number): number => region.base + (s * 9 + i) * 1024;
    const data: Uint8Array[][] = [];
    for (let s = 0; s < count; s++) {
      data.push(Array.from({ length: 6 }, (_, i) => bytes(len, s * 100 + i + 1)));
      data[s]!.forEach((d, i) => host.memory.u8.set(d, addr(s, i)));
    }
    const stripes = Array.from({ length: count }, (_, s) => ({
      data: [0, 1, 2, 3, 4, 5].map((i) => addr(s, i)),
      parity: [6, 7, 8].map((i) => addr(s, i)),
    }));
    const r = await off.encode(rs, stripes, len);
    expect(r).toEqual({ stripes: count, bytes: count * 6 * len });
    const read = (s: number, i: number): Uint8Array => host.memory.u8.slice(addr(s, i), addr(s, i) + len);
    for (let s = 0; s < count; s++) expect([6, 7, 8].map((i) => read(s, i))).toEqual(rs.encode(data[s]!));
    const expected = Array.from({ length: count }, (_, s) => Array.from({ length: 9 }, (_, i) => read(s, i)));
    for (let s = 0; s < count; s++) for (const i of [1, 4, 7]) host.memory.u8.fill(0, addr(s, i), addr(s, i) + len);
    await off.reconstruct(
      rs,
      Array.from({ length: count }, (_, s) => ({ shards: [...Array(9).keys()].map((i) => addr(s, i)) })),
      [7, 4, 1],
      len,
    );
    for (let s = 0; s < count; s++) for (let i = 0; i < 9; i++) expect(read(s, i)).toEqual(expected[s]![i]);
    const items = host.dpu.counters().reduce((a, c) => a + c.items, 0);
    expect(items).toBeGreaterThanOrEqual(2 * count);
    await off.close();
    await expect(off.encode(rs, stripes, len)).rejects.toMatchObject({ code: 'QT_DISPOSED' });
    rs.dispose();
  });

  it('a batch job whose state header is wrong fails alone (status EC_E_STATE)', async () => {
    const kernel = host.runtime.kernel('ec');
    await host.dpu.loadKernel(kernel);
    const st = host.memory.allocState({
      name: 'bad-ecbj',
      owner: 'test',
      kind: 'job-state',
      magic: 'XXXX',
      layoutVersion: 1,
      payloadBytes: 256,
    });
    const failed = new Promise<{ failure: { status: number } }>((r) => host.dpu.once('job-failed', r));
    await host.dpu.core(0).attachJob({ kernel, entry: 'ec_batch', state: st.base, budget: 1 });
    expect((await failed).failure.status).toBe(EC_E_STATE);
  });

  it('refuses a coder from another runtime or flavour, and bad addresses, before publishing', async () => {
    await expect(EcOffload.start(host.runtime, host.dpu, { cores: 3 })).rejects.toThrow(
      /cores: expected an integer in \[1, 2\] \(the pool's cores\), got 3/,
    );
    await expect(EcOffload.start(host.runtime, host.dpu, { stripesPerRound: 0 })).rejects.toThrow(
      /stripesPerRound: expected an integer in \[1, 65536\]/,
    );
    const off = await EcOffload.start(host.runtime, host.dpu, { cores: 1 });
    const elsewhere = new ReedSolomon({ dataShards: 2, parityShards: 1 });
    await expect(off.encode(elsewhere, [], 16)).rejects.toThrow(/rs: expected a coder in the offload's runtime/);
    const other = new ReedSolomon({
      dataShards: 2,
      parityShards: 1,
      runtime: host.runtime,
      simd: off.flavour === 'relaxed' ? 'portable' : 'auto',
    });
    if (other.flavour !== off.flavour)
      await expect(off.encode(other, [], 16)).rejects.toThrow(/built with the '.*' kernels/);
    const rs = new ReedSolomon({ dataShards: 2, parityShards: 1, runtime: host.runtime, simd: off.flavour });
    await expect(off.encode(rs, [{ data: [70000, 80000], parity: [host.memory.sizeBytes] }], 16)).rejects.toThrow(
      /stripes\[0\].parity\[0\]: expected a host address/,
    );
    await off.close();
    for (const c of [elsewhere, other, rs]) c.dispose();
  });
});
