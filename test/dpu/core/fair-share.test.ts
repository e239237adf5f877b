import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import type { StateRegion } from '../../../src/common/host-memory-api.js';
import { kernelFile } from '../../../src/common/package-paths.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import type { DpuCore, Job } from '../../../src/dpu/core/dpu-core.js';
import { QUANTUM_UNITS } from '../../../src/dpu/core/fair-share.js';
import type { JobCounters } from '../../../src/dpu/core/job-counters.js';
import { KernelLoader, type LoadedKernel } from '../../../src/dpu/kernels/kernel-loader.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { FILL_LINES } from '../../../src/generated/core.js';
import { fillState } from '../../helpers/fill-state.js';
import { until } from '../../helpers/kernels.js';

const MIB = 1 << 20;

/**
 * Weighted fairness on one core (deficit round robin over work units, fair-share.ts), with fill
 * jobs that report their work in a counter of their own state: the shares are exact, not timed.
 */
describe('fair share of a core', () => {
  let host: HostMemory;
  let pool: DpuCorePool;
  let kernel: LoadedKernel;
  let c: DpuCore;

  beforeAll(async () => {
    host = new HostMemory({ sizeBytes: 64 * MIB });
    pool = await DpuCorePool.start(host, { cores: 1, mode: 'poll' });
    kernel = new KernelLoader(host).loadFile(kernelFile('core'));
    await pool.loadKernel(kernel);
    c = pool.core(0);
  });
  afterAll(async () => pool.close());

  const fill = async (weight: number, counted = true): Promise<{ job: Job; st: StateRegion }> => {
    const st = fillState(host);
    const job = await c.attachJob({
      kernel,
      entry: 'core_fill',
      state: st.base,
      budget: 64,
      weight,
      workAddr: counted ? st.base + FILL_LINES : 0,
    });
    return { job, st };
  };
  const of = (job: Job): JobCounters => c.jobCounters().find((j) => j.jobId === job.id)!;
  const detachAll = async (): Promise<void> => {
    for (const j of c.runningJobs()) await c.detachJob(j);
  };

  /** How much more work (or turns) b did than a from now until a did `units` more. */
  const share = async (a: Job, b: Job, key: 'work' | 'turns', units: number): Promise<number> => {
    const a0 = of(a)[key];
    const b0 = of(b)[key];
    await until(() => of(a)[key] - a0 > units, `${units} ${key} of job ${a.id}`);
    return (of(b)[key] - b0) / (of(a)[key] - a0);
  };

  it('weights 1:3 divide the work 1:3; a new weight takes effect at once', async () => {
    const a = await fill(100);
    const b = await fill(300);
    const ratio = await share(a.job, b.job, 'work', 40 * QUANTUM_UNITS);
    expect(ratio).toBeGreaterThan(2.9);
    expect(ratio).toBeLessThan(3.1);
    const ca = of(a.job);
    expect(ca.weight).toBe(100);
    expect(of(b.job).weight).toBe(300);
    expect(ca.items).toBe(ca.work); // the work charged is the job's own counter: core_fill returns its lines
    expect(ca.maxTurnWork).toBe(64); // a call writes its budget of 64 lines
    expect(ca.deferred).toBeGreaterThan(0); // A sat passes out while B used its larger share

    await c.setJobWeight(b.job, 100);
    expect(b.job.weight).toBe(100);
    const even = await share(a.job, b.job, 'work', 40 * QUANTUM_UNITS);
    expect(even).toBeGreaterThan(0.95);
    expect(even).toBeLessThan(1.05);
    await detachAll();
  });

  it('a job without a work counter is charged a quantum per busy call', async () => {
    const a = await fill(100, false);
    const b = await fill(300, false);
    const ratio = await share(a.job, b.job, 'turns', 2000);
    expect(ratio).toBeGreaterThan(2.9);
    expect(ratio).toBeLessThan(3.1);
    await detachAll();
  });

  it('a lone job of the smallest weight still gets every pass', async () => {
    const a = await fill(1);
    await until(() => of(a.job).turns > 10_000, 'ten thousand turns');
    expect(of(a.job).deferred).toBe(0);
    await detachAll();
  });

  it('a light job beside a busy one is never held back', async () => {
    const busy = await fill(100);
    const echo = host.allocState({
      name: 'test:ECHO',
      owner: 'test',
      kind: 'job-state',
      magic: 'ECHO',
      layoutVersion: 1,
      payloadBytes: 256,
    });
    // Its work counter counts requests served: a light load, whatever its weight.
    const job = await c.attachJob({
      kernel,
      entry: 'core_echo',
      state: echo.base,
      budget: 1,
      weight: 1,
      workAddr: echo.base + 192,
    });
    for (let i = 1; i <= 200; i++) {
      Atomics.store(host.i32, (echo.base + 64) >> 2, i);
      await until(() => Atomics.load(host.i32, (echo.base + 128) >> 2) === i, `echo ${i}`);
    }
    expect(of(job).deferred).toBe(0);
    expect(of(busy.job).work).toBeGreaterThan(0);
    await detachAll();
  });

  it('refuses weights outside 1..10000', async () => {
    const st = fillState(host);
    for (const weight of [0, 10_001, 1.5]) {
      await expect(c.attachJob({ kernel, entry: 'core_fill', state: st.base, budget: 1, weight })).rejects.toSatisfy(
        (e) => isQingtianError(e, 'QT_INVALID_ARGUMENT') && /weight/.test((e as Error).message),
      );
    }
    const { job } = await fill(100);
    await expect(c.setJobWeight(job, 0)).rejects.toSatisfy((e) => isQingtianError(e, 'QT_INVALID_ARGUMENT'));
    expect(job.weight).toBe(100);
    await expect(
      c.attachJob({ kernel, entry: 'core_fill', state: st.base, budget: 1, workAddr: st.base + 4 }),
    ).rejects.toSatisfy((e) => isQingtianError(e, 'QT_JOB_REJECTED') && /work counter/.test((e as Error).message));
    await detachAll();
  });
});
