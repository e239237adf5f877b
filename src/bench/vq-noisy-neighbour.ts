import type { RingFeatures } from '../common/virtio/features.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { LoopbackDevice } from '../dpu/virtio/loopback-device.js';
import { BulkTraffic, type BulkReport } from '../hypervisor/guest/bulk-traffic.js';
import { Guest } from '../hypervisor/guest/guest.js';
import { GuestQueue } from '../hypervisor/guest/guest-queue.js';
import { GuestVcpu } from '../hypervisor/guest/vcpu.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';

const MIB = 1 << 20;
const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };
/** The big-buffer guest: 16 requests of 8 MiB each way in flight (one readable, one writable buffer). */
const BULK = { chains: 16, segments: 1, chainBytes: 8 * MIB, verify: false };

/**
 * The neighbour's round trips over one stretch: all of them, and those during which the OS kept
 * neither its vCPU nor the core off a CPU (undisturbed: what the core itself made it wait).
 */
interface Rtt {
  all: LatencySummary;
  undisturbed: LatencySummary;
  /** The share of samples undisturbed, 0–1. */
  undisturbedShare: number;
}

interface RunFigures {
  alone: Rtt;
  beside: Rtt;
  besideUnbudgeted: Rtt;
  /** The big-buffer guest alone, GB/s: with the default turn budget, and without budgets. */
  bulkGBs: number;
  bulkUnbudgetedGBs: number;
  /** Its longest turn, as the core counted it (work units ≈ bytes). */
  maxTurnWork: number;
  maxTurnWorkUnbudgeted: number;
}

/**
 * Case "noisy-neighbour": one DPU core (poll mode) serves a guest echoing one 64-byte request at
 * a time from its vCPU and a guest keeping 16 requests of 8 MiB in flight (a vCPU of its own,
 * sleeping on its interrupt between completions). The neighbour's round trip alone, beside the
 * big-buffer guest with the default work budget, and beside one without (turnBytes 0: a turn
 * echoes whole requests, the behaviour before budgets); and the big-buffer guest's own
 * throughput alone with and without budgets (the cost of fairness). Medians of interleaved runs.
 * On a shared machine the OS preempts the vCPU or the core for far longer than any turn, so each
 * round trip also carries the scheduler's view (GuestVcpu.rtt `watchTids`), and the
 * `-undisturbed` figures keep only those during which neither thread was kept off a CPU.
 */
export async function noisyNeighbour(ctx: BenchContext): Promise<void> {
  const runs: RunFigures[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    const f = await oneRun(ctx);
    runs.push(f);
    const p99 = (x: Rtt): string =>
      `${x.all.p99.toFixed(1)} µs (undisturbed ${x.undisturbed.p99.toFixed(1)} µs, ` +
      `${(100 * x.undisturbedShare).toFixed(0)} % of samples)`;
    ctx.progress(
      `noisy-neighbour run ${r + 1}/${ctx.runs}: neighbour RTT p99 ${p99(f.alone)} alone, ` +
        `${p99(f.beside)} beside the big-buffer guest, ${p99(f.besideUnbudgeted)} beside it without budgets; ` +
        `big-buffer guest ${f.bulkGBs.toFixed(2)} GB/s (without budgets ${f.bulkUnbudgetedGBs.toFixed(2)}); ` +
        `its longest turn ${f.maxTurnWork} / ${f.maxTurnWorkUnbudgeted} units`,
    );
  }
  const alone = medianOf(runs.map((r) => r.alone.all));
  const beside = medianOf(runs.map((r) => r.beside.all));
  const without = medianOf(runs.map((r) => r.besideUnbudgeted.all));
  const aloneU = medianOf(runs.map((r) => r.alone.undisturbed));
  const besideU = medianOf(runs.map((r) => r.beside.undisturbed));
  const withoutU = medianOf(runs.map((r) => r.besideUnbudgeted.undisturbed));
  const c = 'noisy-neighbour';
  ctx.report({ case: c, metric: 'neighbour-rtt-p50-alone', value: alone.p50, unit: 'us', better: 'lower' });
  ctx.report({ case: c, metric: 'neighbour-rtt-p99-alone', value: alone.p99, unit: 'us', better: 'lower' });
  ctx.report({
    case: c,
    metric: 'neighbour-rtt-p50',
    value: beside.p50,
    unit: 'us',
    better: 'lower',
    peer: { name: 'no-budgets', value: without.p50 },
  });
  ctx.report({
    case: c,
    metric: 'neighbour-rtt-p99',
    value: beside.p99,
    unit: 'us',
    better: 'lower',
    peer: { name: 'no-budgets', value: without.p99 },
    target: 1000,
  });
  ctx.report({
    case: c,
    metric: 'neighbour-rtt-max',
    value: beside.max,
    unit: 'us',
    better: 'lower',
    peer: { name: 'no-budgets', value: without.max },
  });
  // The same with the samples the OS disturbed left out: the core's own doing.
  ctx.report({
    case: c,
    metric: 'neighbour-rtt-p99-undisturbed-alone',
    value: aloneU.p99,
    unit: 'us',
    better: 'lower',
  });
  ctx.report({
    case: c,
    metric: 'neighbour-rtt-p99-undisturbed',
    value: besideU.p99,
    unit: 'us',
    better: 'lower',
    peer: { name: 'no-budgets', value: withoutU.p99 },
    target: 1000,
  });
  ctx.report({
    case: c,
    metric: 'neighbour-rtt-max-undisturbed',
    value: besideU.max,
    unit: 'us',
    better: 'lower',
    peer: { name: 'no-budgets', value: withoutU.max },
  });
  ctx.report({
    case: c,
    metric: 'neighbour-undisturbed-share',
    value: median(runs.map((r) => 100 * r.beside.undisturbedShare)),
    unit: '%',
    better: 'higher',
    peer: { name: 'no-budgets', value: median(runs.map((r) => 100 * r.besideUnbudgeted.undisturbedShare)) },
  });
  ctx.report({
    case: c,
    metric: 'big-buffer-throughput',
    value: median(runs.map((r) => r.bulkGBs)),
    unit: 'GB/s',
    better: 'higher',
    peer: { name: 'no-budgets', value: median(runs.map((r) => r.bulkUnbudgetedGBs)) },
  });
  ctx.report({
    case: c,
    metric: 'big-buffer-longest-turn',
    value: median(runs.map((r) => r.maxTurnWork)),
    unit: 'work units',
    better: 'lower',
    peer: { name: 'no-budgets', value: median(runs.map((r) => r.maxTurnWorkUnbudgeted)) },
  });
}

async function oneRun(ctx: BenchContext): Promise<RunFigures> {
  const samples = ctx.quick ? 300 : 2000;
  const memory = new HostMemory({ sizeBytes: 1024 * MIB });
  const rt = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores: 1, mode: 'poll' });
  const vcpu = new GuestVcpu(memory, 'nb/vcpu0');
  const closers: (() => Promise<void>)[] = [];
  try {
    await pool.loadKernel(rt.kernel('virtio'));
    const core = pool.cores[0]!;
    const g = new Guest(memory, { name: 'nb', ramBytes: 8 * MIB });
    const q = await GuestQueue.create(g, vcpu, 256, SPLIT);
    const nb = new LoopbackDevice(rt, g, 'nb:loop', { maxQueueSize: 256 });
    nb.configure(q.config);
    await nb.start({ core, budget: 64 });
    await q.bind(nb.notifyWords(), nb.queue.irqAddr);
    const tid = core.threadId();
    const rtt = async (n: number): Promise<Rtt> => {
      const s = await q.rtt(n, 'poll', tid === null ? [] : [tid]);
      if (s.timeouts) throw new Error(`noisy-neighbour: ${s.timeouts} echoes timed out`);
      const switched = s.switched!;
      const kept = s.samplesUs.filter((_, i) => switched[i] === 0);
      return {
        all: summarize(s.samplesUs),
        undisturbed: kept.length ? summarize(kept) : { p50: NaN, p99: NaN, max: NaN },
        undisturbedShare: kept.length / n,
      };
    };
    // One big-buffer guest at a time: with the default budget, then without.
    const bulkGuest = async (turnBytes: number | undefined): Promise<{ dev: LoopbackDevice; bulk: BulkTraffic }> => {
      const bg = new Guest(memory, {
        name: `bulk${turnBytes ?? 'd'}`,
        ramBytes: 2 * BULK.chains * BULK.chainBytes + 8 * MIB,
      });
      const dev = new LoopbackDevice(rt, bg, `${bg.name}:loop`, {
        maxQueueSize: 64,
        ...(turnBytes === undefined ? {} : { turnBytes }),
      });
      const bulk = await BulkTraffic.create(bg, dev.queue.irqAddr, BULK);
      dev.configure(bulk.config);
      await dev.start({ core, budget: 64 });
      closers.push(async () => {
        await dev.stop();
        await bulk.close();
      });
      return { dev, bulk };
    };
    const turnOf = (dev: LoopbackDevice): number =>
      core.jobCounters().find((j) => j.jobId === core.runningJobs().find((x) => x.state === dev.state.base)!.id)!
        .maxTurnWork;
    /** The neighbour's RTT while the big-buffer guest runs, and that guest's throughput alone. */
    const measure = async (b: { dev: LoopbackDevice; bulk: BulkTraffic }, n: number) => {
      // One round first: every page of its buffers is touched (faulted in) before anything is timed.
      check(await b.bulk.run(0, b.dev.notifyWords()));
      const solo = check(await b.bulk.run(ctx.quick ? 300 : 1000, b.dev.notifyWords()));
      const traffic = b.bulk.run(600_000, b.dev.notifyWords());
      const beside = await rtt(n);
      b.bulk.stop();
      check(await traffic);
      return { beside, gbs: solo.bytes / solo.elapsedNs, maxTurn: turnOf(b.dev) };
    };
    await rtt(200);
    const alone = await rtt(samples);
    const budgeted = await measure(await bulkGuest(undefined), samples);
    // Without budgets an echo can wait for whole 8 MiB requests: fewer samples keep the run short.
    const unbudgeted = await measure(await bulkGuest(0), Math.min(samples, 500));
    return {
      alone,
      beside: budgeted.beside,
      besideUnbudgeted: unbudgeted.beside,
      bulkGBs: budgeted.gbs,
      bulkUnbudgetedGBs: unbudgeted.gbs,
      maxTurnWork: budgeted.maxTurn,
      maxTurnWorkUnbudgeted: unbudgeted.maxTurn,
    };
  } finally {
    for (const c of closers) await c().catch(() => undefined);
    await vcpu.stop();
    await pool.close();
  }
}

function check(r: BulkReport): BulkReport {
  if (r.errors) throw new Error(`noisy-neighbour: ${r.errors} wrong echoes of the big-buffer guest`);
  return r;
}
