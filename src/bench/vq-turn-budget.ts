import type { RingFeatures } from '../common/virtio/features.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { LoopbackDevice } from '../dpu/virtio/loopback-device.js';
import { Guest } from '../hypervisor/guest/guest.js';
import { createDriver } from '../hypervisor/guest/virtio/index.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';

const MIB = 1 << 20;
const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const TURNS = [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024];

/**
 * Case "turn-budget": what one turn of a device job costs, on one thread, the loopback kernel
 * called directly (no core, no other thread): how long a turn of N bytes lasts, what slicing a
 * big request into turns costs against echoing it whole, and what a descriptor costs against a
 * byte (which sets DESC_WORK_UNITS). The figures the default turn budget was chosen from
 * (docs/design.md, "Fair cores"). Each figure is the best of its runs: a cost, not a latency.
 */
export function turnBudget(ctx: BenchContext): void {
  const chainBytes = ctx.quick ? 8 * MIB : 32 * MIB;
  const whole = best(ctx.runs, () => echoIn(0, chainBytes));
  for (const t of TURNS) {
    const r = best(ctx.runs, () => echoIn(t, chainBytes));
    ctx.report({
      case: 'turn-budget',
      metric: `turn-us-${t >> 10}KiB`,
      value: r.nsPerTurn / 1000,
      unit: 'us',
      better: 'lower',
    });
    ctx.report({
      case: 'turn-budget',
      metric: `throughput-${t >> 10}KiB`,
      value: r.gbs,
      unit: 'GB/s',
      better: 'higher',
      peer: { name: 'whole-request', value: whole.gbs },
    });
  }
  const perDesc = best(ctx.runs, () => descCost());
  ctx.report({ case: 'turn-budget', metric: 'ns-per-descriptor', value: perDesc.ns, unit: 'ns', better: 'lower' });
  ctx.report({
    case: 'turn-budget',
    metric: 'descriptor-in-bytes',
    value: perDesc.ns * whole.gbs, // GB/s = bytes per ns
    unit: 'bytes',
    better: 'lower',
  });
}

/** The best (smallest time) of `runs` measurements. */
function best<T extends { score: number }>(runs: number, f: () => T): T {
  let b: T | null = null;
  for (let i = 0; i < Math.max(3, runs); i++) {
    const r = f();
    if (!b || r.score < b.score) b = r;
  }
  return b!;
}

function rig(turnBytes: number): { dev: LoopbackDevice; guest: Guest; run: () => number } {
  const memory = new HostMemory({ sizeBytes: 160 * MIB });
  const rt = new LoaderRuntime(memory);
  const guest = new Guest(memory, { name: 'turns', ramBytes: 144 * MIB });
  const dev = new LoopbackDevice(rt, guest, 'turns:loop', { maxQueueSize: 256, turnBytes });
  const run = rt.kernel('virtio').fn<(s: number, b: number) => number>('vloop_run');
  return { dev, guest, run: () => run(dev.state.base, 64) };
}

/** One request of `chainBytes` each way echoed in turns of `turnBytes` (0: whole); ns per turn and GB/s. */
function echoIn(turnBytes: number, chainBytes: number): { nsPerTurn: number; gbs: number; score: number } {
  const { dev, guest, run } = rig(turnBytes);
  const drv = createDriver(guest, { size: 256, features: SPLIT, notify: () => undefined });
  dev.configure({
    size: 256,
    features: SPLIT,
    descGpa: drv.descGpa,
    driverGpa: drv.driverGpa,
    deviceGpa: drv.deviceGpa,
  });
  const src = guest.allocGpa(chainBytes, 4096);
  const dst = guest.allocGpa(chainBytes, 4096);
  guest.bytes.fill(7, Number(src), Number(src) + chainBytes);
  guest.bytes.fill(1, Number(dst), Number(dst) + chainBytes); // every page touched before timing
  let turns = 0;
  let ns = 0;
  for (let round = 0; round < 3; round++) {
    drv.add([{ gpa: src, len: chainBytes }], [{ gpa: dst, len: chainBytes }]);
    drv.kick();
    const t0 = process.hrtime.bigint();
    let n = 0;
    for (let done = 0; done === 0; n++) done = run();
    const dt = Number(process.hrtime.bigint() - t0);
    if (drv.reap()[0]?.len !== chainBytes) throw new Error('turn-budget: a request came back wrong');
    if (round > 0) {
      turns += n;
      ns += dt;
    }
  }
  return { nsPerTurn: ns / turns, gbs: (2 * chainBytes) / ns, score: ns }; // two rounds timed
}

/** Requests of 64 eight-byte descriptors (32 each way): ns per descriptor, copying included. */
function descCost(): { ns: number; score: number } {
  const { dev, guest, run } = rig(0);
  const drv = createDriver(guest, { size: 256, features: SPLIT, notify: () => undefined });
  dev.configure({
    size: 256,
    features: SPLIT,
    descGpa: drv.descGpa,
    driverGpa: drv.driverGpa,
    deviceGpa: drv.deviceGpa,
  });
  const buf = guest.allocGpa(4096, 64);
  const out = Array.from({ length: 32 }, (_, k) => ({ gpa: buf + BigInt(8 * k), len: 8 }));
  const inb = Array.from({ length: 32 }, (_, k) => ({ gpa: buf + 2048n + BigInt(8 * k), len: 8 }));
  let ns = 0;
  let descs = 0;
  for (let round = 0; round < 200; round++) {
    for (let c = 0; c < 4; c++) drv.add(out, inb);
    drv.kick();
    const t0 = process.hrtime.bigint();
    while (run() === 0);
    const dt = Number(process.hrtime.bigint() - t0);
    drv.reap();
    if (round >= 20) {
      ns += dt;
      descs += 4 * 64;
    }
  }
  return { ns: ns / descs, score: ns / descs };
}
