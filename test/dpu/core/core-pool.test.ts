import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import type { Region, StateRegion } from '../../../src/common/host-memory-api.js';
import { kernelFile } from '../../../src/common/package-paths.js';
import { availableParallelism, getPriority } from 'node:os';
import { DpuCorePool, defaultCoreNice } from '../../../src/dpu/core/core-pool.js';
import { affinityUnsupported, threadAffinity } from '../../../src/dpu/core/cpu-affinity.js';
import type { Job, JobFailedEvent } from '../../../src/dpu/core/dpu-core.js';
import { KernelLoader, type LoadedKernel } from '../../../src/dpu/kernels/kernel-loader.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { testKernel, until } from '../../helpers/kernels.js';
import {
  ECHO_REQUEST,
  ECHO_RESPONSE,
  FILL_LENGTH,
  FILL_PASSES,
  FILL_SEED,
  FILL_TARGET,
} from '../../../src/generated/core.js';

const MIB = 1 << 20;

describe('DPU core pool', () => {
  let host: HostMemory;
  let loader: KernelLoader;
  let pool: DpuCorePool;
  let core: LoadedKernel;

  const u64 = (addr: number): number => Number(host.view.getBigUint64(addr, true));
  const state = (magic: string, payloadBytes = 256): StateRegion =>
    host.allocState({ name: `test:${magic}`, owner: 'test', kind: 'job-state', magic, layoutVersion: 1, payloadBytes });
  const nextFailure = (): Promise<JobFailedEvent> => new Promise((resolve) => pool.once('job-failed', resolve));

  beforeAll(async () => {
    host = new HostMemory({ sizeBytes: 64 * MIB });
    loader = new KernelLoader(host);
    pool = await DpuCorePool.start(host, { cores: 2, mode: 'adaptive', idleSpinPolls: 256 });
    core = loader.loadFile(kernelFile('core'));
    await pool.loadKernel(core);
  });

  afterAll(async () => {
    await pool.close();
  });

  it('the main thread and two cores write disjoint regions concurrently; every byte is right, guards untouched', async () => {
    const guard = (): Region => {
      const g = host.alloc({ name: 'guard', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
      host.u8.fill(0x5a, g.base, g.base + g.sizeBytes);
      return g;
    };
    const guards = [guard()];
    const regions: Region[] = [];
    for (let i = 0; i < 3; i++) {
      regions.push(host.alloc({ name: `area${i}`, owner: 'test', kind: 'core-scratch', sizeBytes: MIB }));
      guards.push(guard());
    }
    const [mainArea, area0, area1] = regions as [Region, Region, Region];
    const seeds = [0x1234_5678, 0x0bad_cafe, 0x7777_0001];
    const jobs: Job[] = [];
    const fills: StateRegion[] = [];
    for (const [i, area] of [area0, area1].entries()) {
      const st = state('FILL', 64);
      host.view.setUint32(st.base + FILL_TARGET, area.base, true);
      host.view.setUint32(st.base + FILL_LENGTH, area.sizeBytes, true);
      host.view.setUint32(st.base + FILL_SEED, seeds[i + 1]!, true);
      fills.push(st);
      jobs.push(await pool.core(i).attachJob({ kernel: core, entry: 'core_fill', state: st.base, budget: 64 }));
    }
    // Main writes its own area over and over while both cores run; the last pass uses seeds[0].
    const words = mainArea.sizeBytes / 4;
    let mainPasses = 0;
    while (mainPasses < 3 || fills.some((f) => u64(f.base + FILL_PASSES) < 3)) {
      const seed = (seeds[0]! + (mainPasses % 2)) >>> 0;
      for (let w = 0; w < words; w++) {
        const addr = mainArea.base + 4 * w;
        host.view.setUint32(addr, (addr ^ seed) >>> 0, true);
        if ((w & 0xffff) === 0) await new Promise((r) => setImmediate(r));
      }
      mainPasses++;
    }
    const lastSeed = (seeds[0]! + ((mainPasses - 1) % 2)) >>> 0;
    for (const [i, job] of jobs.entries()) await pool.core(i).detachJob(job);

    const check = (area: Region, seed: number): number => {
      let bad = 0;
      for (let a = area.base; a < area.base + area.sizeBytes; a += 4)
        if (host.view.getUint32(a, true) !== (a ^ seed) >>> 0) bad++;
      return bad;
    };
    expect(check(mainArea, lastSeed)).toBe(0);
    expect(check(area0, seeds[1]!)).toBe(0);
    expect(check(area1, seeds[2]!)).toBe(0);
    for (const g of guards) expect(host.u8.subarray(g.base, g.base + g.sizeBytes).every((b) => b === 0x5a)).toBe(true);
  });

  it('two versions of a module with different tables run at once on two cores without corrupting each other', async () => {
    const v1 = loader.load(testKernel('probe-v1'));
    await pool.loadKernel(v1);
    const s1 = state('PROB');
    const j1 = await pool.core(0).attachJob({ kernel: v1, entry: 'probe_run', state: s1.base, budget: 16 });
    await until(() => u64(s1.payload) > 2_000_000, 'v1 to run');

    // Load v2 while v1 runs: every core instantiates it, core 0 included.
    const v2 = loader.load(testKernel('probe-v2'));
    await pool.loadKernel(v2);
    const s2 = state('PROB');
    const s3 = state('PROB');
    const j2 = await pool.core(1).attachJob({ kernel: v2, entry: 'probe_run', state: s2.base, budget: 16 });
    const j3 = await pool.core(0).attachJob({ kernel: v2, entry: 'probe_run', state: s3.base, budget: 16 });
    const v1Mark = u64(s1.payload);
    await until(
      () => u64(s2.payload) > 2_000_000 && u64(s3.payload) > 2_000_000 && u64(s1.payload) > v1Mark + 2_000_000,
      'both versions to run',
    );
    await pool.core(0).detachJob(j1);
    await pool.core(1).detachJob(j2);
    await pool.core(0).detachJob(j3);

    expect([u64(s1.payload + 8), u64(s2.payload + 8), u64(s3.payload + 8)]).toEqual([0, 0, 0]); // mismatches
    expect([
      host.view.getUint32(s1.payload + 20, true),
      host.view.getUint32(s2.payload + 20, true),
      host.view.getUint32(s3.payload + 20, true),
    ]).toEqual([1, 2, 2]);
    await pool.unloadKernel(v1);
    loader.unload(v1);
  });

  it('a trapping job is reported with the trap message while both cores keep processing', async () => {
    const faulty = loader.load(testKernel('faulty'));
    await pool.loadKernel(faulty);
    const bad = state('FALT');
    const good0 = state('FALT');
    const good1 = state('FALT');
    const badJob = await pool.core(0).attachJob({ kernel: faulty, entry: 'faulty_run', state: bad.base, budget: 1 });
    await pool.core(0).attachJob({ kernel: faulty, entry: 'faulty_run', state: good0.base, budget: 1 });
    await pool.core(1).attachJob({ kernel: faulty, entry: 'faulty_run', state: good1.base, budget: 1 });
    await until(() => u64(good0.payload) > 1000 && u64(good1.payload) > 1000, 'jobs to run');

    const failed = nextFailure();
    Atomics.store(host.i32, (bad.payload + 8) >> 2, 1);
    const ev = await failed;
    expect(ev).toMatchObject({ coreId: 0, job: { id: badJob.id, status: 'failed' } });
    expect(ev.failure.message).toMatch(/^faulty_run: unreachable/);
    expect(badJob.status).toBe('failed');
    const errorsBefore = pool.cores[0]!.counters().errors;
    expect(errorsBefore).toBeGreaterThanOrEqual(1);

    // Both cores go on: the sibling job on core 0 (its kernel instance was renewed) and core 1.
    const m0 = u64(good0.payload);
    const m1 = u64(good1.payload);
    await until(() => u64(good0.payload) > m0 + 1000 && u64(good1.payload) > m1 + 1000, 'cores to keep processing');

    // A negative status and an out-of-bounds access fail their job the same way.
    const neg = state('FALT');
    host.view.setUint32(neg.payload + 8, 2, true);
    let f = nextFailure();
    await pool.core(1).attachJob({ kernel: faulty, entry: 'faulty_run', state: neg.base, budget: 1 });
    expect((await f).failure).toEqual({ status: -7, message: 'faulty_run: returned status -7' });
    const oob = state('FALT');
    host.view.setUint32(oob.payload + 8, 3, true);
    f = nextFailure();
    await pool.core(1).attachJob({ kernel: faulty, entry: 'faulty_run', state: oob.base, budget: 1 });
    expect((await f).failure.message).toMatch(/memory access out of bounds/);
    const m1b = u64(good1.payload);
    await until(() => u64(good1.payload) > m1b + 1000, 'core 1 to keep processing');
  });

  it('a core can be restarted: its jobs are gone, its kernels are back, it runs new jobs', async () => {
    const before = pool.cores[0]!.runningJobs();
    expect(before.length).toBeGreaterThan(0);
    await pool.restartCore(0);
    expect(before.every((j) => j.status === 'detached')).toBe(true);
    expect(pool.cores[0]!.jobCount()).toBe(0);
    const echo = state('ECHO');
    const job = await pool.core(0).attachJob({ kernel: core, entry: 'core_echo', state: echo.base, budget: 1 });
    Atomics.store(host.i32, (echo.base + ECHO_REQUEST) >> 2, 41);
    pool.cores[0]!.ringDoorbell();
    await until(() => Atomics.load(host.i32, (echo.base + ECHO_RESPONSE) >> 2) === 41, 'echo after restart');
    await pool.core(0).detachJob(job);
  });

  it('interrupt mode sleeps on the doorbell and wakes for work; poll mode never sleeps', async () => {
    const c = pool.core(1);
    for (const j of c.runningJobs()) await c.detachJob(j);
    const echo = state('ECHO');
    const job = await c.attachJob({ kernel: core, entry: 'core_echo', state: echo.base, budget: 1 });
    await c.setMode('interrupt', 1);
    expect(c.mode()).toBe('interrupt');
    for (let i = 1; i <= 20; i++) {
      await until(() => c.runState() === 'sleeping', 'core to sleep');
      const wakeups = c.counters().wakeups;
      Atomics.store(host.i32, (echo.base + ECHO_REQUEST) >> 2, i);
      c.ringDoorbell();
      await until(() => Atomics.load(host.i32, (echo.base + ECHO_RESPONSE) >> 2) === i, `echo ${i}`);
      await until(() => c.counters().wakeups > wakeups, 'wake-up counted');
    }
    await c.setMode('poll', 1);
    const sleeps = c.counters().sleeps;
    const passes = c.counters().passes;
    await until(() => c.counters().passes > passes + 100_000, 'poll passes');
    expect(c.counters().sleeps).toBe(sleeps);
    expect(c.runState()).toBe('running');
    await c.setMode('adaptive', 256);
    await until(() => c.runState() === 'sleeping', 'adaptive core to sleep when idle');
    await c.detachJob(job);
  });

  it('a quiesced core runs no burst until resumed; counters are read without messaging it', async () => {
    const c = pool.core(1);
    await c.setMode('poll', 1);
    const echo = state('ECHO');
    const job = await c.attachJob({ kernel: core, entry: 'core_echo', state: echo.base, budget: 1 });
    await c.quiesce();
    expect(c.runState()).toBe('quiesced');
    const commands = c.counters().commands;
    Atomics.store(host.i32, (echo.base + ECHO_REQUEST) >> 2, 7);
    const passes = c.counters().passes;
    await until(() => c.counters().passes > passes + 50_000, 'quiesced passes');
    expect(Atomics.load(host.i32, (echo.base + ECHO_RESPONSE) >> 2)).toBe(0);
    expect(c.counters().commands).toBe(commands); // reading counters sent nothing
    await c.resume();
    await until(() => Atomics.load(host.i32, (echo.base + ECHO_RESPONSE) >> 2) === 7, 'echo after resume');
    await c.detachJob(job);
    await c.setMode('adaptive', 256);
  });

  it('refuses bad commands with stable codes and keeps running', async () => {
    const c = pool.core(0);
    const echo = state('ECHO');
    await expect(c.attachJob({ kernel: core, entry: 'no_such_fn', state: echo.base, budget: 1 })).rejects.toMatchObject(
      { code: 'QT_NOT_FOUND' },
    );
    await expect(c.attachJob({ kernel: core, entry: 'core_echo', state: echo.base, budget: 0 })).rejects.toMatchObject({
      code: 'QT_JOB_REJECTED',
    });
    const job = await c.attachJob({ kernel: core, entry: 'core_echo', state: echo.base, budget: 1 });
    await expect(pool.unloadKernel(core)).rejects.toMatchObject({ code: 'QT_KERNEL_BUSY' });
    await c.detachJob(job);
    expect(() => pool.core(5)).toThrow(/core: expected an integer in \[0, 1\], got 5/);
    await c.ping();
  });

  it('validates pool options at the boundary', async () => {
    for (const [opts, msg] of [
      [{ cores: 0 }, /^DPU options\.cores: expected an integer in \[1, 64\], got 0$/],
      [{ mode: 'spin' }, /^DPU options\.mode: expected one of 'poll', 'interrupt', 'adaptive', got "spin"$/],
      [{ nice: 20 }, /^DPU options\.nice: expected an integer in \[-20, 19\], got 20$/],
    ] as const) {
      try {
        await DpuCorePool.start(host, opts as never);
        throw new Error('accepted');
      } catch (e) {
        expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
        expect((e as Error).message).toMatch(msg);
      }
    }
  });

  it("sets each core thread's priority and reports it out of band; the default leaves a CPU to the rest", async () => {
    // Lowering a thread's priority is always permitted, so this holds with or without privileges.
    const mainNice = getPriority();
    const low = await DpuCorePool.start(host, { cores: 1, mode: 'interrupt', nice: 7 });
    try {
      expect(low.priorities()).toEqual([{ coreId: 0, requested: 7, nice: 7, refused: false, cpu: null }]);
      await low.restartCore(0);
      expect(low.priorities()[0]!.nice).toBe(7);
    } finally {
      await low.close();
    }
    expect(pool.priorities().map((p) => p.requested)).toEqual([defaultCoreNice(2), defaultCoreNice(2)]);
    expect(defaultCoreNice(availableParallelism())).toBeNull();
    if (availableParallelism() > 1) expect(defaultCoreNice(1)).toBe(-10);
    // The main thread's own priority is untouched (setpriority acted on the core's thread alone).
    expect(getPriority()).toBe(mainNice);
  });

  it.skipIf(affinityUnsupported() !== null || availableParallelism() < 2)(
    'dedicates CPUs to cores: the core on its CPU, every other thread off it, all restored on close',
    async () => {
      const original = threadAffinity(process.pid);
      const last = availableParallelism() - 1;
      const pinned = await DpuCorePool.start(host, { cores: 1, mode: 'interrupt', nice: null, cpus: [last] });
      try {
        expect(pinned.priorities()[0]!.cpu).toBe(last);
        expect(threadAffinity(process.pid)).not.toContain(String(last));
        // One pinned pool at a time.
        await expect(DpuCorePool.start(host, { cores: 1, cpus: [last] })).rejects.toThrow(
          /another pool of this process has pinned its cores/,
        );
      } finally {
        await pinned.close();
      }
      expect(threadAffinity(process.pid)).toBe(original);
      // Bad CPU sets are refused before any thread moves.
      for (const [cpus, msg] of [
        [[0, 0], /^DPU options\.cpus: expected distinct CPU numbers, got \[0, 0\]$/],
        [
          Array.from({ length: availableParallelism() }, (_, i) => i),
          /leaves no CPU of .* to the control plane and guests$/,
        ],
        [[1000], /^DPU options\.cpus: CPU 1000 not available to this process/],
      ] as const) {
        const e = await DpuCorePool.start(host, { cores: 1, cpus: [...cpus] }).then(
          () => null,
          (x: unknown) => x,
        );
        expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
        expect((e as Error).message).toMatch(msg);
      }
      expect(threadAffinity(process.pid)).toBe(original);
      expect(pool.priorities().every((p) => p.cpu === null)).toBe(true);
    },
  );
});
