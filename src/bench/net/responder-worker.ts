import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../dpu/core/spsc-ring.js';
import {
  NET_RING_SPSC,
  NET_UPC_ACTIONS,
  NET_UPC_ACTION_BYTES,
  NET_UPC_CAP_LEN,
  NET_UPC_CODE,
  NET_UPC_FLAGS,
  NET_UPC_FRAME,
  NET_UPC_FRAME_LEN,
  NET_UPC_KEY,
  NET_UPC_NET_HDR,
  NET_UPC_PORT,
  NET_UPC_RECORD_BYTES,
  NET_UPC_SEQ,
  NET_DOWN_INSTALL_REINJECT,
} from '../../dpu/net/net-layout.js';

/**
 * The bench's stand-in for the slow path (the routing engine is the control plane's): on an I/O
 * worker of its own, it sleeps on the switch's upcall bell, and answers every miss from a static
 * MAC → port table with install-and-reinject (output to that port), then rings the core. What it
 * measures is the fast path's side of a first packet: upcall, cross-thread hand-off, install,
 * re-injection.
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
}

const w = workerData as Init;
const u8 = new Uint8Array(w.buffer);
const dv = new DataView(w.buffer);
const i32 = new Int32Array(w.buffer);
const ups = w.upcallRings.map((r) => new SpscRing(i32, r.base + NET_RING_SPSC, r.capacity, NET_UPC_RECORD_BYTES));
const down = new SpscRing(i32, w.down.base + NET_RING_SPSC, w.down.capacity, NET_UPC_RECORD_BYTES);
const portOf = new Map(w.macs.map((m) => [m.mac.map((b) => b.toString(16).padStart(2, '0')).join(':'), m.port]));
let handled = 0;
let spins = 0;

function answer(r: number): boolean {
  const dst = Array.from(u8.subarray(r + NET_UPC_FRAME, r + NET_UPC_FRAME + 6), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join(':');
  const port = portOf.get(dst);
  if (port === undefined) return true;
  const len = dv.getUint32(r + NET_UPC_CAP_LEN, true);
  return down.push((wi) => {
    const d = wi << 2;
    u8.copyWithin(d, r, r + 64); // port, seq, lengths, flags
    dv.setUint16(d + NET_UPC_CODE, NET_DOWN_INSTALL_REINJECT, true);
    dv.setUint32(d + 20, 0, true); // cookie
    dv.setUint16(d + NET_UPC_ACTION_BYTES, 4, true);
    u8.copyWithin(d + NET_UPC_KEY, r + NET_UPC_KEY, r + NET_UPC_KEY + 48);
    dv.setUint32(d + NET_UPC_ACTIONS, 1 | (1 << 8) | (port << 16), true); // OUTPUT port
    u8.copyWithin(d + NET_UPC_NET_HDR, r + NET_UPC_NET_HDR, r + NET_UPC_NET_HDR + 16);
    dv.setUint32(d + NET_UPC_FRAME_LEN, len, true);
    dv.setUint32(d + NET_UPC_FLAGS, dv.getUint32(r + NET_UPC_FLAGS, true) & 4, true);
    u8.copyWithin(d + NET_UPC_FRAME, r + NET_UPC_FRAME, r + NET_UPC_FRAME + len);
    void NET_UPC_PORT;
    void NET_UPC_SEQ;
  });
}

for (;;) {
  const seen = Atomics.load(i32, w.bell >> 2);
  let n = 0;
  for (const ring of ups) {
    for (;;) {
      if (down.size() >= w.down.capacity) break; // the fast path has not caught up: leave it queued
      let ok = true;
      const got = ring.pop((wi) => (ok = answer(wi << 2)));
      if (!got) break;
      if (!ok) break;
      n++;
    }
  }
  if (n) {
    handled += n;
    Atomics.add(i32, w.doorbell >> 2, 1);
    if (Atomics.load(i32, w.sleeping >> 2) !== 0) Atomics.notify(i32, w.doorbell >> 2, 1);
  }
  if (Atomics.load(i32, w.stop >> 2) !== 0) break;
  // Spin a little before sleeping: a first packet's upcall then costs no futex wake-up when the
  // misses come one after another (the bench's first-packet case), as a polling slow path would.
  if (!n) {
    spins++;
    if (spins > 2000) {
      Atomics.wait(i32, w.bell >> 2, seen, 50);
      spins = 0;
    }
  } else spins = 0;
}
parentPort!.postMessage({ handled });
