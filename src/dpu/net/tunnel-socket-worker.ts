import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The VXLAN tunnel's socket worker (an I/O worker: it owns the UDP socket so that no DPU core ever
 * makes a socket call). It meets the core through the tunnel I/O region's two rings:
 *
 *   TX ring (core → here): wait on its bell, send every record's payload to its address and port.
 *   RX ring (here → core): each datagram becomes a record; publish, then add 1 to the core's
 *                          doorbell and wake the core if it sleeps.
 *
 * Records: +0 IPv4 (network order), +4 u16 UDP port, +6 u16 payload length, +16 the payload (VXLAN
 * header and inner frame). Layout offsets arrive in workerData from the kernel's exports.
 */
export interface TunnelWorkerData {
  memory: WebAssembly.Memory;
  /** The tunnel I/O region. */
  tio: number;
  /** Worker-side counters (TunnelSocket's STAT_* indexes). */
  stats: SharedArrayBuffer;
  address: string;
  port: number;
  c: TunnelLayout;
}

/** The offsets the worker needs, read from the `net` kernel's exports by the main thread. */
export interface TunnelLayout {
  txRing: number;
  rxRing: number;
  coreDoorbell: number;
  coreSleeping: number;
  recAddr: number;
  recPort: number;
  recLen: number;
  recPayload: number;
  payloadCap: number;
  ringCapacity: number;
  ringRecordBytes: number;
  ringBell: number;
  ringFull: number;
  ringHead: number;
  ringTail: number;
  ringRecords: number;
}

export const STAT_TX_SENT = 0;
export const STAT_TX_ERRORS = 1;
export const STAT_RX_RECEIVED = 2;
export const STAT_RX_TOO_BIG = 3;
export const STAT_RX_FULL = 4;
export const STAT_WORDS = 5;

interface Ring {
  base: number;
  capacity: number;
  recordBytes: number;
}

function main(d: TunnelWorkerData): void {
  const { c } = d;
  const i32 = new Int32Array(d.memory.buffer);
  const u8 = new Uint8Array(d.memory.buffer);
  const view = new DataView(d.memory.buffer);
  const stats = new BigUint64Array(d.stats);
  const ring = (at: number): Ring => {
    const base = view.getUint32(d.tio + at, true);
    return {
      base,
      capacity: view.getUint32(base + c.ringCapacity, true),
      recordBytes: view.getUint32(base + c.ringRecordBytes, true),
    };
  };
  const tx = ring(c.txRing);
  const rx = ring(c.rxRing);
  const bump = (i: number): void => void Atomics.add(stats, i, 1n);
  let running = true;

  const socket: Socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  socket.on('error', (e) => parentPort!.postMessage({ kind: 'error', message: e.message }));
  socket.on('message', (msg, rinfo) => {
    if (msg.length > c.payloadCap) return bump(STAT_RX_TOO_BIG);
    const head = i32[(rx.base + c.ringHead) >> 2]!; // only this side writes head
    const tail = Atomics.load(i32, (rx.base + c.ringTail) >> 2);
    if (((head - tail) | 0) >= rx.capacity) {
      view.setBigUint64(rx.base + c.ringFull, view.getBigUint64(rx.base + c.ringFull, true) + 1n, true);
      return bump(STAT_RX_FULL);
    }
    const rec = rx.base + c.ringRecords + (head & (rx.capacity - 1)) * rx.recordBytes;
    const [a = 0, b = 0, e = 0, f = 0] = rinfo.address.split('.').map(Number);
    u8[rec + c.recAddr] = a;
    u8[rec + c.recAddr + 1] = b;
    u8[rec + c.recAddr + 2] = e;
    u8[rec + c.recAddr + 3] = f;
    view.setUint16(rec + c.recPort, rinfo.port, true);
    view.setUint16(rec + c.recLen, msg.length, true);
    u8.fill(0, rec + c.recLen + 2, rec + c.recPayload);
    u8.set(msg, rec + c.recPayload);
    // Publish the record, then ring: the core reads head after its doorbell moved.
    Atomics.store(i32, (rx.base + c.ringHead) >> 2, (head + 1) | 0);
    bump(STAT_RX_RECEIVED);
    const bell = view.getUint32(d.tio + c.coreDoorbell, true);
    const sleeping = view.getUint32(d.tio + c.coreSleeping, true);
    if (bell !== 0) Atomics.add(i32, bell >> 2, 1);
    if (bell !== 0 && sleeping !== 0 && Atomics.load(i32, sleeping >> 2) !== 0) Atomics.notify(i32, bell >> 2);
  });

  const drainTx = (): void => {
    const headIdx = (tx.base + c.ringHead) >> 2;
    const tailIdx = (tx.base + c.ringTail) >> 2;
    let tail = i32[tailIdx]!; // only this side writes tail
    const head = Atomics.load(i32, headIdx);
    while (tail !== head) {
      const rec = tx.base + c.ringRecords + (tail & (tx.capacity - 1)) * tx.recordBytes;
      const len = view.getUint16(rec + c.recLen, true);
      const port = view.getUint16(rec + c.recPort, true);
      const addr = `${u8[rec + c.recAddr]}.${u8[rec + c.recAddr + 1]}.${u8[rec + c.recAddr + 2]}.${u8[rec + c.recAddr + 3]}`;
      if (len <= c.payloadCap && port !== 0) {
        // A copy: the slot is released below, before the datagram leaves.
        const payload = Buffer.from(u8.slice(rec + c.recPayload, rec + c.recPayload + len));
        socket.send(payload, port, addr, (err) => bump(err ? STAT_TX_ERRORS : STAT_TX_SENT));
      } else bump(STAT_TX_ERRORS);
      tail = (tail + 1) | 0;
    }
    Atomics.store(i32, tailIdx, tail);
  };

  const txLoop = async (): Promise<void> => {
    const bellIdx = (tx.base + c.ringBell) >> 2;
    while (running) {
      // Read the bell before draining: a record published after the drain also moved the bell,
      // so the wait below returns at once instead of sleeping on it.
      const bell = Atomics.load(i32, bellIdx);
      drainTx();
      const w = Atomics.waitAsync(i32, bellIdx, bell);
      if (w.async) await w.value;
    }
  };

  parentPort!.on('message', (m: { kind: string }) => {
    if (m.kind !== 'stop') return;
    running = false;
    Atomics.add(i32, (tx.base + c.ringBell) >> 2, 1);
    Atomics.notify(i32, (tx.base + c.ringBell) >> 2);
    socket.close(() => parentPort!.close());
  });

  socket.bind({ address: d.address, port: d.port, exclusive: true }, () => {
    parentPort!.postMessage({ kind: 'ready', port: socket.address().port });
    txLoop().catch((e: unknown) => parentPort!.postMessage({ kind: 'error', message: String(e) }));
  });
}

if (parentPort) main(workerData as TunnelWorkerData);
