import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { pinThread, threadAffinity } from '../dpu/core/cpu-affinity.js';
import { threadSchedstat } from '../dpu/core/pause-trace.js';
import type { DpuCore } from '../dpu/core/dpu-core.js';
import type { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import * as G from '../generated/guest.js';
import { GuestVcpu } from '../hypervisor/guest/vcpu.js';
import {
  histogramQuantile,
  probeBucketRange,
  readProbeBuckets,
  TIMER_PROBE_BYTES,
} from '../hypervisor/sched/timer-probe.js';
import { expandCpuList } from '../hypervisor/sched/vcpu-thread.js';
import { VCPU_CLASS_NICE } from '../hypervisor/sched/vcpu-class.js';
import type { Region } from '../common/host-memory-api.js';
import type { HostMemory } from '../memory/host-memory.js';
import { AuditedTraffic } from '../ops/hot-swap/audited-traffic.js';
import { relocateBackend, type GuestKickSites, type MovableBackend } from '../orchestrator/sched/device-relocation.js';
import type { BenchContext } from './lib/report.js';
import { median, spreadOf } from './lib/stats.js';

/**
 * The timer-probe cases of suite "hv" (the Zero scheduler's "zero jitter" as a figure). A
 * latency-sensitive guest vCPU (class latency-sensitive, pinned to the first CPU "G") runs the
 * timer probe (assembly/guest/timer-probe.ts): it wakes every millisecond and records how late
 * it got back into the guest. Its lateness p50/p99/p99.9 in three configurations:
 *
 *   timer-alone       nothing else of ours runs (the machine's other load still does)
 *   timer-shared      a noisy neighbour guest and a device backend share G with the probe:
 *                       - the neighbour's vCPU 0 (best-effort, pinned to G) spins;
 *                       - its vCPU 1 (normal, pinned to the second CPU "D") keeps a virtio
 *                         loopback device's ring full (audited: every request must come back
 *                         exactly once), and that device's backend runs on DPU core 0, pinned to G
 *   timer-relocated   the same, after the device's backend was moved live (Vm.placeDevice's
 *                     mechanism) to DPU core 1, pinned to D: G keeps the probe and the
 *                     best-effort spinner
 *
 * The DPU cores run at nice -10 (as on a host that has CPUs to spare for them), the probe at -5
 * (its class), so on a shared CPU the backend runs ahead of the probe, and the probe ahead of the
 * best-effort neighbour. On this 2-CPU machine the "dedicated DPU core" is the other CPU, which
 * the neighbour's I/O vCPU also uses. Each run measures all three, in a rotated order; medians
 * of the runs are reported, and the neighbour's request rate and the load average beside them.
 */
export async function timer(ctx: BenchContext, memory: HostMemory, runtime: LoaderRuntime): Promise<void> {
  const cpus = expandCpuList(threadAffinity(process.pid));
  if (cpus.length < 2) {
    ctx.progress(`timer-*: skipped, needs 2 CPUs for this process (it may run on ${cpus.join(',')})`);
    return;
  }
  const [g, d] = [cpus[0]!, cpus[1]!];
  const windowMs = ctx.quick ? 1500 : 4000;
  const settleMs = 200;
  const pool = await DpuCorePool.start(memory, { cores: 2, mode: 'adaptive', nice: -10 });
  const regions: Region[] = [];
  const vcpus: GuestVcpu[] = [];
  let traffic: AuditedTraffic | null = null;
  try {
    await pool.loadKernel(runtime.kernel('virtio'));
    const [coreG, coreD] = [pool.cores[0]!, pool.cores[1]!];
    pinCore(coreG, g);
    pinCore(coreD, d);

    const ctl = memory.alloc({ name: 'timer:ctl', owner: 'bench', kind: 'device-state', sizeBytes: G.VMC_BYTES });
    const probe = memory.alloc({
      name: 'timer:probe',
      owner: 'bench',
      kind: 'guest-ram',
      sizeBytes: TIMER_PROBE_BYTES,
    });
    regions.push(ctl, probe);
    memory.view.setUint32(ctl.base, G.VMC_MAGIC, true);
    memory.view.setUint32(ctl.base + G.VMC_VCPUS, 1, true);
    const probeVcpu = new GuestVcpu(memory, 'probe/vcpu0', { class: 'latency-sensitive', cpus: [g] });
    const spinner = new GuestVcpu(memory, 'neighbour/vcpu0', { class: 'best-effort', cpus: [g] });
    vcpus.push(probeVcpu, spinner);
    if ((await probeVcpu.call('gprobe_init', probe.base, 1_000_000n)) !== 0) throw new Error('timer probe refused');
    const probeTid = (await probeVcpu.placement()).tid;
    const probeRun = probeVcpu.runProgram('gvm_probe', [ctl.base, probe.base], ctl.base);

    const tr = await AuditedTraffic.create({
      memory,
      runtime,
      core: coreG,
      name: 'neighbour',
      queueSize: 256,
      vcpu: { class: 'normal', cpus: [d] },
    });
    traffic = tr;
    const dev: MovableBackend = {
      name: tr.device.name,
      stop: () => tr.device.stop(),
      start: (core) => tr.device.start({ core, budget: 64 }),
    };
    const sites: GuestKickSites = {
      ram: { base: tr.guest.ramBase, bytes: tr.guest.ramBytes },
      drivers: [tr.guest.host(tr.queue.stateGpa)],
    };
    let at: DpuCore = coreG;
    const moveTo = async (core: DpuCore): Promise<number> => {
      const r = await relocateBackend(memory.i32, dev, at, core, sites);
      at = core;
      return r.pauseNs;
    };

    type Config = 'alone' | 'shared' | 'relocated';
    type Figures = { p50: number; p99: number; p999: number; samples: number; rate: number };
    // Per window: the share of it (%) the neighbour's I/O vCPU and the backend's core spent
    // runnable but waiting for a CPU (Linux schedstat): what says whether they shared one.
    type Waits = { vcpuWait: number; coreWait: number };
    const figures: Record<Config, (Figures & Waits)[]> = {
      alone: [],
      shared: [],
      relocated: [],
    };
    const pauses: number[] = [];
    const loads: number[] = [];
    const orders: Config[][] = [
      ['alone', 'shared', 'relocated'],
      ['shared', 'relocated', 'alone'],
      ['relocated', 'alone', 'shared'],
    ];
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

    for (let r = 0; r < ctx.runs; r++) {
      for (const config of orders[r % orders.length]!) {
        loads.push(loadavg()[0]!);
        let spin: Promise<unknown> | null = null;
        if (config !== 'alone') {
          tr.start();
          spin = spinner.timed('gdrv_bytes', [2], windowMs + 3 * settleMs);
          await sleep(settleMs);
          // Moved live, under the neighbour's traffic.
          if (config === 'relocated') pauses.push(await moveTo(coreD));
          await sleep(settleMs);
        }
        const served0 = tr.served();
        const before = readProbeBuckets(memory.view, probe.base);
        const coreTid = at.threadId() ?? 0;
        const w0 = [threadSchedstat('self', tr.vcpuTid), threadSchedstat('self', coreTid)];
        const t0 = performance.now();
        await sleep(windowMs);
        const after = readProbeBuckets(memory.view, probe.base);
        const elapsedMs = performance.now() - t0;
        const rate = ((tr.served() - served0) * 1000) / elapsedMs;
        const w1 = [threadSchedstat('self', tr.vcpuTid), threadSchedstat('self', coreTid)];
        const waitPct = (i: number): number =>
          w0[i] && w1[i] ? (100 * (w1[i][1] - w0[i][1])) / (elapsedMs * 1e6) : NaN;
        const waits: Waits = { vcpuWait: waitPct(0), coreWait: waitPct(1) };
        const w = windowQuantiles(before, after);
        // Someone else may renice this process's threads (a shared machine): say so beside the figure.
        const nice = niceOf(probeTid);
        if (config !== 'alone') {
          const report = await tr.stop();
          if (report.lost || report.duplicates || report.wrong)
            throw new Error(
              `timer-${config}: the neighbour's traffic lost ${report.lost}, doubled ${report.duplicates}, garbled ${report.wrong} requests`,
            );
          await spin;
          if (config === 'relocated') await moveTo(coreG);
        }
        figures[config].push({ ...w, rate, ...waits });
        ctx.progress(
          `run ${r + 1}/${ctx.runs} ${config}: lateness p50 ${us(w.p50)} p99 ${us(w.p99)} p99.9 ${us(w.p999)} µs ` +
            `(${w.samples} wake-ups), neighbour ${rate.toFixed(0)} req/s (its I/O vCPU waiting for a CPU ` +
            `${waits.vcpuWait.toFixed(0)} %, the backend's core ${waits.coreWait.toFixed(0)} % of the window), ` +
            `load ${loads.at(-1)!.toFixed(1)}` +
            (nice === VCPU_CLASS_NICE['latency-sensitive'] ? '' : `, probe reniced to ${nice} from outside`),
        );
      }
    }

    Atomics.store(memory.i32, (ctl.base + G.VMC_RUN) >> 2, G.VMC_STOPPED);
    Atomics.add(memory.i32, (ctl.base + G.VMC_WAKE) >> 2, 1);
    Atomics.notify(memory.i32, (ctl.base + G.VMC_WAKE) >> 2);
    await probeRun;

    const med = (c: Config, k: 'p50' | 'p99' | 'p999' | 'rate' | 'vcpuWait' | 'coreWait'): number =>
      median(figures[c].map((f) => f[k]));
    for (const c of ['alone', 'shared', 'relocated'] as const) {
      for (const [k, metric] of [
        ['p50', 'lateness p50'],
        ['p99', 'lateness p99'],
        ['p999', 'lateness p99.9'],
      ] as const) {
        ctx.report({
          case: `timer-${c}`,
          metric,
          value: med(c, k) / 1000,
          unit: 'µs',
          better: 'lower',
          spread: spreadOf(
            figures[c].map((f) => f[k]),
            1000,
          ),
        });
      }
      if (c !== 'alone') {
        ctx.report({
          case: `timer-${c}`,
          metric: 'neighbour I/O',
          value: med(c, 'rate'),
          unit: 'req/s',
          better: 'higher',
        });
        // In `relocated` the backend's core and the neighbour's I/O vCPU are both on the second
        // CPU: the rate falls with the vCPU's wait (the DPU of the machine modelled has cores of its own).
        ctx.report({
          case: `timer-${c}`,
          metric: 'neighbour I/O vCPU waiting',
          value: med(c, 'vcpuWait'),
          unit: '%',
          better: 'lower',
        });
        ctx.report({
          case: `timer-${c}`,
          metric: 'backend core waiting',
          value: med(c, 'coreWait'),
          unit: '%',
          better: 'lower',
        });
      }
    }
    const gains = figures.shared.map((s, i) => s.p99 / Math.max(1, figures.relocated[i]!.p99));
    ctx.report({
      case: 'timer-relocated',
      metric: 'p99 gain over shared',
      value: median(gains),
      unit: 'x',
      better: 'higher',
      target: 5,
      spread: spreadOf(gains),
    });
    ctx.report({
      case: 'timer-relocated',
      metric: 'relocation pause',
      value: median(pauses) / 1000,
      unit: 'µs',
      better: 'lower',
    });
    ctx.report({
      case: 'timer-alone',
      metric: 'load average (1 min)',
      value: median(loads),
      unit: 'load',
      better: 'lower',
    });
  } finally {
    if (traffic) await traffic.close();
    await Promise.all(vcpus.map((v) => v.stop()));
    await pool.close();
    for (const r of regions) memory.free(r, 'bench');
  }
}

/** Pins a DPU core's thread to `cpu` (its id is known once its reactor runs). */
function pinCore(core: DpuCore, cpu: number): void {
  const tid = core.threadId();
  if (tid === null) throw new Error(`timer: DPU core ${core.id} has no thread id to pin`);
  pinThread(tid, String(cpu));
}

/** Lateness quantiles (ns) of the wake-ups recorded between two reads of the histogram. */
function windowQuantiles(
  before: Float64Array,
  after: Float64Array,
): { p50: number; p99: number; p999: number; samples: number } {
  const delta = after.map((n, b) => n - before[b]!);
  let samples = 0;
  let top = 0;
  for (let b = 0; b < delta.length; b++) {
    samples += delta[b]!;
    if (delta[b]! > 0) top = b;
  }
  const max = probeBucketRange(top)[1];
  return {
    p50: histogramQuantile(delta, samples, 0.5, max),
    p99: histogramQuantile(delta, samples, 0.99, max),
    p999: histogramQuantile(delta, samples, 0.999, max),
    samples,
  };
}

/** A thread's nice value as the kernel has it (/proc stat field 19), NaN where unreadable. */
function niceOf(tid: number): number {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  } catch {
    return NaN;
  }
}

function us(ns: number): string {
  return (ns / 1000).toFixed(ns < 10_000 ? 1 : 0);
}
