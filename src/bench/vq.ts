import { Worker } from 'node:worker_threads';
import { distFile } from '../common/package-paths.js';
import type { RingFeatures } from '../common/virtio/features.js';
import { splitAvailBytes, splitUsedBytes } from '../common/virtio/ring-layout.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { LoopbackDevice } from '../dpu/virtio/loopback-device.js';
import { ReferenceDevice } from '../dpu/virtio/reference-device.js';
import { HostMemory } from '../memory/host-memory.js';
import { Guest } from '../hypervisor/guest/guest.js';
import { GuestQueue } from '../hypervisor/guest/guest-queue.js';
import { GuestVcpu } from '../hypervisor/guest/vcpu.js';
import {
  AVAIL_IDX,
  AVAIL_RING,
  DESC_ADDR,
  DESC_BYTES,
  DESC_LEN,
  EVS_BYTES,
  F_AVAIL,
  F_USED,
  PDESC_FLAGS,
  PDESC_ID,
  USED_IDX,
} from '../generated/virtio.js';
import { DF_PACKED, GLOOP_PAIR_BYTES } from '../generated/guest.js';
import type { BenchContext } from './lib/report.js';
import { noisyNeighbour } from './vq-noisy-neighbour.js';
import { turnBudget } from './vq-turn-budget.js';
import { median, medianOf, spreadOf, summarize, type LatencySummary } from './lib/stats.js';
import { JsSplitRing } from './peers/js-split-ring.js';

const MIB = 1 << 20;
const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const PACKED: RingFeatures = { ...SPLIT, packed: true };
type Fn = (...a: (number | bigint)[]) => number;

/**
 * Suite "vq": virtqueues end to end. Peers are the plain, spec-literal TypeScript driver and
 * reference device, run the same way in the same run, and for the kernel alone also a split
 * ring written for speed in plain JS (typed arrays, no BigInt, no DataView per field).
 *   kernel-*        one thread, 1-descriptor chains, burst 32: post 32 (minimal driver), pop, push, reap
 *   loopback-poll   guest vCPU worker ↔ DPU core, poll mode, 64-byte echo, ring kept full; and one-at-a-time RTT
 *   loopback-irq    the same one-at-a-time, interrupt mode with EVENT_IDX
 *   *-packed        packed ring, peer: the split ring in the same run
 *   turn-budget     one thread: a turn of N bytes, in µs; slicing's cost; a descriptor in bytes
 *                   (vq-turn-budget.ts)
 *   noisy-neighbour an echo guest beside a guest of 8 MiB requests on one core: its RTT alone,
 *                   beside it, beside it without work budgets (peer); the big guest's throughput
 *                   with and without budgets (vq-noisy-neighbour.ts)
 */
export async function run(ctx: BenchContext): Promise<void> {
  const runs = ctx.runs;
  const seconds = ctx.quick ? 0.25 : 1;

  if (ctx.wants('kernel-split-burst32') || ctx.wants('kernel-packed-burst32')) {
    // ---- (a) kernel only, (d) packed vs split
    // Interleaved run by run: ours, the optimised plain-JS device, the spec-literal reference.
    const kSplitRuns: number[] = [];
    const kSplitJs: number[] = [];
    const kSplitTs: number[] = [];
    for (let i = 0; i < runs; i++) {
      kSplitRuns.push(kernelOnlyWasm(SPLIT, seconds));
      kSplitJs.push(kernelOnlyJs(seconds));
      kSplitTs.push(kernelOnlyTs(SPLIT, seconds));
    }
    const kSplit = median(kSplitRuns);
    ctx.report({
      case: 'kernel-split-burst32',
      metric: 'chains/s',
      value: kSplit,
      unit: 'chains/s',
      better: 'higher',
      spread: spreadOf(kSplitRuns),
      peer: { name: 'js-split-ring (optimised plain JS)', value: median(kSplitJs) },
      target: 20e6,
    });
    ctx.report({
      case: 'kernel-split-burst32',
      metric: 'chains/s vs the reference device',
      value: kSplit,
      unit: 'chains/s',
      better: 'higher',
      peer: { name: 'ts-reference (spec-literal)', value: median(kSplitTs) },
    });
    const kPacked = median(await repeat(runs, () => kernelOnlyWasm(PACKED, seconds)));
    ctx.report({
      case: 'kernel-packed-burst32',
      metric: 'chains/s',
      value: kPacked,
      unit: 'chains/s',
      better: 'higher',
      peer: { name: 'wasm-split', value: kSplit },
    });
    ctx.progress('kernel-only done');
  }

  if (ctx.wants('loopback-poll') || ctx.wants('loopback-poll-packed')) {
    // ---- (b) guest worker ↔ DPU core, poll mode
    const wasmPoll = await loopbackWasm(SPLIT, 'poll', runs, seconds, ctx);
    const tsPoll = await loopbackTs(SPLIT, 'poll', runs, seconds);
    ctx.report({
      case: 'loopback-poll',
      metric: 'buffers/s',
      value: wasmPoll.rate,
      unit: 'buffers/s',
      better: 'higher',
      peer: { name: 'ts-reference', value: tsPoll.rate },
      target: 5e6,
    });
    ctx.report({
      case: 'loopback-poll',
      metric: 'rtt-p50',
      value: wasmPoll.rtt.p50,
      unit: 'us',
      better: 'lower',
      peer: { name: 'ts-reference', value: tsPoll.rtt.p50 },
    });
    ctx.report({
      case: 'loopback-poll',
      metric: 'rtt-p99',
      value: wasmPoll.rtt.p99,
      unit: 'us',
      better: 'lower',
      peer: { name: 'ts-reference', value: tsPoll.rtt.p99 },
    });
    const wasmPollPacked = await loopbackWasm(PACKED, 'poll', runs, seconds, ctx);
    ctx.report({
      case: 'loopback-poll-packed',
      metric: 'buffers/s',
      value: wasmPollPacked.rate,
      unit: 'buffers/s',
      better: 'higher',
      peer: { name: 'wasm-split', value: wasmPoll.rate },
    });
    ctx.report({
      case: 'loopback-poll-packed',
      metric: 'rtt-p50',
      value: wasmPollPacked.rtt.p50,
      unit: 'us',
      better: 'lower',
      peer: { name: 'wasm-split', value: wasmPoll.rtt.p50 },
    });
    ctx.progress('poll loopback done');
  }

  if (ctx.wants('loopback-irq-event-idx') || ctx.wants('loopback-irq-event-idx-packed')) {
    // ---- (c) interrupt mode with EVENT_IDX
    const irqF: RingFeatures = { ...SPLIT, eventIdx: true };
    const wasmIrq = await loopbackWasm(irqF, 'interrupt', runs, seconds, ctx);
    const tsIrq = await loopbackTs(irqF, 'irq', runs, seconds);
    ctx.report({
      case: 'loopback-irq-event-idx',
      metric: 'rtt-p50',
      value: wasmIrq.rtt.p50,
      unit: 'us',
      better: 'lower',
      peer: { name: 'ts-reference', value: tsIrq.rtt.p50 },
    });
    ctx.report({
      case: 'loopback-irq-event-idx',
      metric: 'rtt-p99',
      value: wasmIrq.rtt.p99,
      unit: 'us',
      better: 'lower',
      peer: { name: 'ts-reference', value: tsIrq.rtt.p99 },
    });
    const wasmIrqPacked = await loopbackWasm({ ...irqF, packed: true }, 'interrupt', runs, seconds, ctx);
    ctx.report({
      case: 'loopback-irq-event-idx-packed',
      metric: 'rtt-p50',
      value: wasmIrqPacked.rtt.p50,
      unit: 'us',
      better: 'lower',
      peer: { name: 'wasm-split', value: wasmIrq.rtt.p50 },
    });
    ctx.progress('interrupt loopback done');
  }

  // ---- (e) what a turn of a device job costs, and a noisy neighbour on the same core
  if (ctx.wants('turn-budget')) turnBudget(ctx);
  if (ctx.wants('noisy-neighbour')) await noisyNeighbour(ctx);
}

async function repeat(n: number, f: () => number | Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}

/**
 * Kernel only: the Wasm device pops 32 one-descriptor chains and pushes them back, fed by the
 * cheapest correct driver (descriptors preset; refill = ring entries or flags plus one index
 * store; collect = read the used index or flags). Chains per second of the whole cycle.
 */
export function kernelOnlyWasm(features: RingFeatures, seconds: number): number {
  const memory = new HostMemory({ sizeBytes: 32 * MIB });
  const rt = new LoaderRuntime(memory);
  const k = rt.kernel('guest');
  const v = rt.kernel('virtio');
  const g = new Guest(memory, { name: 'k', ramBytes: 4 * MIB });
  const n = 256;
  const q = layout(g, n, features);
  const dev = new LoopbackDevice(rt, g, 'k:dev', { maxQueueSize: n, maxBurst: 32 });
  dev.configure({ size: n, features, ...q });
  const state = g.allocGpa(Number(k.fn<Fn>('gdrv_bytes')(n)), 64);
  const buf = g.allocGpa(GLOOP_PAIR_BYTES * n, 64);
  const dummy = g.allocIrq();
  const drv = g.host(state);
  k.fn<Fn>('gdrv_init')(
    drv,
    features.packed ? DF_PACKED : 0,
    n,
    g.ramBase,
    g.ramBytes,
    q.descGpa,
    q.driverGpa,
    q.deviceGpa,
    dummy,
    dummy + 4,
    dummy + 8,
    0n,
  );
  const kind = features.packed ? 'packed' : 'split';
  k.fn<Fn>(`gbench_${kind}_setup`)(drv, buf, 64);
  const refill = k.fn<Fn>(`gbench_${kind}_refill`);
  const collect = k.fn<Fn>(`gbench_${kind}_collect`);
  const pop = v.fn<Fn>('vq_pop');
  const push = v.fn<Fn>('vq_push');
  const vq = dev.queue.state.base;
  const burst = dev.burst.base;
  const cycle = (): number => {
    refill(drv, 32);
    const got = pop(vq, burst, 32);
    push(vq, burst, got);
    if (collect(drv) !== got) throw new Error('kernel-only bench: the ring lost step');
    return got;
  };
  for (let i = 0; i < 20_000; i++) cycle();
  return timed(seconds, cycle);
}

/** The same cycle with the spec-literal TS reference device and the same cheapest driver in TS. */
export function kernelOnlyTs(features: RingFeatures, seconds: number): number {
  const memory = new HostMemory({ sizeBytes: 32 * MIB });
  const g = new Guest(memory, { name: 'k', ramBytes: 4 * MIB });
  const n = 256;
  const q = layout(g, n, features);
  const dev = new ReferenceDevice(g, { size: n, features, ...q });
  const buf = g.allocGpa(128 * n, 64);
  const u16 = new Uint16Array(memory.memory.buffer);
  const r = g.ram;
  for (let i = 0; i < n; i++) {
    const d = Number(q.descGpa) + DESC_BYTES * i;
    r.setBigUint64(d + DESC_ADDR, buf + BigInt(128 * i), true);
    r.setUint32(d + DESC_LEN, 64, true);
    // Split: flags 0 and next 0; packed: id i (its flags are written by refill).
    r.setUint32(d + PDESC_ID, features.packed ? i : 0, true);
  }
  let availIdx = 0;
  let slot = 0;
  let wrap = 1;
  const availIdxAt = BigInt(AVAIL_IDX);
  const refill = (): void => {
    if (features.packed) {
      for (let k = 0; k < 32; k++) {
        Atomics.store(u16, g.host(q.descGpa + BigInt(DESC_BYTES * slot + PDESC_FLAGS)) >> 1, wrap ? F_AVAIL : F_USED);
        if (++slot === n) {
          slot = 0;
          wrap ^= 1;
        }
      }
    } else {
      for (let k = 0; k < 32; k++)
        r.setUint16(Number(q.driverGpa) + AVAIL_RING + 2 * ((availIdx + k) % n), (availIdx + k) % n, true);
      availIdx = (availIdx + 32) & 0xffff;
      Atomics.store(u16, g.host(q.driverGpa + availIdxAt) >> 1, availIdx);
    }
  };
  const cycle = (): number => {
    refill();
    let got = 0;
    for (let ch = dev.pop(); ch; ch = got < 31 ? dev.pop() : null) {
      dev.push(ch, 0);
      got++;
    }
    dev.publish();
    return got;
  };
  for (let i = 0; i < 2_000; i++) cycle();
  return timed(seconds, cycle);
}

/**
 * The same cycle with the optimised plain-JS split-ring device (src/bench/peers/js-split-ring.ts)
 * and the cheapest driver in plain JS: descriptors preset, refill = ring entries plus one index
 * store, collect = read the used index.
 */
export function kernelOnlyJs(seconds: number): number {
  const memory = new HostMemory({ sizeBytes: 32 * MIB });
  const g = new Guest(memory, { name: 'k', ramBytes: 4 * MIB });
  const n = 256;
  const q = layout(g, n, SPLIT);
  const buf = g.allocGpa(128 * n, 64);
  const r = g.ram;
  for (let i = 0; i < n; i++) {
    const d = Number(q.descGpa) + DESC_BYTES * i;
    r.setBigUint64(d + DESC_ADDR, buf + BigInt(128 * i), true);
    r.setUint32(d + DESC_LEN, 64, true);
  }
  const [desc, avail, used] = [q.descGpa, q.driverGpa, q.deviceGpa].map((a) => g.host(a)) as [number, number, number];
  const dev = new JsSplitRing(memory.memory.buffer, n, desc, avail, used, g.ramBase, g.ramBytes, 32);
  const u16 = new Uint16Array(memory.memory.buffer);
  const ring = (avail + AVAIL_RING) >> 1;
  const availIdx = (avail + AVAIL_IDX) >> 1;
  const usedIdx = (used + USED_IDX) >> 1;
  let idx = 0;
  let reaped = 0;
  const cycle = (): number => {
    for (let k = 0; k < 32; k++) u16[ring + ((idx + k) & (n - 1))] = (idx + k) & (n - 1);
    idx = (idx + 32) & 0xffff;
    Atomics.store(u16, availIdx, idx);
    const got = dev.pop(32);
    dev.push(got, 0);
    const now = Atomics.load(u16, usedIdx);
    if (((now - reaped) & 0xffff) !== got) throw new Error('kernel-only bench: the JS ring lost step');
    reaped = now;
    return got;
  };
  for (let i = 0; i < 20_000; i++) cycle();
  return timed(seconds, cycle);
}

function timed(seconds: number, cycle: () => number): number {
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let chains = 0;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) chains += cycle();
    now = process.hrtime.bigint();
  }
  return chains / (Number(now - start) / 1e9);
}

function layout(g: Guest, n: number, f: RingFeatures): { descGpa: bigint; driverGpa: bigint; deviceGpa: bigint } {
  return {
    descGpa: g.allocGpa(DESC_BYTES * n, 16),
    driverGpa: g.allocGpa(f.packed ? EVS_BYTES : splitAvailBytes(n, true), 4),
    deviceGpa: g.allocGpa(f.packed ? EVS_BYTES : splitUsedBytes(n, true), 4),
  };
}

interface LoopbackFigures {
  rate: number;
  rtt: LatencySummary;
}

/** Guest vCPU (Wasm driver) ↔ DPU core (Wasm loopback device). */
async function loopbackWasm(
  features: RingFeatures,
  mode: 'poll' | 'interrupt',
  runs: number,
  seconds: number,
  ctx: BenchContext,
): Promise<LoopbackFigures> {
  const memory = new HostMemory({ sizeBytes: 64 * MIB });
  const rt = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores: 1, mode });
  const vcpu = new GuestVcpu(memory, 'bench-vcpu');
  try {
    await pool.loadKernel(rt.kernel('virtio'));
    const g = new Guest(memory, { name: 'b', ramBytes: 8 * MIB });
    const q = await GuestQueue.create(g, vcpu, 256, features);
    const dev = new LoopbackDevice(rt, g, 'b:loop', { maxQueueSize: 256, maxBurst: 64 });
    dev.configure(q.config);
    await dev.start({ core: pool.cores[0]!, budget: 64 });
    await q.bind(dev.notifyWords(), dev.queue.irqAddr);
    let rate = NaN;
    if (mode === 'poll') {
      await q.pump(200);
      const rates: number[] = [];
      for (let r = 0; r < runs; r++) {
        const p = await q.pump(seconds * 1000);
        rates.push(p.completed / (p.elapsedNs / 1e9));
      }
      rate = median(rates);
    }
    const n = ctx.quick ? 500 : 5_000;
    await q.rtt(200, mode === 'poll' ? 'poll' : 'irq');
    const rtts: LatencySummary[] = [];
    for (let r = 0; r < runs; r++) {
      const s = await q.rtt(n, mode === 'poll' ? 'poll' : 'irq');
      if (s.timeouts) throw new Error(`${s.timeouts} requests timed out`);
      rtts.push(summarize(s.samplesUs));
    }
    const c = q.counters();
    if (c.errors) throw new Error(`${c.errors} echoes were wrong`);
    return { rate, rtt: medianOf(rtts) };
  } finally {
    await vcpu.stop();
    await pool.close();
  }
}

/** The TS driver and the TS reference device, each in a worker of its own, same protocol. */
async function loopbackTs(
  features: RingFeatures,
  mode: 'poll' | 'irq',
  runs: number,
  seconds: number,
): Promise<LoopbackFigures> {
  const memory = new HostMemory({ sizeBytes: 64 * MIB });
  const g = new Guest(memory, { name: 't', ramBytes: 8 * MIB });
  const words = { doorbell: g.allocIrq(), sleeping: g.allocIrq(), irq: g.allocIrq(), stop: g.allocIrq() };
  const common = {
    buffer: memory.memory.buffer,
    ramBase: g.ramBase,
    ramBytes: g.ramBytes,
    size: 256,
    features,
    words,
    mode,
  };
  const file = distFile('src/bench/peers/ts-vq-worker.js');
  const driver = new Worker(file, { workerData: { ...common, role: 'driver', areaGpa: '65536' } });
  const first = await once<{ config: { descGpa: string; driverGpa: string; deviceGpa: string } }>(driver);
  const device = new Worker(file, { workerData: { ...common, role: 'device', areaGpa: '0', config: first.config } });
  try {
    let rate = NaN;
    if (mode === 'poll') {
      driver.postMessage({ op: 'pump', ms: 200 });
      await once(driver);
      const rates: number[] = [];
      for (let r = 0; r < runs; r++) {
        driver.postMessage({ op: 'pump', ms: seconds * 1000 });
        const p = await once<{ completed: number; elapsedNs: number; errors: number }>(driver);
        if (p.errors) throw new Error(`ts peer: ${p.errors} wrong echoes`);
        rates.push(p.completed / (p.elapsedNs / 1e9));
      }
      rate = median(rates);
    }
    const rtts: LatencySummary[] = [];
    for (let r = 0; r < runs; r++) {
      driver.postMessage({ op: 'rtt', count: 2_000 });
      const s = await once<{ samples: Float64Array }>(driver);
      rtts.push(summarize(s.samples));
    }
    return { rate, rtt: medianOf(rtts) };
  } finally {
    Atomics.store(memory.i32, words.stop >> 2, 1);
    Atomics.add(memory.i32, words.doorbell >> 2, 1);
    Atomics.notify(memory.i32, words.doorbell >> 2);
    await once(device);
    await driver.terminate();
    await device.terminate();
  }
}

/** The worker's next message; its error instead, if it fails first (each listener removed when the other fires). */
function once<T = unknown>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T): void => {
      w.off('error', onError);
      resolve(m);
    };
    const onError = (e: Error): void => {
      w.off('message', onMessage);
      reject(e);
    };
    w.once('message', onMessage);
    w.once('error', onError);
  });
}
