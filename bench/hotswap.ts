import { readFileSync } from 'node:fs';
import { kernelFile, releaseFile } from '../src/common/package-paths.js';
import { inspectKernel } from '../src/dpu/kernel-image.js';
import type { Job } from '../src/dpu/dpu-core.js';
import type { LoadedKernel } from '../src/dpu/kernel-loader.js';
import { Host } from '../src/orchestrator/host.js';
import { AuditedTraffic } from '../src/ops/hot-swap/audited-traffic.js';
import { generateSigningKey, signModule, type ModuleSignature } from '../src/ops/hot-swap/signature.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';

const MIB = 1 << 20;

interface RunFigures {
  pauseUs: LatencySummary;
  commitMs: LatencySummary;
  swapMs: LatencySummary;
  verifyMs: number;
  stageMs: number;
  selfTestMs: number;
  coreLoadUs: number;
  peerCommitMs: LatencySummary;
  rateSwapping: number;
  rateQuiet: number;
  swaps: number;
  lost: number;
  duplicated: number;
  wrong: number;
  versionChanges: number;
  idlePauseUs: LatencySummary;
  idleSwapMs: LatencySummary;
}

/**
 * Suite "hotswap": the virtio module swapped back and forth (1.0.0 ↔ 1.1.0, both signed) on a
 * live DPU core in poll mode while a guest vCPU keeps its loopback ring full; every request is
 * audited (exactly once, stamped with the version that served it).
 *   pause         per core, from the commit being requested to the job running the new version (core-measured)
 *   commit-rtt    the commit as the control plane sees it (command posted → acknowledged); peer: the
 *                 same swap with the commands that existed before, detach the job then attach it to
 *                 the freshly staged version with the same state, measured the same way, same run
 *   whole-swap    stage + self-test + commit; verify (signature, checks) is reported on its own
 *   traffic       requests/s while swapping; peer: the same traffic with no swaps, same run
 *   lost / duplicated requests over all the swaps
 * Case swap-no-traffic: the same swaps with the guest idle (the device attached, its ring empty),
 * so that the core and the control plane do not share the CPUs with a spinning vCPU: the
 * mechanism's own cost.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const swaps = ctx.quick ? 20 : 120;
  const key = generateSigningKey();
  const mods = [kernelFile('virtio'), releaseFile('virtio', '1.1.0')].map((path) => {
    const bytes = readFileSync(path);
    return { bytes, signature: signModule(bytes, key.privateKeyPem, inspectKernel(bytes, 16384, path).info) };
  });
  const runs: RunFigures[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    runs.push(await oneRun(swaps, mods, key.publicKeyPem, ctx));
    ctx.progress(`run ${r + 1}/${ctx.runs}: ${swaps} swaps, pause p99 ${runs.at(-1)!.pauseUs.p99.toFixed(1)} µs, ${(runs.at(-1)!.rateSwapping / 1e6).toFixed(2)} M req/s`);
  }
  const m = <K extends keyof RunFigures>(k: K): number => median(runs.map((x) => x[k] as number));
  const pause = medianOf(runs.map((x) => x.pauseUs));
  const commit = medianOf(runs.map((x) => x.commitMs));
  const peer = medianOf(runs.map((x) => x.peerCommitMs));
  const whole = medianOf(runs.map((x) => x.swapMs));
  const c = 'swap-under-traffic';
  ctx.report({ case: c, metric: 'pause-p50', value: pause.p50, unit: 'us', better: 'lower' });
  ctx.report({ case: c, metric: 'pause-p99', value: pause.p99, unit: 'us', better: 'lower', target: 100 });
  ctx.report({ case: c, metric: 'pause-max', value: pause.max, unit: 'us', better: 'lower' });
  ctx.report({ case: c, metric: 'commit-rtt-p50', value: commit.p50, unit: 'ms', better: 'lower', peer: { name: 'detach+attach', value: peer.p50 } });
  ctx.report({ case: c, metric: 'commit-rtt-p99', value: commit.p99, unit: 'ms', better: 'lower', peer: { name: 'detach+attach', value: peer.p99 } });
  ctx.report({ case: c, metric: 'whole-swap-p50', value: whole.p50, unit: 'ms', better: 'lower', target: 10 });
  ctx.report({ case: c, metric: 'whole-swap-p99', value: whole.p99, unit: 'ms', better: 'lower', target: 10 });
  ctx.report({ case: c, metric: 'whole-swap-max', value: whole.max, unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'verify-p50', value: m('verifyMs'), unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'stage-p50', value: m('stageMs'), unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'self-test-p50', value: m('selfTestMs'), unit: 'ms', better: 'lower' });
  ctx.report({ case: c, metric: 'stage-core-stall-p50', value: m('coreLoadUs'), unit: 'us', better: 'lower' });
  ctx.report({ case: c, metric: 'traffic', value: m('rateSwapping'), unit: 'requests/s', better: 'higher', peer: { name: 'no-swaps', value: m('rateQuiet') }, target: 1e6 });
  ctx.report({ case: c, metric: 'swaps', value: runs.reduce((a, x) => a + x.swaps, 0), unit: 'swaps', better: 'higher' });
  ctx.report({ case: c, metric: 'version-changes-seen', value: runs.reduce((a, x) => a + x.versionChanges, 0), unit: 'changes', better: 'higher' });
  ctx.report({ case: c, metric: 'lost-requests', value: runs.reduce((a, x) => a + x.lost, 0), unit: 'requests', better: 'lower', target: 0 });
  ctx.report({ case: c, metric: 'duplicated-requests', value: runs.reduce((a, x) => a + x.duplicated + x.wrong, 0), unit: 'requests', better: 'lower', target: 0 });
  const idle = medianOf(runs.map((x) => x.idlePauseUs));
  const idleWhole = medianOf(runs.map((x) => x.idleSwapMs));
  ctx.report({ case: 'swap-no-traffic', metric: 'pause-p50', value: idle.p50, unit: 'us', better: 'lower' });
  ctx.report({ case: 'swap-no-traffic', metric: 'pause-p99', value: idle.p99, unit: 'us', better: 'lower', target: 100 });
  ctx.report({ case: 'swap-no-traffic', metric: 'pause-max', value: idle.max, unit: 'us', better: 'lower' });
  ctx.report({ case: 'swap-no-traffic', metric: 'whole-swap-p50', value: idleWhole.p50, unit: 'ms', better: 'lower', target: 10 });
  ctx.report({ case: 'swap-no-traffic', metric: 'whole-swap-p99', value: idleWhole.p99, unit: 'ms', better: 'lower', target: 10 });
}

async function oneRun(swaps: number, mods: { bytes: Uint8Array; signature: ModuleSignature }[], publicKeyPem: string, ctx: BenchContext): Promise<RunFigures> {
  const host = await Host.boot({ memory: { sizeBytes: 256 * MIB }, dpu: { cores: 1, mode: 'poll' }, trustedKeys: [publicKeyPem] });
  let traffic: AuditedTraffic | null = null;
  try {
    await host.loadKernel('virtio');
    const core = host.dpu.core(0);
    traffic = await AuditedTraffic.create({ memory: host.memory, runtime: host.runtime, core, name: 'bench', maxRequests: 1 << 28 });
    const t = traffic;
    const servedSince = async (n: number): Promise<void> => {
      const from = t.served();
      while (t.served() - from < n) await sleep(1); // a timer, not a spin: main must not take a CPU from the guest or the core
    };
    // Peer traffic: the same pump, no swaps.
    t.start();
    await sleep(ctx.quick ? 300 : 1000);
    const quiet = await t.stop();

    t.start();
    await servedSince(10_000);
    const pause: number[] = [];
    const commit: number[] = [];
    const whole: number[] = [];
    const verify: number[] = [];
    const stage: number[] = [];
    const selfTest: number[] = [];
    const coreLoad: number[] = [];
    for (let i = 0; i < swaps; i++) {
      const mod = mods[(i + 1) % 2]!;
      const r = await host.hotSwap('virtio', mod.bytes, { signature: mod.signature, graceMs: 0 });
      await r.settled;
      pause.push(r.cores[0]!.pauseNs / 1000);
      commit.push(r.commitMs);
      whole.push(r.swapMs);
      verify.push(r.verifyMs);
      stage.push(r.stageMs);
      selfTest.push(r.selfTestMs);
      coreLoad.push(r.coreLoadNs[0]! / 1000);
      await servedSince(2_000); // each version serves before the next swap
    }
    const swapping = await t.stop();
    if (swapping.unaudited > 0) throw new Error(`${swapping.unaudited} completions past the audit's capacity: raise maxRequests`);

    const idlePause: number[] = [];
    const idleWhole: number[] = [];
    for (let i = 0; i < swaps; i++) {
      const mod = mods[(i + 1) % 2]!;
      const r = await host.hotSwap('virtio', mod.bytes, { signature: mod.signature, graceMs: 0 });
      await r.settled;
      if (r.cores[0]!.jobs !== 1) throw new Error('the device job was not swapped');
      idlePause.push(r.cores[0]!.pauseNs / 1000);
      idleWhole.push(r.swapMs);
      await sleep(2);
    }

    // Peer: detach the device's job and attach it again on the other version, same state, same traffic.
    const peer = await detachAttach(host, t, swaps >> 1, mods);
    return {
      pauseUs: summarize(Float64Array.from(pause)),
      commitMs: summarize(Float64Array.from(commit)),
      swapMs: summarize(Float64Array.from(whole)),
      verifyMs: median(verify),
      stageMs: median(stage),
      selfTestMs: median(selfTest),
      coreLoadUs: median(coreLoad),
      peerCommitMs: summarize(Float64Array.from(peer)),
      rateSwapping: swapping.rate,
      rateQuiet: quiet.rate,
      swaps,
      lost: swapping.lost,
      duplicated: swapping.duplicates,
      wrong: swapping.wrong,
      versionChanges: swapping.transitions.length - 1,
      idlePauseUs: summarize(Float64Array.from(idlePause)),
      idleSwapMs: summarize(Float64Array.from(idleWhole)),
    };
  } finally {
    await traffic?.close();
    await host.shutdown();
  }
}

/**
 * The peer: the same swap made of the commands that existed before SwapKernel. Each round stages
 * the other version exactly as a hot swap does (placed, instantiated on the core, so the control
 * plane has just been busy, as before a real commit), then detaches the device's job and
 * attaches it to the new version with the same state; timed from the detach posted to the
 * attach acknowledged, like commit-rtt. The traffic is audited the same way.
 */
async function detachAttach(host: Host, t: AuditedTraffic, n: number, mods: { bytes: Uint8Array }[]): Promise<number[]> {
  const core = host.dpu.core(0);
  const live = host.swaps.liveVersion('virtio')!;
  const original = core.runningJobs()[0]!;
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
  t.start();
  try {
    for (let i = 0; i < n; i++) {
      const next = host.kernels.load(mods[i % 2]!.bytes, 'peer');
      await host.dpu.loadKernel(next);
      const t0 = performance.now();
      await moveTo(next);
      out.push(performance.now() - t0);
      await drop(staged);
      staged = next;
      await sleep(2);
    }
    await moveTo(live); // the device ends on the version the manager knows
    await drop(staged);
    staged = null;
    const r = await t.stop();
    if (r.lost + r.duplicates + r.wrong > 0) throw new Error(`detach+attach peer: ${r.lost} lost, ${r.duplicates} duplicated, ${r.wrong} wrong`);
  } finally {
    if (job !== original) await core.detachJob(job).catch(() => undefined);
    await drop(staged).catch(() => undefined);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
