import { Worker } from 'node:worker_threads';
import { distFile } from '../common/package-paths.js';
import { DEFAULT_IDLE_SPIN_POLLS } from '../dpu/core/core-layout.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import type { DpuCore } from '../dpu/core/dpu-core.js';
import { IoChannel } from '../dpu/io/io-channel.js';
import { IoProbe } from '../dpu/io/io-probe.js';
import { IoWorker } from '../dpu/io/io-worker.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';

/**
 * Suite "io": requests from a kernel on a DPU core to an I/O worker thread and back, through an
 * I/O channel (two SPSC rings in shared memory and a doorbell), the way devices reach files and
 * sockets without ever blocking a core.
 *   ring-round-trip   one request in flight (core_io_probe on a polling core, the 'echo' handler):
 *                     the worker stamps each arrival, and at depth 1 the gap between two arrivals
 *                     is one whole round trip (worker wakes, handles, completes; core sees it,
 *                     submits the next, rings the doorbell)     peer: MessagePort echo with a worker
 *   ring-throughput   32 requests in flight: completions per second, from the same stamps
 *                                                                 peer: MessagePort, 32 in flight
 *   *-adaptive        the same with the core in adaptive mode (it sleeps when idle, so a round
 *                     trip may include waking it)
 * Our runs and the peer's alternate; medians of the per-run figures are reported.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const memory = new HostMemory({ sizeBytes: 64 << 20 });
  const rt = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores: 1, mode: 'poll' });
  const port = new PortPeer();
  try {
    const kernel = rt.kernel('core');
    await pool.loadKernel(kernel);
    const core = pool.cores[0]!;
    const rttN = ctx.quick ? 5_000 : 30_000;
    const tputN = ctx.quick ? 50_000 : 300_000;
    await rings(memory, rt, core, 1, 2_000); // warm-up: both sides' JIT
    await port.roundTrips(2_000);

    for (const mode of ['poll', 'adaptive'] as const) {
      const suffix = mode === 'poll' ? '' : '-adaptive';
      await core.setMode(mode, DEFAULT_IDLE_SPIN_POLLS);
      if (ctx.wants(`ring-round-trip${suffix}`)) {
        const ours: LatencySummary[] = [];
        const peer: LatencySummary[] = [];
        for (let r = 0; r < ctx.runs; r++) {
          ours.push(summarize(gaps(await rings(memory, rt, core, 1, rttN))));
          peer.push(await port.roundTrips(rttN));
        }
        const o = medianOf(ours);
        const p = medianOf(peer);
        for (const metric of ['p50', 'p99'] as const) {
          ctx.report({
            case: `ring-round-trip${suffix}`,
            metric,
            value: o[metric],
            unit: 'us',
            better: 'lower',
            peer: { name: 'message-port-worker', value: p[metric] },
          });
        }
        ctx.progress(`ring round trip (${mode}) done`);
      }
      if (ctx.wants(`ring-throughput${suffix}`)) {
        const ours: number[] = [];
        const peer: number[] = [];
        for (let r = 0; r < ctx.runs; r++) {
          const t = await rings(memory, rt, core, 32, tputN);
          ours.push(((t.length - 1) * 1e3) / (t[t.length - 1]! - t[0]!));
          peer.push(await port.throughput(32, tputN));
        }
        ctx.report({
          case: `ring-throughput${suffix}`,
          metric: 'requests/s',
          value: Math.round(median(ours)),
          unit: 'requests/s',
          better: 'higher',
          peer: { name: 'message-port-worker', value: Math.round(median(peer)) },
        });
        ctx.progress(`ring throughput (${mode}) done`);
      }
    }
  } finally {
    await port.close();
    await pool.close();
  }
}

/**
 * One run: a fresh channel, echo worker and probe keeping `depth` requests in flight until `n`
 * completed. Returns the worker's arrival stamps (ms, its own clock).
 */
async function rings(
  memory: HostMemory,
  rt: LoaderRuntime,
  core: DpuCore,
  depth: number,
  n: number,
): Promise<Float64Array> {
  const stamps = new SharedArrayBuffer(8 * n);
  const channel = new IoChannel(memory, { name: 'bench:io', capacity: 64 });
  channel.bindCore(core);
  const worker = await IoWorker.start(memory, channel, { handler: 'echo', data: { stamps } });
  const probe = new IoProbe(memory, channel, { name: 'bench:probe', op: 1, depth, total: n, bufferBytes: 64 });
  try {
    const job = await core.attachJob({
      kernel: rt.kernel('core'),
      entry: 'core_io_probe',
      arm: 'core_io_probe_arm',
      state: probe.state.base,
      budget: 64,
    });
    while (probe.stats().completed < n) await new Promise((r) => setTimeout(r, 2));
    await core.detachJob(job);
    const s = probe.stats();
    if (s.failed !== 0 || s.resultSum !== 64 * n) throw new Error(`bench io: the probe saw ${s.failed} failures`);
    return new Float64Array(stamps);
  } finally {
    await worker.close();
    probe.free();
    channel.free();
  }
}

/** Gaps between consecutive stamps, in microseconds. */
function gaps(t: Float64Array): Float64Array {
  const out = new Float64Array(t.length - 1);
  for (let i = 1; i < t.length; i++) out[i - 1] = (t[i]! - t[i - 1]!) * 1000;
  return out;
}

/** The peer: a worker echoing MessagePort messages (src/bench/peers/ping-worker.ts, 'port' mode). */
class PortPeer {
  private readonly w = new Worker(distFile('src/bench/peers/ping-worker.js'), { workerData: { mode: 'port' } });

  async roundTrips(n: number): Promise<LatencySummary> {
    const samples = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await new Promise((res) => {
        this.w.once('message', res);
        this.w.postMessage(i);
      });
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    return summarize(samples);
  }

  /** Messages per second with `depth` in flight. */
  throughput(depth: number, n: number): Promise<number> {
    return new Promise((resolve) => {
      let sent = 0;
      let got = 0;
      const t0 = process.hrtime.bigint();
      const onMessage = (): void => {
        got++;
        if (sent < n) this.w.postMessage(sent++);
        if (got === n) {
          this.w.off('message', onMessage);
          resolve((n * 1e9) / Number(process.hrtime.bigint() - t0));
        }
      };
      this.w.on('message', onMessage);
      while (sent < Math.min(depth, n)) this.w.postMessage(sent++);
    });
  }

  close(): Promise<number> {
    return this.w.terminate();
  }
}
