import { fourcc } from '../../common/region-header.js';
import { spinMicros } from '../../common/spin.js';
import type { JobFailedEvent } from '../../dpu/core/dpu-core.js';
import { sampleEcho, sleep, type DemoChapter } from './demo-context.js';
import {
  ECHO_BYTES,
  ECHO_LAYOUT,
  ECHO_MAGIC,
  ECHO_REQUEST,
  ECHO_RESPONSE,
  FILL_BYTES,
  FILL_CURSOR,
  FILL_LAYOUT,
  FILL_LENGTH,
  FILL_LINES,
  FILL_MAGIC,
  FILL_PASSES,
  FILL_SEED,
  FILL_TARGET,
} from '../../generated/core.js';
import { HDR_BYTES, HDR_MAGIC } from '../../generated/common.js';

const MIB = 1 << 20;
const SCRUB_BYTES = 64 * MIB;

/**
 * Chapter "DPU runtime": kernels checked and loaded onto every core; a scrub job and an echo
 * job share a core for the traffic phase; a job with a corrupt state region fails alone; the
 * idle core sleeps on its doorbell.
 */
export const dpuRuntime: DemoChapter = {
  title: 'DPU runtime: kernels, jobs, fault isolation, idle',
  async run({ host, seconds, say, record }) {
    const kernel = await host.loadKernel('core');
    say(
      `kernel ${kernel.info.name}@${kernel.info.version} (sha256 ${kernel.info.sha256.slice(0, 12)}…) passed the loader's checks ` +
        `(imports only shared env.memory, no data segments, no start function); image slot at 0x${kernel.image.base.toString(16)}, ` +
        `instantiated on ${host.dpu.cores.length} core(s)`,
    );

    const core0 = host.dpu.core(0);
    const scratch = host.memory.alloc({
      name: 'demo:scrub',
      owner: 'demo',
      kind: 'core-scratch',
      sizeBytes: SCRUB_BYTES,
    });
    const fill = host.memory.allocState({
      name: 'demo:fill',
      owner: 'demo',
      kind: 'job-state',
      magic: FILL_MAGIC,
      layoutVersion: FILL_LAYOUT,
      payloadBytes: FILL_BYTES - HDR_BYTES,
    });
    const seed = 0x9e37_79b9;
    host.memory.view.setUint32(fill.base + FILL_TARGET, scratch.base, true);
    host.memory.view.setUint32(fill.base + FILL_LENGTH, scratch.sizeBytes, true);
    host.memory.view.setUint32(fill.base + FILL_SEED, seed, true);
    const echo = host.memory.allocState({
      name: 'demo:echo',
      owner: 'demo',
      kind: 'job-state',
      magic: ECHO_MAGIC,
      layoutVersion: ECHO_LAYOUT,
      payloadBytes: ECHO_BYTES - HDR_BYTES,
    });
    const fillJob = await core0.attachJob({ kernel, entry: 'core_fill', state: fill.base, budget: 256 });
    const echoJob = await core0.attachJob({ kernel, entry: 'core_echo', state: echo.base, budget: 1 });
    say(
      `core 0 runs two jobs: core_fill scrubbing ${SCRUB_BYTES / MIB} MiB in 16 KiB bursts, and core_echo answering the main thread`,
    );

    const i32 = host.memory.i32;
    const scrubLines = (): number => Number(host.memory.view.getBigUint64(fill.base + FILL_LINES, true));
    const seq = { v: 0 };
    const lat: number[] = [];
    const c0 = core0.counters();
    const t0 = performance.now();
    for (let s = 1; s <= seconds; s++) {
      while (performance.now() - t0 < s * 1000) {
        const sorted = sampleEcho(core0, i32, echo.base, 200, seq);
        lat.push(sorted[100]!);
        await sleep(5);
      }
      const c = core0.counters();
      const gbps = (scrubLines() * 64) / ((performance.now() - t0) / 1000) / 1e9;
      say(
        `  t=${s}s  core 0: ${c.bursts - c0.bursts} bursts, ${c.items - c0.items} items, scrub ${gbps.toFixed(2)} GB/s, echo p50 ${median(lat).toFixed(2)} µs`,
      );
    }
    const elapsed = (performance.now() - t0) / 1000;
    await core0.detachJob(fillJob);
    const lines = scrubLines();
    let wrong = 0;
    const passes = Number(host.memory.view.getBigUint64(fill.base + FILL_PASSES, true));
    const cursor = host.memory.view.getUint32(fill.base + FILL_CURSOR, true);
    const covered = passes > 0 ? scratch.sizeBytes : cursor;
    for (let a = scratch.base; a < scratch.base + covered; a += 4)
      if (host.memory.view.getUint32(a, true) !== (a ^ seed) >>> 0) wrong++;
    say(
      `scrub verified: ${(covered / MIB).toFixed(0)} MiB checked word by word, ${wrong} wrong (${passes} full passes)`,
    );
    record('scrub job on a DPU core', `${((lines * 64) / elapsed / 1e9).toFixed(2)} GB/s, ${wrong} wrong words`);
    record('main ↔ core echo round trip (while scrubbing)', `p50 ${median(lat).toFixed(2)} µs`);

    // A job whose state region is corrupt fails alone; the core keeps serving.
    const bad = host.memory.allocState({
      name: 'demo:bad',
      owner: 'demo',
      kind: 'job-state',
      magic: FILL_MAGIC,
      layoutVersion: FILL_LAYOUT,
      payloadBytes: FILL_BYTES - HDR_BYTES,
    });
    host.memory.view.setUint32(bad.base + HDR_MAGIC, fourcc('XXXX'), true);
    const failed = new Promise<JobFailedEvent>((r) => host.dpu.once('job-failed', r));
    await core0.attachJob({ kernel, entry: 'core_fill', state: bad.base, budget: 1 });
    const ev = await failed;
    const after = sampleEcho(core0, i32, echo.base, 100, seq);
    say(
      `a job with a corrupt state header failed alone (${ev.failure.message}); core 0 kept answering (echo p50 ${after[50]!.toFixed(2)} µs)`,
    );
    record('fault isolation', `bad job detached with status ${ev.failure.status}; core kept running`);

    // Idle: interrupt mode sleeps on the doorbell.
    await core0.setMode('interrupt', 1);
    await sleep(100);
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    await sleep(500);
    const cpu = process.cpuUsage(cpu0);
    const idlePct = (100 * (cpu.user + cpu.system)) / ((performance.now() - w0) * 1000);
    const before = core0.counters();
    const wake: number[] = [];
    for (let i = 0; i < 200; i++) {
      while (core0.runState() !== 'sleeping') await sleep(0);
      spinMicros(20); // let the core get into Atomics.wait; only true wake-ups are counted
      const v = ++seq.v;
      const t = process.hrtime.bigint();
      Atomics.store(i32, (echo.base + ECHO_REQUEST) >> 2, v);
      const woke = core0.ringDoorbell();
      while (Atomics.load(i32, (echo.base + ECHO_RESPONSE) >> 2) !== v);
      if (woke) wake.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    const c = core0.counters();
    say(
      `interrupt mode: idle process CPU ${idlePct.toFixed(2)} % of a core; 200 doorbells → ${c.wakeups - before.wakeups} wake-ups, wake-up from Atomics.wait p50 ${median(wake).toFixed(1)} µs`,
    );
    record('idle core in interrupt mode', `${idlePct.toFixed(2)} % CPU; wake-up p50 ${median(wake).toFixed(1)} µs`);
    await core0.detachJob(echoJob);
    await core0.setMode('adaptive', 4096);
  },
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
}
