import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelFile } from '../../../src/common/package-paths.js';
import { BURST_BOUNDS_S, BURST_BUCKETS } from '../../../src/dpu/core/burst-latency.js';
import {
  BURST_SPLIT_SLOT_BYTES,
  bindBurstSplit,
  burstSplitBytes,
  observeBurstSplit,
  readBurstSplit,
} from '../../../src/dpu/core/burst-split.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import type { DpuCore } from '../../../src/dpu/core/dpu-core.js';
import { KernelLoader } from '../../../src/dpu/kernels/kernel-loader.js';
import { NET_SW_PORT_HIST_BYTES } from '../../../src/dpu/net/net-layout.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { fillState } from '../../helpers/fill-state.js';
import { until } from '../../helpers/kernels.js';

const MIB = 1 << 20;

describe('burst split: per-key burst durations, one observation per item', () => {
  it('adds each touched key its items once, in the burst bucket, and resets the block', () => {
    const cap = 5;
    const buf = new ArrayBuffer(burstSplitBytes(cap) + 64);
    const u32 = new Uint32Array(buf);
    const f64 = new Float64Array(buf);
    const at = 64;
    u32[(at >> 2) + 1] = cap;
    const s = bindBurstSplit(u32, at)!;
    // A burst of 3 µs touched keys 3 (2 items) and 0 (5 items); key 7 is out of range.
    const touch = (keys: [number, number][]) => {
      u32[at >> 2] = keys.length;
      keys.forEach(([k, n], i) => {
        u32[(at >> 2) + 2 + i] = k;
        if (k < cap) u32[(at >> 2) + 2 + cap + k] = n;
      });
    };
    touch([
      [3, 2],
      [0, 5],
      [7, 9],
    ]);
    observeBurstSplit(s, u32, f64, 3000);
    expect(u32[at >> 2]).toBe(0);
    expect(u32[(at >> 2) + 2 + cap + 3]).toBe(0);
    const h3 = readBurstSplit(u32, f64, at, 3)!;
    expect(h3.count).toBe(2);
    expect(h3.sumSeconds).toBeCloseTo(6e-6, 12);
    expect(h3.counts[BURST_BOUNDS_S.indexOf(5e-6)]).toBe(2);
    expect(readBurstSplit(u32, f64, at, 0)!.count).toBe(5);
    expect(readBurstSplit(u32, f64, at, 1)!.count).toBe(0);
    expect(readBurstSplit(u32, f64, at, 5)).toBeNull();
    // A burst slower than every bound lands in the last bucket.
    touch([[3, 1]]);
    observeBurstSplit(s, u32, f64, 1e9);
    expect(readBurstSplit(u32, f64, at, 3)!.counts[BURST_BUCKETS - 1]).toBe(1);
    expect(readBurstSplit(u32, f64, at, 3)!.count).toBe(3);
  });

  it('the switch state reserves one split histogram of the same size per port', () => {
    expect(NET_SW_PORT_HIST_BYTES).toBe(BURST_SPLIT_SLOT_BYTES);
  });

  it('kernels bucket an observation as BURST_BOUNDS_S does (blk request latency)', () => {
    const host = new HostMemory({ sizeBytes: 16 * MIB });
    const k = new KernelLoader(host).loadFile(kernelFile('blk'));
    const bucket = k.fn<(ns: number) => number>('blk_latency_bucket');
    BURST_BOUNDS_S.forEach((b, i) => {
      const ns = Math.round(b * 1e9);
      expect(bucket(ns), `${ns} ns`).toBe(i);
      expect(bucket(ns + 1), `${ns + 1} ns`).toBe(i + 1);
    });
    expect(bucket(0)).toBe(0);
    expect(bucket(1e12)).toBe(BURST_BUCKETS - 1);
  });
});

describe('the clock word a core writes before each call of a job', () => {
  let host: HostMemory;
  let pool: DpuCorePool;
  let c: DpuCore;

  beforeAll(async () => {
    host = new HostMemory({ sizeBytes: 64 * MIB });
    pool = await DpuCorePool.start(host, { cores: 1, mode: 'poll' });
    c = pool.core(0);
  });
  afterAll(async () => pool.close());

  it('holds the core clock (process.hrtime, ns) as of the job’s latest call; refused when misaligned', async () => {
    const kernel = new KernelLoader(host).loadFile(kernelFile('core'));
    await pool.loadKernel(kernel);
    const st = fillState(host, 4096);
    const clock = host.alloc({ name: 'clock', owner: 'test', kind: 'core-scratch', sizeBytes: 64 });
    await expect(
      c.attachJob({ kernel, entry: 'core_fill', state: st.base, budget: 1, clockAddr: clock.base + 4 }),
    ).rejects.toThrow(/clock word.*8-aligned/);
    const f64 = new Float64Array(host.i32.buffer);
    const before = Number(process.hrtime.bigint());
    const job = await c.attachJob({ kernel, entry: 'core_fill', state: st.base, budget: 1, clockAddr: clock.base });
    await until(() => f64[clock.base >> 3]! > before, 'the clock word written');
    const seen = f64[clock.base >> 3]!;
    await until(() => f64[clock.base >> 3]! > seen, 'the clock word moving');
    expect(f64[clock.base >> 3]!).toBeLessThanOrEqual(Number(process.hrtime.bigint()) + 1e6);
    await c.detachJob(job);
  });
});
