import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { distFile, kernelFile } from '../common/package-paths.js';
import { spinMicros } from '../common/spin.js';
import { CTL_RUN_STATE, RunState } from '../dpu/core/core-layout.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { KernelLoader } from '../dpu/kernels/kernel-loader.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';
import { ECHO_BYTES, ECHO_LAYOUT, ECHO_MAGIC, ECHO_REQUEST, ECHO_RESPONSE } from '../generated/core.js';
import { HDR_BYTES } from '../generated/common.js';

/**
 * Suite "core": the DPU core runtime, main thread ↔ one core.
 *   poll-round-trip       echo job, core in poll mode, main spins on the answer   peer: a Piscina task
 *   interrupt-wake-up     core asleep on its doorbell, main rings it              peer: bare Atomics.wait/notify worker
 *   control-command       ping through the mailbox and event ring (await)         peer: MessagePort echo
 *   idle-cpu              process CPU while the core idles in interrupt mode     peer: the same core in poll mode
 * Each case is run ctx.runs times; the medians of the per-run percentiles are reported.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const q = ctx.quick;
  const host = new HostMemory({ sizeBytes: 16 << 20 });
  const loader = new KernelLoader(host);
  const pool = await DpuCorePool.start(host, { cores: 1, mode: 'poll' });
  try {
    const kernel = loader.loadFile(kernelFile('core'));
    await pool.loadKernel(kernel);
    const core = pool.cores[0]!;
    const echo = host.allocState({
      name: 'bench:echo',
      owner: 'bench',
      kind: 'job-state',
      magic: ECHO_MAGIC,
      layoutVersion: ECHO_LAYOUT,
      payloadBytes: ECHO_BYTES - HDR_BYTES,
    });
    await core.attachJob({ kernel, entry: 'core_echo', state: echo.base, budget: 1 });
    const i32 = host.i32;
    const reqIdx = (echo.base + ECHO_REQUEST) >> 2;
    const respIdx = (echo.base + ECHO_RESPONSE) >> 2;
    let seq = 0;

    // ---- poll round trip (after a warm-up, so the JIT has settled on both sides)
    for (let i = 0; i < 20_000; i++) {
      const v = ++seq;
      Atomics.store(i32, reqIdx, v);
      while (Atomics.load(i32, respIdx) !== v);
    }
    const pollRuns: LatencySummary[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      const n = q ? 5_000 : 50_000;
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = ++seq;
        const t0 = process.hrtime.bigint();
        Atomics.store(i32, reqIdx, v);
        while (Atomics.load(i32, respIdx) !== v);
        samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      pollRuns.push(summarize(samples));
    }
    const piscinaRuns = await piscinaRoundTrips(ctx, q ? 500 : 3_000);
    reportLatency(ctx, 'poll-round-trip', medianOf(pollRuns), { name: 'piscina-task', ...medianOf(piscinaRuns) }, 2);
    ctx.progress('poll round trip done');

    // ---- interrupt wake-up: only samples where notify really woke a waiter count (a core that
    // has set its sleeping flag but not yet entered Atomics.wait would answer without a wake-up).
    await core.setMode('interrupt', 1);
    const stateIdx = (core.controlBase + CTL_RUN_STATE) >> 2;
    const wakeRuns: LatencySummary[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      const n = q ? 500 : 3_000;
      const samples = new Float64Array(n);
      for (let i = 0; i < n;) {
        while (Atomics.load(i32, stateIdx) !== RunState.Sleeping);
        spinMicros(20);
        const v = ++seq;
        const t0 = process.hrtime.bigint();
        Atomics.store(i32, reqIdx, v);
        const woke = core.ringDoorbell();
        while (Atomics.load(i32, respIdx) !== v);
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        if (woke) samples[i++] = us;
      }
      wakeRuns.push(summarize(samples));
    }
    const notifyRuns = await notifyWakeUps(ctx, q ? 500 : 3_000);
    reportLatency(
      ctx,
      'interrupt-wake-up',
      medianOf(wakeRuns),
      { name: 'atomics-notify-worker', ...medianOf(notifyRuns) },
      50,
    );
    ctx.progress('interrupt wake-up done');

    // ---- control command round trip (core idle in adaptive mode, as it is by default)
    await core.setMode('adaptive', 4096);
    for (let i = 0; i < 500; i++) await core.ping();
    const cmdRuns: LatencySummary[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      const n = q ? 300 : 2_000;
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        await core.ping();
        samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      cmdRuns.push(summarize(samples));
    }
    const portRuns = await portRoundTrips(ctx, q ? 300 : 2_000);
    reportLatency(ctx, 'control-command', medianOf(cmdRuns), { name: 'message-port-worker', ...medianOf(portRuns) });
    ctx.progress('control command done');

    // ---- idle CPU
    const seconds = q ? 0.5 : 2;
    await core.setMode('interrupt', 1);
    const idle = await idleCpu(ctx.runs, seconds);
    await core.setMode('poll', 1);
    const spinning = await idleCpu(Math.min(ctx.runs, 3), seconds);
    ctx.report({
      case: 'idle-cpu',
      metric: 'interrupt-mode',
      value: idle,
      unit: '% of a core',
      better: 'lower',
      peer: { name: 'poll-mode', value: spinning },
      target: 2,
    });
  } finally {
    await pool.close();
  }
}

function reportLatency(
  ctx: BenchContext,
  name: string,
  ours: LatencySummary,
  peer: LatencySummary & { name: string },
  p50Target?: number,
): void {
  ctx.report({
    case: name,
    metric: 'p50',
    value: ours.p50,
    unit: 'us',
    better: 'lower',
    peer: { name: peer.name, value: peer.p50 },
    ...(p50Target ? { target: p50Target } : {}),
  });
  ctx.report({
    case: name,
    metric: 'p99',
    value: ours.p99,
    unit: 'us',
    better: 'lower',
    peer: { name: peer.name, value: peer.p99 },
  });
}

/** Process CPU (all threads; main is asleep in a timer) as % of one core, median over runs. */
async function idleCpu(runs: number, seconds: number): Promise<number> {
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    await new Promise((res) => setTimeout(res, 50));
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await new Promise((res) => setTimeout(res, seconds * 1000));
    const c = process.cpuUsage(c0);
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    out.push((100 * (c.user + c.system)) / wallUs);
  }
  return median(out);
}

async function piscinaRoundTrips(ctx: BenchContext, n: number): Promise<LatencySummary[]> {
  const p = new Piscina({
    filename: pathToFileURL(distFile('src/bench/peers/noop-task.js')).href,
    minThreads: 1,
    maxThreads: 1,
  });
  try {
    for (let i = 0; i < 200; i++) await p.run(i);
    const runs: LatencySummary[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        await p.run(i);
        samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      runs.push(summarize(samples));
    }
    return runs;
  } finally {
    await p.destroy();
  }
}

async function notifyWakeUps(ctx: BenchContext, n: number): Promise<LatencySummary[]> {
  const sab = new SharedArrayBuffer(64);
  const i32 = new Int32Array(sab);
  const w = new Worker(distFile('src/bench/peers/ping-worker.js'), { workerData: { mode: 'notify', sab } });
  try {
    const runs: LatencySummary[] = [];
    let seq = 0;
    for (let r = 0; r < ctx.runs; r++) {
      const samples = new Float64Array(n);
      for (let i = 0; i < n;) {
        while (Atomics.load(i32, 2) !== 1);
        spinMicros(20);
        const v = ++seq;
        const t0 = process.hrtime.bigint();
        Atomics.store(i32, 0, v);
        const woke = Atomics.notify(i32, 0);
        while (Atomics.load(i32, 1) !== v);
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        if (woke === 1) samples[i++] = us;
      }
      runs.push(summarize(samples));
    }
    return runs;
  } finally {
    Atomics.store(i32, 3, 1);
    Atomics.add(i32, 0, 1);
    Atomics.notify(i32, 0);
    await w.terminate();
  }
}

async function portRoundTrips(ctx: BenchContext, n: number): Promise<LatencySummary[]> {
  const w = new Worker(distFile('src/bench/peers/ping-worker.js'), { workerData: { mode: 'port' } });
  const once = (v: number): Promise<unknown> =>
    new Promise((res) => {
      w.once('message', res);
      w.postMessage(v);
    });
  try {
    for (let i = 0; i < 100; i++) await once(i);
    const runs: LatencySummary[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        await once(i);
        samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      }
      runs.push(summarize(samples));
    }
    return runs;
  } finally {
    await w.terminate();
  }
}
