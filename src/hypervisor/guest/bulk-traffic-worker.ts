import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { RingFeatures } from '../../common/virtio/features.js';
import { createDriver, type Buf, type GuestRam } from './virtio/index.js';

/**
 * A guest's vCPU running bulk loopback traffic (bulk-traffic.ts): it keeps `chains` requests in
 * flight, each `segments` readable buffers then `segments` writable ones of `chainBytes` bytes in
 * all per direction, through the spec-literal TS driver over the shared memory. It stamps every
 * 4 KiB page of a request's readable bytes with the request's sequence number before posting it,
 * sleeps on its interrupt word while nothing has completed, and checks each completion byte for
 * byte (its writable bytes equal its readable ones, used.len = chainBytes).
 *
 * Messages: 'run' { ms, notify } → { completed, bytes, errors, elapsedNs, maxCompletionNs }.
 */
interface Init {
  buffer: SharedArrayBuffer;
  ramBase: number;
  ramBytes: number;
  /** Where this vCPU may allocate its rings and buffers (decimal strings: bigints). */
  areaGpa: string;
  areaBytes: number;
  size: number;
  features: RingFeatures;
  chains: number;
  segments: number;
  chainBytes: number;
  irq: number;
  stop: number;
  verify: boolean;
  nice: number | null;
}

interface Run {
  ms: number;
  notify: { doorbell: number; sleeping: number };
}

const w = workerData as Init;
if (w.nice !== null) {
  try {
    setPriority(w.nice);
  } catch {
    // not permitted: keep the process's priority
  }
}
const i32 = new Int32Array(w.buffer);
const u8 = new Uint8Array(w.buffer);
const areaEnd = BigInt(w.areaGpa) + BigInt(w.areaBytes);
let next = BigInt(w.areaGpa);
const mem: GuestRam = {
  ram: new DataView(w.buffer, w.ramBase, w.ramBytes),
  sharedBuffer: w.buffer,
  host: (gpa: bigint) => w.ramBase + Number(gpa),
  allocGpa(bytes: number, align = 64): bigint {
    const at = ((next + BigInt(align) - 1n) / BigInt(align)) * BigInt(align);
    if (at + BigInt(bytes) > areaEnd) throw new RangeError(`bulk traffic: area of ${w.areaBytes} bytes exhausted`);
    next = at + BigInt(bytes);
    return at;
  },
};
let notify = { doorbell: 0, sleeping: 0 };
const drv = createDriver(mem, {
  size: w.size,
  features: w.features,
  notify: () => {
    Atomics.add(i32, notify.doorbell >> 2, 1);
    if (Atomics.load(i32, notify.sleeping >> 2) !== 0) Atomics.notify(i32, notify.doorbell >> 2, 1);
  },
});
const segBytes = Math.floor(w.chainBytes / w.segments);
const slots = Array.from({ length: w.chains }, () => {
  const read = mem.allocGpa(w.chainBytes, 4096);
  const write = mem.allocGpa(w.chainBytes, 4096);
  const split = (base: bigint): Buf[] =>
    Array.from({ length: w.segments }, (_, s) => ({
      gpa: base + BigInt(s * segBytes),
      len: s === w.segments - 1 ? w.chainBytes - s * segBytes : segBytes,
    }));
  return { read, write, out: split(read), inb: split(write) };
});
parentPort!.postMessage({ descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa });

function run(r: Run): { completed: number; bytes: number; errors: number; elapsedNs: number; maxCompletionNs: number } {
  notify = r.notify;
  const byToken = new Map<number, { slot: number; postedNs: bigint }>();
  let seq = 0;
  let completed = 0;
  let errors = 0;
  let maxCompletionNs = 0;
  const post = (slot: number): void => {
    const s = slots[slot]!;
    seq++;
    // A fresh stamp on every page: a page the device did not copy this time cannot match.
    for (let off = 0; off < w.chainBytes; off += 4096)
      mem.ram.setFloat64(Number(s.read) + off, seq * 65536 + slot, true);
    const token = drv.add(s.out, s.inb);
    if (token === null) throw new Error('bulk traffic: ring full');
    byToken.set(token, { slot, postedNs: process.hrtime.bigint() });
  };
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(r.ms * 1e6));
  for (let k = 0; k < w.chains; k++) post(k);
  drv.kick();
  for (;;) {
    const done = drv.reap();
    const now = process.hrtime.bigint();
    for (const c of done) {
      const p = byToken.get(c.token)!;
      byToken.delete(c.token);
      maxCompletionNs = Math.max(maxCompletionNs, Number(now - p.postedNs));
      const s = slots[p.slot]!;
      const rd = w.ramBase + Number(s.read);
      const wr = w.ramBase + Number(s.write);
      if (c.len !== w.chainBytes) errors++;
      else if (w.verify && Buffer.compare(u8.subarray(rd, rd + w.chainBytes), u8.subarray(wr, wr + w.chainBytes)) !== 0)
        errors++;
      completed++;
      if (now < deadline && Atomics.load(i32, w.stop >> 2) === 0) post(p.slot);
    }
    if (done.length) drv.kick();
    if (drv.outstanding === 0) break;
    if (done.length === 0) {
      const seen = Atomics.load(i32, w.irq >> 2);
      if (!drv.enableInterrupts()) Atomics.wait(i32, w.irq >> 2, seen, 100);
      drv.disableInterrupts();
    }
  }
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return { completed, bytes: completed * w.chainBytes, errors, elapsedNs, maxCompletionNs };
}

parentPort!.on('message', (m: Run) => parentPort!.postMessage(run(m)));
