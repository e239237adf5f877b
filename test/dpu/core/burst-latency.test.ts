import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelFile } from '../../../src/common/package-paths.js';
import { BURST_BOUNDS_S, BURST_BUCKETS } from '../../../src/dpu/core/burst-latency.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import type { DpuCore, Job } from '../../../src/dpu/core/dpu-core.js';
import { KernelLoader, type LoadedKernel } from '../../../src/dpu/kernels/kernel-loader.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { fillState } from '../../helpers/fill-state.js';
import { until } from '../../helpers/kernels.js';

const MIB = 1 << 20;

/** Each job's burst durations, written by the reactor in place and read out of band. */
describe('burst durations of the jobs of a core', () => {
  let host: HostMemory;
  let pool: DpuCorePool;
  let kernel: LoadedKernel;
  let c: DpuCore;

  beforeAll(async () => {
    host = new HostMemory({ sizeBytes: 64 * MIB });
    pool = await DpuCorePool.start(host, { cores: 1, mode: 'adaptive' });
    kernel = new KernelLoader(host).loadFile(kernelFile('core'));
    await pool.loadKernel(kernel);
    c = pool.core(0);
  });
  afterAll(async () => pool.close());

  const fill = async (): Promise<Job> => {
    const st = fillState(host);
    return c.attachJob({ kernel, entry: 'core_fill', state: st.base, budget: 64 });
  };

  it('counts every call that did work once, per job, in the fixed buckets', async () => {
    const a = await fill();
    const b = await fill();
    await until(() => (c.burstLatency(b.id)?.count ?? 0) > 200, 'bursts of job b');
    // Quiesced, no burst runs and the counters are flushed: the histogram and the turns agree.
    await c.quiesce();
    for (const job of [a, b]) {
      const h = c.burstLatency(job.id)!;
      const turns = c.jobCounters().find((j) => j.jobId === job.id)!.turns;
      expect(h.counts).toHaveLength(BURST_BUCKETS);
      expect(h.count).toBe(turns);
      expect(h.counts.reduce((x, y) => x + y, 0)).toBe(h.count);
      // A fill burst writes 64 cache lines: well under a second, and never 0 s.
      expect(h.sumSeconds).toBeGreaterThan(0);
      expect(h.sumSeconds / h.count).toBeLessThan(1);
      expect(h.counts[BURST_BOUNDS_S.length]).toBe(0);
    }
    await c.resume();
    await c.detachJob(a);
    // A job that left keeps its numbers until another takes its slot; an unknown job has none.
    const left = c.burstLatency(a.id)!.count;
    expect(left).toBeGreaterThan(0);
    expect(c.burstLatency(9999)).toBeNull();
    const d = await fill();
    await until(() => (c.burstLatency(d.id)?.count ?? 0) > 10, 'bursts of job d');
    expect(c.burstLatency(a.id)?.count).toBe(left);
    await c.detachJob(b);
    await c.detachJob(d);
  });
});
