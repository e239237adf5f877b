import { parentPort, workerData } from 'node:worker_threads';
import type { RingFeatures } from '../../common/virtio/features.js';
import { ReferenceDevice, echoChain, type RefMemory } from '../../dpu/virtio/reference-device.js';
import { createDriver, type GuestRam } from '../../hypervisor/guest/virtio/index.js';

/**
 * The plain-TypeScript peer of the vq bench: the spec-literal reference device (role 'device')
 * or the spec-literal TS driver (role 'driver') in a worker of its own, over the same shared
 * memory and the same doorbell / interrupt protocol as the Wasm pair.
 *
 * Words (host addresses, i32): doorbell, sleeping (device asleep), irq, stop.
 */
interface Init {
  role: 'device' | 'driver';
  buffer: SharedArrayBuffer;
  ramBase: number;
  ramBytes: number;
  areaGpa: string; // where this side may allocate (driver: rings + buffers), as a decimal string
  size: number;
  features: RingFeatures;
  words: { doorbell: number; sleeping: number; irq: number; stop: number };
  mode: 'poll' | 'irq';
  config?: { descGpa: string; driverGpa: string; deviceGpa: string };
}

const w = workerData as Init;
const i32 = new Int32Array(w.buffer);
let next = BigInt(w.areaGpa);
const mem: GuestRam & RefMemory = {
  ram: new DataView(w.buffer, w.ramBase, w.ramBytes),
  sharedBuffer: w.buffer,
  host: (gpa: bigint) => w.ramBase + Number(gpa),
  allocGpa(bytes: number, align = 64): bigint {
    const at = ((next + BigInt(align) - 1n) / BigInt(align)) * BigInt(align);
    next = at + BigInt(bytes);
    return at;
  },
};
const word = (addr: number): number => addr >> 2;
const stopped = (): boolean => Atomics.load(i32, word(w.words.stop)) !== 0;

if (w.role === 'device') {
  const c = w.config!;
  const dev = new ReferenceDevice(
    mem,
    {
      size: w.size,
      features: w.features,
      descGpa: BigInt(c.descGpa),
      driverGpa: BigInt(c.driverGpa),
      deviceGpa: BigInt(c.deviceGpa),
    },
    w.words.irq,
  );
  dev.disableKicks();
  let served = 0;
  while (!stopped()) {
    const bell = Atomics.load(i32, word(w.words.doorbell));
    let n = 0;
    for (let ch = dev.pop(); ch; ch = dev.pop()) {
      dev.push(ch, echoChain(mem, ch));
      n++;
    }
    if (n) {
      dev.publish();
      served += n;
      continue;
    }
    if (w.mode === 'irq') {
      if (dev.enableKicks()) continue; // E6 re-check found work
      Atomics.store(i32, word(w.words.sleeping), 1);
      Atomics.wait(i32, word(w.words.doorbell), bell, 100);
      Atomics.store(i32, word(w.words.sleeping), 0);
      dev.disableKicks();
    }
  }
  parentPort!.postMessage({ served });
} else {
  const kick = (): void => {
    Atomics.add(i32, word(w.words.doorbell), 1);
    if (Atomics.load(i32, word(w.words.sleeping))) Atomics.notify(i32, word(w.words.doorbell));
  };
  const drv = createDriver(mem, { size: w.size, features: w.features, notify: kick });
  const buf = mem.allocGpa(128 * w.size, 64);
  const tokenBuf = new Map<number, bigint>();
  let seq = 0;
  const post = (): boolean => {
    const at = buf + BigInt((seq % w.size) * 128);
    mem.ram.setUint32(Number(at), seq, true);
    const t = drv.add([{ gpa: at, len: 64 }], [{ gpa: at + 64n, len: 64 }]);
    if (t === null) return false;
    tokenBuf.set(t, at);
    seq++;
    return true;
  };
  let errors = 0;
  const check = (): number => {
    const done = drv.reap();
    for (const c of done) {
      const at = tokenBuf.get(c.token)!;
      if (c.len !== 64 || mem.ram.getUint32(Number(at), true) !== mem.ram.getUint32(Number(at) + 64, true)) errors++;
    }
    return done.length;
  };
  parentPort!.postMessage({
    config: { descGpa: String(drv.descGpa), driverGpa: String(drv.driverGpa), deviceGpa: String(drv.deviceGpa) },
  });
  parentPort!.on('message', (req: { op: 'pump'; ms: number } | { op: 'rtt'; count: number } | { op: 'end' }) => {
    if (req.op === 'end') {
      process.exit(0);
    }
    if (req.op === 'pump') {
      const start = process.hrtime.bigint();
      const end = start + BigInt(req.ms * 1e6);
      let completed = 0;
      let now: bigint;
      do {
        for (let r = 0; r < 64; r++) {
          while (drv.outstanding < w.size && post());
          drv.kick();
          completed += check();
        }
        now = process.hrtime.bigint();
      } while (now < end);
      while (drv.outstanding > 0) check();
      parentPort!.postMessage({ completed, elapsedNs: Number(now - start), errors });
      return;
    }
    const samples = new Float64Array(req.count);
    drv.disableInterrupts();
    for (let i = 0; i < req.count; i++) {
      const t0 = process.hrtime.bigint();
      post();
      drv.kick();
      if (w.mode === 'poll') {
        while (check() === 0);
      } else {
        for (;;) {
          const seen = Atomics.load(i32, word(w.words.irq));
          if (!drv.enableInterrupts()) Atomics.wait(i32, word(w.words.irq), seen, 1000);
          if (check() > 0) break;
        }
        drv.disableInterrupts();
      }
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    parentPort!.postMessage({ samples, errors }, [samples.buffer]);
  });
}
