import { Worker } from 'node:worker_threads';
import { distFile } from '../common/package-paths.js';
import { featureWord, type RingFeatures } from '../common/virtio/features.js';
import { BlkDevice } from '../dpu/blk/blk-device.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { Guest } from '../hypervisor/guest/guest.js';
import { GuestVcpu } from '../hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../hypervisor/guest/virtio/blk-workload.js';
import { HostMemory } from '../memory/host-memory.js';
import { splitAvailBytes, splitUsedBytes } from '../common/virtio/ring-layout.js';
import { BLKW_SLOT_BYTES, GD_ERRORS } from '../generated/guest.js';
import { TsBlkDevice } from './peers/ts-blk-device.js';
import { volumeCase } from './blk-volume.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';

const MIB = 1 << 20;
const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const ALL_RING: RingFeatures = { packed: true, eventIdx: true, indirect: true, inOrder: true };
const RING = 512;
const QD = 128;
const NULL_BYTES = 2 ** 30; // 1 GiB null disk: 262144 random 4 KiB blocks
const RAM_BYTES = 64 * MIB;

type Side = 'wasm' | 'ts';

/**
 * Suite "blk": virtio-blk end to end, guest vCPU worker (Wasm driver, three-descriptor
 * requests like Linux's) ↔ device. The device is the blk kernel on one DPU core; its peer, in
 * the same run, is a plain-TypeScript virtio-blk device over the spec-literal reference queue in
 * a worker of its own, driven by the same guest. Runs alternate between the two, fresh set-up
 * each run; medians are reported.
 *   kernel-randread-4k-qd128-null   the same requests with driver and device alternating on one thread
 *                                   (no cross-thread scheduling): what one core's worth of device serves
 *   randread-4k-qd128-null   4 KiB random reads, 128 in flight, null backend: IOPS
 *   read-4k-qd1-ram          one 4 KiB random read at a time from a RAM disk: latency p50 / p99
 *   randread-4k-qd128-volume the full path to a volume (blk-volume.ts)
 */
export async function run(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 0.25 : 1;
  if (ctx.wants('kernel-randread-4k-qd128-null')) {
    const rates: Record<Side, number[]> = { wasm: [], ts: [] };
    for (let r = 0; r < ctx.runs; r++)
      for (const side of ['wasm', 'ts'] as const) rates[side].push(kernelOnly(side, seconds));
    ctx.report({
      case: 'kernel-randread-4k-qd128-null',
      metric: 'iops',
      value: median(rates.wasm),
      unit: 'IOPS',
      better: 'higher',
      peer: { name: 'ts-blk-device', value: median(rates.ts) },
      target: 1e6,
    });
    ctx.progress(`kernel-only: wasm ${fmt(median(rates.wasm))} IOPS, ts ${fmt(median(rates.ts))} IOPS`);
  }
  if (ctx.wants('randread-4k-qd128-null')) {
    const rates: Record<Side, number[]> = { wasm: [], ts: [] };
    for (let r = 0; r < ctx.runs; r++) {
      for (const side of ['wasm', 'ts'] as const) rates[side].push(await throughput(side, seconds));
      ctx.progress(`qd128 run ${r + 1}: wasm ${fmt(rates.wasm[r]!)} IOPS, ts ${fmt(rates.ts[r]!)} IOPS`);
    }
    ctx.report({
      case: 'randread-4k-qd128-null',
      metric: 'iops',
      value: median(rates.wasm),
      unit: 'IOPS',
      better: 'higher',
      peer: { name: 'ts-blk-device', value: median(rates.ts) },
      target: 1e6,
    });
  }
  if (ctx.wants('read-4k-qd1-ram')) {
    const count = ctx.quick ? 2_000 : 20_000;
    const lat: Record<Side, LatencySummary[]> = { wasm: [], ts: [] };
    for (let r = 0; r < ctx.runs; r++) {
      for (const side of ['wasm', 'ts'] as const) lat[side].push(await latency(side, count));
      ctx.progress(
        `qd1 run ${r + 1}: wasm p99 ${lat.wasm[r]!.p99.toFixed(1)} µs, ts p99 ${lat.ts[r]!.p99.toFixed(1)} µs`,
      );
    }
    const w = medianOf(lat.wasm);
    const t = medianOf(lat.ts);
    ctx.report({
      case: 'read-4k-qd1-ram',
      metric: 'latency-p50',
      value: w.p50,
      unit: 'us',
      better: 'lower',
      peer: { name: 'ts-blk-device', value: t.p50 },
    });
    ctx.report({
      case: 'read-4k-qd1-ram',
      metric: 'latency-p99',
      value: w.p99,
      unit: 'us',
      better: 'lower',
      peer: { name: 'ts-blk-device', value: t.p99 },
      target: 100,
    });
  }
  await volumeCase(ctx, seconds);
}

const fmt = (n: number): string => `${(n / 1e3).toFixed(0)}k`;

interface Rig {
  load: GuestBlkWorkload;
  close(): Promise<void>;
}

/** A guest, its vCPU and one blk device (the kernel on a DPU core, or the TS peer in a worker). */
async function rig(side: Side, backend: 'null' | 'ram'): Promise<Rig> {
  const capacityBytes = backend === 'null' ? NULL_BYTES : RAM_BYTES;
  const memory = new HostMemory({ sizeBytes: (backend === 'ram' ? 128 : 64) * MIB });
  // The vCPU at the process's priority: spinning against a DPU core, a lowered one starves on a busy machine.
  const vcpu = new GuestVcpu(memory, 'blk-bench-vcpu', { nice: null });
  const guest = new Guest(memory, { name: 'bb', ramBytes: 8 * MIB });
  const load = await GuestBlkWorkload.create(guest, vcpu, {
    size: RING,
    features: SPLIT,
    blocks: capacityBytes / 4096,
    seed: 0x2545f491,
  });
  const { features: _f, ...rings } = load.queue.config;
  void _f;
  if (side === 'wasm') {
    const rt = new LoaderRuntime(memory);
    const pool = await DpuCorePool.start(memory, { cores: 1, mode: 'poll' });
    await pool.loadKernel(rt.kernel('blk'));
    const dev = new BlkDevice(rt, guest, 'bb:blk', { backend, capacityBytes, maxQueueSize: RING, maxBurst: 64 });
    dev.negotiate((dev.features() & ~featureWord(ALL_RING)) | featureWord(SPLIT));
    dev.setQueue(0, rings);
    await dev.start({ core: pool.cores[0]!, budget: 64 });
    await load.bind(dev.notifyWords(0), dev.queues[0]!.irqAddr);
    return {
      load,
      close: async () => {
        await vcpu.stop();
        await dev.stop();
        await pool.close();
      },
    };
  }
  const words = {
    doorbell: guest.allocIrq(),
    sleeping: guest.allocIrq(),
    irq: guest.allocIrq(),
    stop: guest.allocIrq(),
  };
  const disk =
    backend === 'ram'
      ? memory.alloc({ name: 'bb:ts-disk', owner: 'bench', kind: 'core-scratch', sizeBytes: capacityBytes })
      : null;
  const worker = new Worker(distFile('src/bench/peers/ts-blk-worker.js'), {
    workerData: {
      buffer: memory.memory.buffer,
      ramBase: guest.ramBase,
      ramBytes: guest.ramBytes,
      size: RING,
      features: SPLIT,
      config: {
        descGpa: String(rings.descGpa),
        driverGpa: String(rings.driverGpa),
        deviceGpa: String(rings.deviceGpa),
      },
      stopAddr: words.stop,
      backend,
      diskBase: disk ? disk.base : 0,
      capacitySectors: capacityBytes / 512,
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  await load.bind({ doorbell: words.doorbell, sleeping: words.sleeping }, words.irq);
  return {
    load,
    close: async () => {
      await vcpu.stop();
      Atomics.store(memory.i32, words.stop >> 2, 1);
      await done;
      await worker.terminate();
    },
  };
}

/** IOPS of 4 KiB random reads, QD128, null backend, for `seconds` after a short warm-up. */
async function throughput(side: Side, seconds: number): Promise<number> {
  const r = await rig(side, 'null');
  try {
    await r.load.benchStart(QD, 4096);
    await r.load.benchPump(100);
    const p = await r.load.benchPump(seconds * 1000);
    if (r.load.errors()) throw new Error(`blk bench (${side}): ${r.load.errors()} requests failed`);
    return p.completed / (p.elapsedNs / 1e9);
  } finally {
    await r.close();
  }
}

/** One-at-a-time 4 KiB random reads from a RAM disk: per-request latency. */
async function latency(side: Side, count: number): Promise<LatencySummary> {
  const r = await rig(side, 'ram');
  try {
    await r.load.benchSetupOne(4096);
    await r.load.benchSeries(200);
    const s = await r.load.benchSeries(count);
    if (s.timeouts || r.load.errors())
      throw new Error(`blk bench (${side}): ${s.timeouts} timeouts, ${r.load.errors()} failed requests`);
    return summarize(s.samplesUs);
  } finally {
    await r.close();
  }
}

/**
 * The guest's bench driver (Wasm, called in this thread) and the device alternate: device burst
 * of 64, then one driver round (collect, re-post, publish). IOPS over the whole cycle.
 */
function kernelOnly(side: Side, seconds: number): number {
  const memory = new HostMemory({ sizeBytes: 64 * MIB });
  const rt = new LoaderRuntime(memory);
  const k = rt.kernel('guest');
  const guest = new Guest(memory, { name: 'k', ramBytes: 8 * MIB });
  const fn = (name: string): ((...a: (number | bigint)[]) => number) => k.fn(name);
  const rings = {
    size: RING,
    descGpa: guest.allocGpa(16 * RING, 16),
    driverGpa: guest.allocGpa(splitAvailBytes(RING, true), 4),
    deviceGpa: guest.allocGpa(splitUsedBytes(RING, true), 4),
  };
  const drv = guest.host(guest.allocGpa(fn('gdrv_bytes')(RING), 64));
  const slots = guest.allocGpa(BLKW_SLOT_BYTES * RING, 64);
  const rngGpa = guest.allocGpa(8, 8);
  guest.ram.setUint32(Number(rngGpa), 0x2545f491, true);
  const rng = guest.host(rngGpa);
  const words = guest.allocIrq();
  const blocks = NULL_BYTES / 4096;
  let burst: () => number;
  if (side === 'wasm') {
    const dev = new BlkDevice(rt, guest, 'k:blk', { backend: 'null', capacityBytes: NULL_BYTES, maxQueueSize: RING });
    dev.negotiate((dev.features() & ~featureWord(ALL_RING)) | featureWord(SPLIT));
    dev.setQueue(0, rings);
    const run = rt.kernel('blk').fn<(job: number, budget: number) => number>('blk_run');
    const job = dev.jobBase(0);
    burst = () => run(job, 64);
  } else {
    const dev = new TsBlkDevice({
      buffer: memory.memory.buffer,
      ramBase: guest.ramBase,
      ramBytes: guest.ramBytes,
      size: RING,
      features: SPLIT,
      config: {
        descGpa: String(rings.descGpa),
        driverGpa: String(rings.driverGpa),
        deviceGpa: String(rings.deviceGpa),
      },
      backend: 'null',
      diskBase: 0,
      capacitySectors: NULL_BYTES / 512,
    });
    burst = () => dev.burst(64);
  }
  const init = fn('gdrv_init');
  const rc = init(
    drv,
    0,
    RING,
    guest.ramBase,
    guest.ramBytes,
    rings.descGpa,
    rings.driverGpa,
    rings.deviceGpa,
    words,
    words + 4,
    words + 8,
    0n,
  );
  if (rc !== 0 || fn('gblk_bench_setup')(drv, slots, QD, 4096) !== 0)
    throw new Error('blk kernel-only bench: set-up refused');
  fn('gblk_bench_start')(drv, slots, QD, rng, blocks);
  const pump = fn('gblk_bench_pump');
  const cycle = (): number => {
    burst();
    return pump(drv, slots, rng, blocks, 1);
  };
  for (let i = 0; i < 2_000; i++) cycle();
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let done = 0;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) done += cycle();
    now = process.hrtime.bigint();
  }
  if (memory.view.getBigUint64(drv + GD_ERRORS, true) !== 0n)
    throw new Error(`blk kernel-only bench (${side}): failed requests`);
  return done / (Number(now - start) / 1e9);
}
