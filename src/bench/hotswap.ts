import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { kernelFile, releaseFile } from '../common/package-paths.js';
import { inspectKernel } from '../common/kernel-image.js';
import type { Job } from '../dpu/core/dpu-core.js';
import type { LoadedKernel } from '../dpu/kernels/kernel-loader.js';
import type { PauseTrace } from '../dpu/core/pause-trace.js';
import { affinityUnsupported } from '../dpu/core/cpu-affinity.js';
import { DEFAULT_VCPU_NICE } from '../hypervisor/guest/vcpu.js';
import { Host } from '../orchestrator/host.js';
import { AuditedTraffic, type TrafficReport } from '../ops/hot-swap/audited-traffic.js';
import { generateSigningKey, signModule, type ModuleSignature } from '../ops/hot-swap/signature.js';
import { breakdown, cpuTicks, describeBreakdown, undisturbed, type PauseSample } from './lib/pause-breakdown.js';
import type { BenchContext } from './lib/report.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { originMs } from '../dpu/core/core-clock.js';
import { CpuTimeline } from '../ops/hot-swap/cpu-timeline.js';
import {
  attributePause,
  describeAttribution,
  ownThreadIds,
  sampleThread,
  threadDelta,
  type GcSpan,
  type PauseAttribution,
  type ThreadDelta,
  type ThreadSample,
} from '../ops/hot-swap/pause-attribution.js';
import { median, medianOf, spreadOf, summarize, type LatencySummary } from './lib/stats.js';

const MIB = 1 << 20;

type Module = { bytes: Uint8Array; signature: ModuleSignature };

/** One series of swaps: what each swap reported, and the traffic's audit over the series. */
interface Series {
  pauseUs: LatencySummary;
  commitMs: LatencySummary;
  swapMs: LatencySummary;
  verifyMs: number;
  stageMs: number;
  selfTestMs: number;
  coreStallUs: number;
  traffic: TrafficReport | null;
  /** Each commit's pause with the core's trace of it (the trace's details with --trace only). */
  pauses: PauseSample[];
  /** Share of the machine's CPU time stolen by the hypervisor during the series (%), or NaN. */
  stealPct: number;
  /** --trace with a CPU timeline: each commit over 100 µs, where its pause went. */
  slow: SlowCommit[];
}

/** A commit over 100 µs, attributed (--trace). */
interface SlowCommit {
  a: PauseAttribution;
  /** The scheduler's counters of the control, core and guest threads from the post to the ack. */
  control: ThreadDelta | null;
  core: ThreadDelta | null;
  guest: ThreadDelta | null;
}

interface RunFigures {
  spinning: Series;
  sleeping: Series;
  idle: Series;
  quietSpinningRate: number;
  quietSleepingRate: number;
  peerCommitMs: LatencySummary;
  /** The guest spinning again, the core on a CPU of its own (null where pinning is impossible). */
  pinned: { s: Series; quietRate: number } | null;
}

/**
 * Suite "hotswap": the virtio module swapped back and forth (1.0.0 ↔ 1.1.0, both signed) on a
 * live DPU core in poll mode while a guest vCPU keeps its loopback ring full; every request is
 * audited (exactly once, stamped with the version that served it).
 *   swap-under-traffic            the guest's vCPU spins on its ring (the most traffic, and a CPU
 *                                 fully taken: on a 2-CPU machine the core then shares CPUs
 *                                 with it and with the control plane)
 *   swap-under-traffic-guest-irq  the guest sleeps on its interrupt when it has nothing to reap,
 *                                 as a guest kernel's driver does
 *   swap-no-traffic               the device attached, its guest idle: the mechanism alone
 *   swap-under-traffic-pinned     the guest spinning, the core on a CPU of its own and every other
 *                                 thread off it (DpuOptions.cpus, DPDK-style lcore pinning): the
 *                                 DPU of the machine modelled, whose cores are not shared
 * Figures: pause per core (commit requested → the job runs the new version, measured by the
 * core); commit-rtt (posted → acknowledged) with the guest on interrupts, peer: the same swap
 * with the commands that existed before (detach the job, attach it to the staged version), same
 * run, same guest mode; whole swap (stage + self-test + commit) and its parts; traffic while
 * swapping, peer: the same traffic without swaps; lost and duplicated requests.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const swaps = ctx.quick ? 20 : 120;
  const key = generateSigningKey();
  const mods: Module[] = [kernelFile('virtio'), releaseFile('virtio', '1.1.0')].map((path) => {
    const bytes = readFileSync(path);
    return { bytes, signature: signModule(bytes, key.privateKeyPem, inspectKernel(bytes, 16384, path).info) };
  });
  const why = availableParallelism() < 2 ? 'one CPU: none to dedicate' : affinityUnsupported();
  if (why) ctx.progress(`swap-under-traffic-pinned skipped: ${why}`);
  const runs: RunFigures[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    const f = await oneRun(swaps, mods, key.publicKeyPem, ctx, why === null);
    runs.push(f);
    const pinned = f.pinned ? ` / ${f.pinned.s.pauseUs.p99.toFixed(0)} µs (guest spinning, core pinned)` : '';
    ctx.progress(
      `run ${r + 1}/${ctx.runs}: ${(f.pinned ? 4 : 3) * swaps} swaps; pause p99 ${f.spinning.pauseUs.p99.toFixed(0)} µs (guest spinning) / ${f.sleeping.pauseUs.p99.toFixed(0)} µs (guest on interrupts) / ${f.idle.pauseUs.p99.toFixed(0)} µs (idle)${pinned}`,
    );
  }
  report(
    ctx,
    'swap-under-traffic',
    runs.map((r) => r.spinning),
    median(runs.map((r) => r.quietSpinningRate)),
  );
  report(
    ctx,
    'swap-under-traffic-guest-irq',
    runs.map((r) => r.sleeping),
    median(runs.map((r) => r.quietSleepingRate)),
  );
  // The peer runs with the guest on interrupts, so commit-rtt is compared on that series.
  const commit = medianOf(runs.map((r) => r.sleeping.commitMs));
  const peer = medianOf(runs.map((r) => r.peerCommitMs));
  ctx.report({
    case: 'swap-under-traffic-guest-irq',
    metric: 'commit-rtt-p50',
    value: commit.p50,
    unit: 'ms',
    better: 'lower',
    spread: spreadOf(runs.map((r) => r.sleeping.commitMs.p50)),
    peer: { name: 'detach+attach, guest on interrupts', value: peer.p50 },
  });
  ctx.report({
    case: 'swap-under-traffic-guest-irq',
    metric: 'commit-rtt-p99',
    value: commit.p99,
    unit: 'ms',
    better: 'lower',
    peer: { name: 'detach+attach, guest on interrupts', value: peer.p99 },
  });
  report(
    ctx,
    'swap-no-traffic',
    runs.map((r) => r.idle),
    null,
  );
  const pinned = runs.flatMap((r) => (r.pinned ? [r.pinned] : []));
  if (pinned.length)
    report(
      ctx,
      'swap-under-traffic-pinned',
      pinned.map((p) => p.s),
      median(pinned.map((p) => p.quietRate)),
    );
}

function report(ctx: BenchContext, c: string, series: Series[], quietRate: number | null): void {
  const m = (k: 'verifyMs' | 'stageMs' | 'selfTestMs' | 'coreStallUs'): number => median(series.map((s) => s[k]));
  const pause = medianOf(series.map((s) => s.pauseUs));
  const whole = medianOf(series.map((s) => s.swapMs));
  ctx.report({ case: c, metric: 'pause-p50', value: pause.p50, unit: 'us', better: 'lower' });
  ctx.report({ case: c, metric: 'pause-p99', value: pause.p99, unit: 'us', better: 'lower', target: 100 });
  ctx.report({ case: c, metric: 'pause-max', value: pause.max, unit: 'us', better: 'lower' });
  // The target holds per run, not only for the median of the runs.
  series.forEach((s, i) =>
    ctx.report({ case: c, metric: `pause-p99-run${i + 1}`, value: s.pauseUs.p99, unit: 'us', better: 'lower' }),
  );
  const worst = Math.max(...series.map((s) => s.pauseUs.p99));
  ctx.report({ case: c, metric: 'pause-p99-worst-run', value: worst, unit: 'us', better: 'lower', target: 100 });
  ctx.report({ case: c, metric: 'steal', value: median(series.map((s) => s.stealPct)), unit: '%', better: 'lower' });
  if (ctx.trace) {
    // The commits during which the OS never took the core thread off its CPU: their pause is
    // the process's own doing. Per run, against the same target.
    const kept = series.map((s) => Float64Array.from(s.pauses.filter(undisturbed), (p) => p.pauseNs / 1000));
    const p99s = kept.map((k) => (k.length ? summarize(k).p99 : NaN));
    kept.forEach((k, i) => {
      ctx.report({
        case: c,
        metric: `pause-undisturbed-p99-run${i + 1}`,
        value: p99s[i]!,
        unit: 'us',
        better: 'lower',
      });
      ctx.report({
        case: c,
        metric: `undisturbed-commits-run${i + 1}`,
        value: k.length,
        unit: 'commits',
        better: 'higher',
      });
    });
    ctx.report({
      case: c,
      metric: 'pause-undisturbed-p99-worst-run',
      value: Math.max(...p99s.filter((x) => !Number.isNaN(x))),
      unit: 'us',
      better: 'lower',
      target: 100,
    });
    const b = breakdown(series.flatMap((s) => s.pauses));
    ctx.progress(`${c}: ${describeBreakdown(b)}`);
    const share = (x: number): number => (b.slowPauseUs > 0 ? (100 * x) / b.slowPauseUs : 0);
    ctx.report({ case: c, metric: 'slow-commits', value: b.slow, unit: 'commits', better: 'lower' });
    ctx.report({ case: c, metric: 'slow-pause-core-waiting', value: share(b.coreWaitUs), unit: '%', better: 'lower' });
    ctx.report({
      case: c,
      metric: 'slow-pause-vm-not-running',
      value: share(b.unaccountedUs),
      unit: '%',
      better: 'lower',
    });
    ctx.report({ case: c, metric: 'slow-pause-in-jobs', value: share(b.jobsUs), unit: '%', better: 'lower' });
    ctx.report({ case: c, metric: 'slow-pause-gcs', value: b.gcCount, unit: 'GCs', better: 'lower' });
    reportAttribution(ctx, c, series);
  }
  ctx.report({ case: c, metric: 'whole-swap-p50', value: whole.p50, unit: 'ms', better: 'lower', target: 10 });
  ctx.report({ case: c, metric: 'whole-swap-p99', value: whole.p99, unit: 'ms', better: 'lower', target: 10 });
  ctx.report({ case: c, metric: 'whole-swap-max', value: whole.max, unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'verify-p50', value: m('verifyMs'), unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'stage-p50', value: m('stageMs'), unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'self-test-p50', value: m('selfTestMs'), unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'stage-core-stall-p50', value: m('coreStallUs'), unit: 'us', better: 'lower' });
  if (quietRate === null) return;
  const t = series.map((s) => s.traffic!);
  const sum = (f: (x: TrafficReport) => number): number => t.reduce((a, x) => a + f(x), 0);
  ctx.report({
    case: c,
    metric: 'traffic',
    value: median(t.map((x) => x.rate)),
    unit: 'requests/s',
    better: 'higher',
    peer: { name: 'no-swaps', value: quietRate },
    target: 1e6,
  });
  ctx.report({
    case: c,
    metric: 'swaps',
    value: series.length * (t[0]!.transitions.length - 1),
    unit: 'swaps',
    better: 'higher',
  });
  ctx.report({
    case: c,
    metric: 'version-changes-seen',
    value: sum((x) => x.transitions.length - 1),
    unit: 'changes',
    better: 'higher',
  });
  ctx.report({
    case: c,
    metric: 'lost-requests',
    value: sum((x) => x.lost),
    unit: 'requests',
    better: 'lower',
    target: 0,
  });
  ctx.report({
    case: c,
    metric: 'duplicated-requests',
    value: sum((x) => x.duplicates + x.wrong),
    unit: 'requests',
    better: 'lower',
    target: 0,
  });
}

async function oneRun(
  swaps: number,
  mods: Module[],
  publicKeyPem: string,
  ctx: BenchContext,
  pin: boolean,
): Promise<RunFigures> {
  const shared = await sharedRun(swaps, mods, publicKeyPem, ctx);
  return { ...shared, pinned: pin ? await pinnedRun(swaps, mods, publicKeyPem, ctx) : null };
}

/** The guest spinning while the core has a CPU of its own: a host of its own, booted with DpuOptions.cpus. */
async function pinnedRun(
  swaps: number,
  mods: Module[],
  publicKeyPem: string,
  ctx: BenchContext,
): Promise<{ s: Series; quietRate: number }> {
  const host = await Host.boot({
    memory: { sizeBytes: 512 * MIB },
    dpu: { cores: 1, mode: 'poll', cpus: [availableParallelism() - 1], trace: ctx.trace },
    trustedKeys: [publicKeyPem],
  });
  let t: AuditedTraffic | null = null;
  const timeline = openTimeline(ctx);
  try {
    await host.loadKernel('virtio');
    t = await AuditedTraffic.create({
      memory: host.memory,
      runtime: host.runtime,
      core: host.dpu.core(0),
      name: 'pinned',
      maxRequests: 1 << 28,
    });
    t.start(600_000, { guestSleeps: false });
    await quietWindow(t, ctx.quick ? 300 : 1000);
    const quietRate = (await t.stop()).rate;
    t.start(600_000, { guestSleeps: false });
    await servedSince(t, 10_000);
    return { s: await swapSeries(host, mods, swaps, t, timeline), quietRate };
  } finally {
    await t?.close().catch(() => undefined);
    timeline?.close();
    await host.shutdown();
  }
}

async function sharedRun(
  swaps: number,
  mods: Module[],
  publicKeyPem: string,
  ctx: BenchContext,
): Promise<Omit<RunFigures, 'pinned'>> {
  const quietMs = ctx.quick ? 300 : 1000;
  const host = await Host.boot({
    memory: { sizeBytes: 512 * MIB },
    dpu: { cores: 1, mode: 'poll', trace: ctx.trace },
    trustedKeys: [publicKeyPem],
  });
  const traffic: AuditedTraffic[] = [];
  const timeline = openTimeline(ctx);
  try {
    // The figures depend on it: say at what priority the core really runs (a raise needs privileges).
    const prio = host.dpu.priorities()[0]!;
    ctx.progress(
      `core 0 at nice ${prio.nice}${prio.refused ? ` (nice ${prio.requested} refused: not permitted here)` : ''}; guest vCPUs at nice ${DEFAULT_VCPU_NICE}`,
    );
    await host.loadKernel('virtio');
    const core = host.dpu.core(0);
    const series = async (
      t: AuditedTraffic | null,
      guestSleeps: boolean,
    ): Promise<{ quietRate: number; s: Series }> => {
      let quietRate = NaN;
      if (t) {
        t.start(600_000, { guestSleeps });
        await quietWindow(t, quietMs);
        quietRate = (await t.stop()).rate; // the peer: the same traffic, no swaps
        t.start(600_000, { guestSleeps });
        await servedSince(t, 10_000);
      }
      const s = await swapSeries(host, mods, swaps, t, timeline);
      return { quietRate, s };
    };
    // A fresh guest per series: each audit covers exactly its own series.
    const make = async (name: string): Promise<AuditedTraffic> => {
      const t = await AuditedTraffic.create({
        memory: host.memory,
        runtime: host.runtime,
        core,
        name,
        maxRequests: 1 << 28,
      });
      traffic.push(t);
      return t;
    };
    const spin = await make('spin');
    const spinning = await series(spin, false);
    await spin.close();
    const sleeper = await make('irq');
    const sleeping = await series(sleeper, true);
    const idle = await series(null, false);
    const peer = await detachAttach(host, sleeper, swaps >> 1, mods);
    return {
      spinning: spinning.s,
      sleeping: sleeping.s,
      idle: idle.s,
      quietSpinningRate: spinning.quietRate,
      quietSleepingRate: sleeping.quietRate,
      peerCommitMs: summarize(Float64Array.from(peer)),
    };
  } finally {
    // The host always shuts down (its cores spin in poll mode: a process left with them never exits).
    for (const t of traffic) await t.close().catch(() => undefined);
    timeline?.close();
    await host.shutdown();
  }
}

let timelineRefusal: string | null = null;

/** --trace: the machine's CPU timeline, or null (said once why not). */
function openTimeline(ctx: BenchContext): CpuTimeline | null {
  if (!ctx.trace) return null;
  const tl = CpuTimeline.open();
  if (typeof tl !== 'string') return tl;
  if (timelineRefusal === null) ctx.progress(`no CPU timeline, commits attributed from counters only: ${tl}`);
  timelineRefusal = tl;
  return null;
}

/** `swaps` swaps, alternating the two versions; with traffic, each version serves before the next swap. */
async function swapSeries(
  host: Host,
  mods: Module[],
  swaps: number,
  t: AuditedTraffic | null,
  timeline: CpuTimeline | null,
): Promise<Series> {
  const pause: number[] = [];
  const commit: number[] = [];
  const whole: number[] = [];
  const verify: number[] = [];
  const stage: number[] = [];
  const selfTest: number[] = [];
  const stall: number[] = [];
  const pauses: PauseSample[] = [];
  const ticks0 = cpuTicks();
  const live = host.swaps.liveVersion('virtio')!.info.version;
  const probe = timeline ? new SeriesProbe(host, t?.vcpuTid ?? 0, timeline) : null;
  for (let i = 0; i < swaps; i++) {
    const mod = mods[(i + (live === '1.0.0' ? 1 : 0)) % 2]!;
    const r = await host.hotSwap('virtio', mod.bytes, { signature: mod.signature, graceMs: 0 });
    probe?.committed(r.cores[0]!.pauseNs, r.cores[0]!.trace);
    await r.settled;
    if (r.cores[0]!.jobs !== 1) throw new Error(`swap ${i}: ${r.cores[0]!.jobs} jobs moved, expected the device's one`);
    pause.push(r.cores[0]!.pauseNs / 1000);
    pauses.push({ pauseNs: r.cores[0]!.pauseNs, trace: r.cores[0]!.trace });
    commit.push(r.commitMs);
    whole.push(r.swapMs);
    verify.push(r.verifyMs);
    stage.push(r.stageMs);
    selfTest.push(r.selfTestMs);
    stall.push(r.coreLoadNs[0]! / 1000);
    if (t) await servedSince(t, 2_000);
    else await sleep(2);
  }
  const slow = probe?.finish() ?? [];
  const ticks1 = cpuTicks();
  const stealPct =
    ticks0 && ticks1 && ticks1.total > ticks0.total
      ? (100 * (ticks1.steal - ticks0.steal)) / (ticks1.total - ticks0.total)
      : NaN;
  let traffic: TrafficReport | null = null;
  if (t) {
    traffic = await t.stop();
    if (traffic.unaudited > 0)
      throw new Error(`${traffic.unaudited} completions past the audit's capacity: raise maxRequests`);
  }
  return {
    pauseUs: summarize(Float64Array.from(pause)),
    commitMs: summarize(Float64Array.from(commit)),
    swapMs: summarize(Float64Array.from(whole)),
    verifyMs: median(verify),
    stageMs: median(stage),
    selfTestMs: median(selfTest),
    coreStallUs: median(stall),
    traffic,
    pauses,
    stealPct,
    slow,
  };
}

/**
 * --trace: follows each commit of a series: the machine's CPU timeline (who held which CPU),
 * GCs of the control thread's heap, and the control, core and guest threads' scheduler counters
 * sampled as the commit is posted ('staged' is emitted just before) and once it is acknowledged.
 */
class SeriesProbe {
  private readonly gcs: GcSpan[] = [];
  private readonly obs: PerformanceObserver;
  private readonly origin = originMs();
  private readonly pending: { pauseNs: number; trace: PauseTrace; before: ThreadSample[]; after: ThreadSample[] }[] =
    [];
  private before: (ThreadSample | null)[] = [];
  private coreTid = 0;
  private readonly onStaged = (): void => {
    this.before = this.sample();
  };

  constructor(
    private readonly host: Host,
    private readonly guestTid: number,
    private readonly timeline: CpuTimeline,
  ) {
    this.obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const startNs = (e.startTime + this.origin) * 1e6;
        this.gcs.push({ startNs, endNs: startNs + e.duration * 1e6 });
      }
    });
    this.obs.observe({ entryTypes: ['gc'] });
    host.swaps.on('staged', this.onStaged);
    timeline.start();
  }

  private sample(): (ThreadSample | null)[] {
    return [process.pid, this.coreTid, this.guestTid].map((tid) => sampleThread(tid));
  }

  committed(pauseNs: number, trace: PauseTrace): void {
    this.coreTid = trace.coreTid;
    const after = this.sample();
    if (pauseNs > 100_000)
      this.pending.push({
        pauseNs,
        trace,
        before: this.before as ThreadSample[],
        after: after as ThreadSample[],
      });
  }

  finish(): SlowCommit[] {
    this.host.swaps.off('staged', this.onStaged);
    const switches = this.timeline.collect();
    this.obs.disconnect();
    const own = ownThreadIds();
    const threads = { control: process.pid, guest: this.guestTid };
    return this.pending.map((p) => ({
      a: attributePause(p.trace, switches, threads, own, this.gcs),
      control: threadDelta(p.before[0] ?? null, p.after[0] ?? null),
      core: threadDelta(p.before[1] ?? null, p.after[1] ?? null),
      guest: threadDelta(p.before[2] ?? null, p.after[2] ?? null),
    }));
  }
}

/**
 * Waits (on a timer, never spinning: main must not take a CPU from the guest or the core)
 * until the device served `n` more requests.
 */
/**
 * The no-swaps peer's window: at least `ms`, and at least until 10,000 requests were served, the
 * mark our series waits for too; on a loaded machine a guest vCPU at nice 10 may not run at all
 * in a short window, and a rate of 0 would compare nothing.
 */
async function quietWindow(t: AuditedTraffic, ms: number): Promise<void> {
  await Promise.all([sleep(ms), servedSince(t, 10_000)]);
}

async function servedSince(t: AuditedTraffic, n: number): Promise<void> {
  const from = t.served();
  while (t.served() - from < n) await sleep(1);
}

/**
 * The peer: the same swap made of the commands that existed before SwapKernel. Each round stages
 * the other version exactly as a hot swap does (placed, instantiated on the core, so the control
 * plane has just been busy, as before a real commit), then detaches the device's job and
 * attaches it to the new version with the same state; timed from the detach posted to the
 * attach acknowledged, like commit-rtt. The traffic is audited the same way.
 */
async function detachAttach(host: Host, t: AuditedTraffic, n: number, mods: Module[]): Promise<number[]> {
  const core = host.dpu.core(0);
  const live = host.swaps.liveVersion('virtio')!;
  const original = core.runningJobs().find((j) => j.state === t.device.state.base)!;
  const state = original.state;
  let job: Job = original;
  let staged: LoadedKernel | null = null;
  const out: number[] = [];
  const moveTo = async (k: LoadedKernel): Promise<void> => {
    await core.detachJob(job);
    job = await core.attachJob({ kernel: k, entry: 'vloop_run', arm: 'vloop_arm', state, budget: 64 });
  };
  const drop = async (k: LoadedKernel | null): Promise<void> => {
    if (!k || k === live) return;
    await host.dpu.unloadKernel(k);
    host.kernels.unload(k);
  };
  t.start(600_000, { guestSleeps: true });
  try {
    for (let i = 0; i < n; i++) {
      const next = host.kernels.load(mods[i % 2]!.bytes, 'peer');
      await host.dpu.loadKernel(next);
      const t0 = performance.now();
      await moveTo(next);
      out.push(performance.now() - t0);
      await drop(staged);
      staged = next;
      await servedSince(t, 2_000);
    }
    await moveTo(live); // the device ends on the version the manager knows
    await drop(staged);
    staged = null;
    const r = await t.stop();
    if (r.lost + r.duplicates + r.wrong > 0)
      throw new Error(`detach+attach peer: ${r.lost} lost, ${r.duplicates} duplicated, ${r.wrong} wrong`);
  } finally {
    if (job !== original) await core.detachJob(job).catch(() => undefined);
    await drop(staged).catch(() => undefined);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * --trace with a CPU timeline: where the slow commits' pause went, as shares of their summed
 * pause (core on a CPU: our code; waiting behind the guest, the control thread, our other
 * threads, or other processes: the OS scheduler), per run; and the worst commits one by one.
 */
function reportAttribution(ctx: BenchContext, c: string, series: Series[]): void {
  if (!series.some((s) => s.slow.length)) return;
  const keys = ['coreOnCpu', 'coreBlocked', 'guest', 'control', 'own', 'foreign'] as const;
  series.forEach((s, i) => {
    const total = s.slow.reduce((x, w) => x + w.a.pauseUs, 0);
    const sum = (k: (typeof keys)[number]): number =>
      s.slow.reduce(
        (x, w) => x + (k === 'coreOnCpu' ? w.a.coreOnCpu : k === 'coreBlocked' ? w.a.coreBlocked : w.a.behind[k]),
        0,
      );
    for (const k of keys) {
      const metric = k === 'coreOnCpu' ? 'core-on-cpu' : k === 'coreBlocked' ? 'core-blocked' : `core-behind-${k}`;
      ctx.report({
        case: c,
        metric: `slow-${metric}-run${i + 1}`,
        value: total > 0 ? (100 * sum(k)) / total : 0,
        unit: '%',
        better: k === 'foreign' ? 'higher' : 'lower',
      });
    }
  });
  const worst = series
    .flatMap((s, i) => s.slow.map((w) => ({ run: i + 1, w })))
    .sort((x, y) => y.w.a.pauseUs - x.w.a.pauseUs)
    .slice(0, 10);
  // The evidence itself, whatever the output mode: stderr, one line per commit (the worst ten).
  process.stderr.write(
    `[hotswap] ${c}: the ${worst.length} slowest of ${series.reduce((x, s) => x + s.slow.length, 0)} commits over 100 µs\n`,
  );
  for (const { run, w } of worst) {
    const d = (n: string, x: ThreadDelta | null): string =>
      x ? `${n} ran ${x.runUs.toFixed(0)} waited ${x.waitUs.toFixed(0)} µs, ${x.nonvoluntary} preemptions` : '';
    process.stderr.write(
      `[hotswap]   run ${run}: ${describeAttribution(w.a)}; post→ack: ${[d('control', w.control), d('core', w.core), d('guest', w.guest)].filter(Boolean).join('; ')}\n`,
    );
  }
}
