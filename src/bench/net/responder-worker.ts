import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../dpu/core/spsc-ring.js';
import {
  NET_RING_SPSC,
  NET_UPC_ACTIONS,
  NET_UPC_ACTION_BYTES,
  NET_UPC_CAP_LEN,
  NET_UPC_CODE,
  NET_UPC_COOKIE,
  NET_UPC_FLAGS,
  NET_UPC_FRAME,
  NET_UPC_FRAME_LEN,
  NET_UPC_HASH,
  NET_UPC_KEY,
  NET_UPC_NET_HDR,
  NET_UPC_RECORD_BYTES,
  NET_UPF_NET_HDR,
  NET_UPF_PENDING,
  NET_DOWN_INSTALL_REINJECT,
  NET_DOWN_RELEASE,
} from '../../dpu/net/net-layout.js';

/**
 * The bench's stand-in for the slow path (the routing engine is the control plane's): on an I/O
 * worker of its own, it answers every miss from a static MAC → port table with
 * install-and-reinject (output to that port), then rings the core once per batch. It answers
 * every counted upcall (the switch keeps flows in order, as with the real slow path). Handler
 * loop the OVS way: a wake-up drains every ring (as much as the downcall ring takes), one
 * doorbell per batch, a short spin on the bell before sleeping, nothing allocated per upcall.
 * What it measures is the fast path's side of a first packet: upcall, cross-thread hand-off,
 * install, re-injection.
 */
interface Init {
  buffer: SharedArrayBuffer;
  bell: number;
  upcallRings: { base: number; capacity: number }[];
  down: { base: number; capacity: number };
  macs: { mac: number[]; port: number }[];
  doorbell: number;
  sleeping: number;
  stop: number;
  /** Microseconds to spin on the bell after the last upcall before sleeping. */
  spinUs: number;
  /**
   * Host address of the stage trace (0: none): per UDP source port (the sample's id), f64 time
   * the upcall was taken, f64 time its answer was published (process.hrtime ns), f64 1 when the
   * handler had been asleep, f64 0.
   */
  trace: number;
  /** This thread's nice value (the DPU cores' priority), or null to keep the process's. */
  nice: number | null;
}

const w = workerData as Init;
if (w.nice !== null) {
  try {
    setPriority(w.nice);
  } catch {
    // Raising a priority needs root or CAP_SYS_NICE: then the handler runs at the process's.
  }
}
const u8 = new Uint8Array(w.buffer);
const dv = new DataView(w.buffer);
const i32 = new Int32Array(w.buffer);
const f64 = new Float64Array(w.buffer);
const ups = w.upcallRings.map((r) => new SpscRing(i32, r.base + NET_RING_SPSC, r.capacity, NET_UPC_RECORD_BYTES));
const down = new SpscRing(i32, w.down.base + NET_RING_SPSC, w.down.capacity, NET_UPC_RECORD_BYTES);
// MAC → port without strings: the first four bytes and the last two as numbers.
const macHi = w.macs.map((m) => ((m.mac[0]! << 24) | (m.mac[1]! << 16) | (m.mac[2]! << 8) | m.mac[3]!) >>> 0);
const macLo = w.macs.map((m) => (m.mac[4]! << 8) | m.mac[5]!);
const ports = w.macs.map((m) => m.port);
const now = (): number => Number(process.hrtime.bigint());
let handled = 0;
let slept = false;
// Trace entries of this batch, stamped with the publish time once the doorbell is rung.
const batch = new Int32Array(4096);
let batched = 0;

function portOf(r: number): number {
  const hi = dv.getUint32(r + NET_UPC_FRAME, false);
  const lo = dv.getUint16(r + NET_UPC_FRAME + 4, false);
  for (let i = 0; i < ports.length; i++) if (macHi[i] === hi && macLo[i] === lo) return ports[i]!;
  return -1;
}

function answer(r: number): boolean {
  const port = portOf(r);
  const flags = dv.getUint32(r + NET_UPC_FLAGS, true);
  if (w.trace !== 0 && batched < batch.length) {
    const sport = dv.getUint16(r + NET_UPC_FRAME + 34, false);
    f64[(w.trace >> 3) + sport * 4] = now();
    f64[(w.trace >> 3) + sport * 4 + 2] = slept ? 1 : 0;
    batch[batched++] = sport;
  }
  if (port < 0) {
    // Not ours to forward: a counted upcall still gets its answer (a bare release).
    if ((flags & NET_UPF_PENDING) === 0) return true;
    return down.push((wi) => {
      const d = wi << 2;
      dv.setUint16(d + NET_UPC_CODE, NET_DOWN_RELEASE, true);
      dv.setUint32(d + NET_UPC_FRAME_LEN, 1, true);
      dv.setUint32(d + NET_UPC_FLAGS, 0, true);
      dv.setUint32(d + NET_UPC_FRAME, dv.getUint32(r + NET_UPC_HASH, true), true);
    });
  }
  const len = dv.getUint32(r + NET_UPC_CAP_LEN, true);
  return down.push((wi) => {
    const d = wi << 2;
    u8.copyWithin(d, r, r + 64); // port, seq, lengths, flags, hash
    dv.setUint16(d + NET_UPC_CODE, NET_DOWN_INSTALL_REINJECT, true);
    dv.setUint32(d + NET_UPC_COOKIE, 0, true);
    dv.setUint16(d + NET_UPC_ACTION_BYTES, 4, true);
    u8.copyWithin(d + NET_UPC_KEY, r + NET_UPC_KEY, r + NET_UPC_KEY + 48);
    dv.setUint32(d + NET_UPC_ACTIONS, 1 | (1 << 8) | (port << 16), true); // OUTPUT port
    u8.copyWithin(d + NET_UPC_NET_HDR, r + NET_UPC_NET_HDR, r + NET_UPC_NET_HDR + 16);
    dv.setUint32(d + NET_UPC_FRAME_LEN, len, true);
    // The header when the sender gave one; the pending mark (with the hash copied above) so
    // the fast path counts this answer.
    dv.setUint32(d + NET_UPC_FLAGS, flags & (NET_UPF_NET_HDR | NET_UPF_PENDING), true);
    u8.copyWithin(d + NET_UPC_FRAME, r + NET_UPC_FRAME, r + NET_UPC_FRAME + len);
  });
}

// The spin is timed with performance.now() (a double: nothing allocated while spinning).
const spinMs = w.spinUs / 1000;
let idleSince = performance.now();
// Whether a batch is coming: the last wake-up found more than one upcall, or found some while
// spinning. A lone miss (one new flow) is followed by sleep at once.
let streaming = false;
for (;;) {
  const seen = Atomics.load(i32, w.bell >> 2);
  let n = 0;
  // Round robin over the ports, a few records each, until every ring is empty or the downcall
  // ring is full (the fast path has not caught up: the rest stays queued).
  for (let more = true; more;) {
    more = false;
    for (const ring of ups) {
      for (let k = 0; k < 16; k++) {
        if (down.size() >= w.down.capacity) break;
        let ok = true;
        if (!ring.pop((wi) => (ok = answer(wi << 2)))) break;
        if (!ok) break;
        n++;
        more = true;
      }
    }
  }
  if (n) {
    handled += n;
    Atomics.add(i32, w.doorbell >> 2, 1);
    if (Atomics.load(i32, w.sleeping >> 2) !== 0) Atomics.notify(i32, w.doorbell >> 2, 1);
    if (batched) {
      const t = now();
      for (let i = 0; i < batched; i++) f64[(w.trace >> 3) + batch[i]! * 4 + 1] = t;
      batched = 0;
    }
    streaming = n > 1 || !slept;
    slept = false;
    idleSince = performance.now();
    continue;
  }
  if (Atomics.load(i32, w.stop >> 2) !== 0) break;
  // Spin briefly before sleeping: a miss that follows soon (the next of a batch of new flows)
  // costs no futex wake-up; past the spin the handler sleeps and leaves the CPU to the guests.
  if (streaming && performance.now() - idleSince < spinMs) continue;
  streaming = false;
  slept = Atomics.wait(i32, w.bell >> 2, seen, 50) !== 'timed-out';
  idleSince = performance.now();
}
parentPort!.postMessage({ handled });
