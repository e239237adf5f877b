import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isQingtianError } from '../../../src/common/errors.js';
import type { StateRegion } from '../../../src/common/host-memory-api.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import type { JobFailedEvent, JobRolledBackEvent, SwapTransform } from '../../../src/dpu/core/dpu-core.js';
import { KernelLoader, type LoadedKernel } from '../../../src/dpu/kernels/kernel-loader.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { testKernel, until } from '../../helpers/kernels.js';

const MIB = 1 << 20;
const UP: SwapTransform = { name: 'qt_state_transform', in: 'to', fromLayout: 1, toLayout: 2 };
const DOWN: SwapTransform = { name: 'qt_state_transform', in: 'from', fromLayout: 2, toLayout: 1 };

/** The core side of a hot swap: the SwapKernel command, state transforms, fallback on failure. */
describe('SwapKernel on a DPU core', () => {
  let host: HostMemory;
  let loader: KernelLoader;
  let pool: DpuCorePool;
  let v1: LoadedKernel, v2: LoadedKernel;

  // Counter state (test/kernels/lib/counter.ts): layout 1 u32 count at +64, layout 2 u64 count at +64; posted at +128.
  const counter = (): StateRegion =>
    host.allocState({
      name: 'cntr',
      owner: 'test',
      kind: 'job-state',
      magic: 'CNTR',
      layoutVersion: 1,
      payloadBytes: 128,
    });
  const layout = (s: StateRegion): number => host.view.getUint32(s.base + 4, true);
  const count = (s: StateRegion): number =>
    layout(s) === 1 ? host.view.getUint32(s.base + 64, true) : Number(host.view.getBigUint64(s.base + 64, true));
  const post = (s: StateRegion, n: number, coreId = 0): void => {
    Atomics.add(host.i32, (s.base + 128) >> 2, n);
    pool.core(coreId).ringDoorbell();
  };
  const posted = (s: StateRegion): number => Atomics.load(host.i32, (s.base + 128) >> 2) >>> 0;
  const load = async (name: string): Promise<LoadedKernel> => {
    const k = loader.load(testKernel(name), name);
    await pool.loadKernel(k);
    return k;
  };

  beforeAll(async () => {
    host = new HostMemory({ sizeBytes: 64 * MIB });
    loader = new KernelLoader(host);
    pool = await DpuCorePool.start(host, { cores: 2, mode: 'adaptive', idleSpinPolls: 64 });
    v1 = await load('counter-v1');
    v2 = await load('counter-v2');
  });

  afterAll(async () => {
    await pool.close();
  });

  it('moves a job to the new version at a burst boundary, its 32-bit count widened to 64 bits and back', async () => {
    const s = counter();
    const job = await pool.core(0).attachJob({ kernel: v1, entry: 'counter_run', state: s.base, budget: 1 });
    post(s, 100);
    await until(() => count(s) === 100, 'v1 counts 100');

    const up = await pool.core(0).swapKernel(v1, v2, UP);
    expect(up).toMatchObject({ coreId: 0, jobs: 1 });
    expect(up.pauseNs).toBeGreaterThanOrEqual(0);
    expect(job.kernel).toBe(v2);
    expect(job.previous).toBe(v1);
    expect(layout(s)).toBe(2);
    expect(count(s)).toBe(100);
    post(s, 50);
    await until(() => count(s) === 150, 'v2 counts on from 100');

    const down = await pool.core(0).swapKernel(v2, v1, DOWN);
    expect(down.jobs).toBe(1);
    expect(layout(s)).toBe(1);
    expect(count(s)).toBe(150);
    post(s, 25);
    await until(() => count(s) === 175, 'v1 counts on from 150');
    expect(count(s)).toBe(posted(s));
    await pool.core(0).detachJob(job);
  });

  it('is all or nothing: a state the transform refuses leaves every job on the old version, states converted back', async () => {
    const a = counter();
    const b = counter();
    const ja = await pool.core(1).attachJob({ kernel: v1, entry: 'counter_run', state: a.base, budget: 1 });
    const jb = await pool.core(1).attachJob({ kernel: v1, entry: 'counter_run', state: b.base, budget: 1 });
    await pool.core(1).swapKernel(v1, v2, UP);
    post(a, 7, 1);
    await until(() => count(a) === 7, 'a counted on v2');
    // b's 64-bit count no longer fits the old layout: the way back must be refused as a whole.
    await pool.core(1).quiesce();
    host.view.setBigUint64(b.base + 64, 1n << 32n, true);
    await pool.core(1).resume();
    const err = await pool
      .core(1)
      .swapKernel(v2, v1, DOWN)
      .catch((e: unknown) => e);
    expect(isQingtianError(err, ErrorCode.SwapFailed)).toBe(true);
    expect((err as Error).message).toMatch(/job #\d+: returned -2/);
    expect([layout(a), layout(b)]).toEqual([2, 2]);
    expect(count(a)).toBe(7);
    expect([ja.kernel, jb.kernel]).toEqual([v2, v2]);
    post(a, 3, 1);
    await until(() => count(a) === 10, 'a still served by v2');
    await pool.core(1).detachJob(ja);
    await pool.core(1).detachJob(jb);
  });

  it('refuses a version that lacks an entry a job uses; the job keeps running on its version', async () => {
    const probe = await load('probe-v1');
    const s = counter();
    const job = await pool.core(0).attachJob({ kernel: v1, entry: 'counter_run', state: s.base, budget: 1 });
    const err = await pool
      .core(0)
      .swapKernel(v1, probe, null)
      .catch((e: unknown) => e);
    expect(isQingtianError(err, ErrorCode.SwapFailed)).toBe(true);
    expect((err as Error).message).toMatch(/lacks counter_run/);
    expect(job.kernel).toBe(v1);
    post(s, 5);
    await until(() => count(s) === 5, 'v1 still counts');
    await pool.core(0).detachJob(job);
    await pool.unloadKernel(probe);
    loader.unload(probe);
  });

  it('puts a job that traps on the new version back on the previous one, which keeps counting', async () => {
    const trap = await load('counter-v3-trap');
    const s = counter();
    const job = await pool.core(0).attachJob({ kernel: v1, entry: 'counter_run', state: s.base, budget: 1 });
    post(s, 10);
    await until(() => count(s) === 10, 'v1 counted');
    const rolled = new Promise<JobRolledBackEvent>((r) => pool.once('job-rolled-back', r));
    const failed: JobFailedEvent[] = [];
    pool.on('job-failed', (e: JobFailedEvent) => failed.push(e));
    await pool.core(0).swapKernel(v1, trap, null);
    post(s, 1); // the next burst runs the trapping entry
    const e = await rolled;
    expect(e.job).toBe(job);
    expect(e.from).toBe(trap);
    expect(e.to).toBe(v1);
    expect(e.failure.message).toMatch(/unreachable/);
    expect(job.kernel).toBe(v1);
    expect(job.status).toBe('running');
    await until(() => count(s) === 11, 'v1 served the request the trapping version could not');
    post(s, 4);
    await until(() => count(s) === 15, 'v1 keeps counting');
    expect(failed).toEqual([]);
    expect(pool.core(0).counters().errors).toBeGreaterThanOrEqual(1);
    await pool.core(0).detachJob(job);
    await pool.unloadKernel(trap);
    loader.unload(trap);
  });

  it('detaches the job as before once the previous version is unloaded (no fallback left)', async () => {
    const v1b = await load('counter-v1');
    const s = counter();
    const job = await pool.core(1).attachJob({ kernel: v1b, entry: 'counter_run', state: s.base, budget: 1 });
    await pool.core(1).swapKernel(v1b, v2, UP);
    await pool.unloadKernel(v1b);
    loader.unload(v1b);
    expect(job.previous).toBeNull();
    const failed = new Promise<JobFailedEvent>((r) => pool.once('job-failed', r));
    await pool.core(1).quiesce();
    host.view.setUint32(s.base + 4, 9, true); // a layout v2 does not know: it returns -1
    await pool.core(1).resume();
    post(s, 1, 1);
    const e = await failed;
    expect(e.job).toBe(job);
    expect(e.failure.status).toBe(-1);
    expect(job.status).toBe('failed');
  });
});

describe('the pause of a commit, traced', () => {
  it('splits into the wait for the burst boundary and the commit; with trace, GCs and the scheduler', async () => {
    const host = new HostMemory({ sizeBytes: 64 * MIB });
    const loader = new KernelLoader(host);
    const pool = await DpuCorePool.start(host, { cores: 1, mode: 'poll', trace: true });
    try {
      const v1 = loader.load(testKernel('counter-v1'), 'counter-v1');
      const v2 = loader.load(testKernel('counter-v2'), 'counter-v2');
      await pool.loadKernel(v1);
      await pool.loadKernel(v2);
      const s = host.allocState({
        name: 'cntr',
        owner: 'test',
        kind: 'job-state',
        magic: 'CNTR',
        layoutVersion: 1,
        payloadBytes: 128,
      });
      const job = await pool.core(0).attachJob({ kernel: v1, entry: 'counter_run', state: s.base, budget: 1 });
      const r = await pool.core(0).swapKernel(v1, v2, UP);
      const t = r.trace;
      // The two parts add up to the pause the core reported (each rounded to whole ns).
      expect(Math.abs(t.boundaryWaitNs + t.commitNs - r.pauseNs)).toBeLessThan(4);
      for (const k of ['lastPassNs', 'lastJobsNs', 'gcCount', 'gcUs'] as const) expect(t[k]).toBeGreaterThanOrEqual(0);
      if (process.platform === 'linux') {
        // Linux: the scheduler's counters of the core thread and of the process's other threads.
        for (const k of ['coreRunNs', 'coreWaitNs', 'othersRunNs', 'unaccountedNs', 'coreSwitches'] as const)
          expect(t[k]).toBeGreaterThanOrEqual(0);
      }
      // The job counters carry busy time and the longest turn under trace.
      Atomics.add(host.i32, (s.base + 128) >> 2, 5);
      await until(() => (pool.core(0).jobCounters()[0]?.busyNs ?? 0) > 0, 'busy time counted');
      expect(pool.core(0).jobCounters()[0]!.maxTurnNs).toBeGreaterThan(0);
      await pool.core(0).detachJob(job);
    } finally {
      await pool.close();
    }
  });
});
