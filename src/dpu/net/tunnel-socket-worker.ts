import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import {
  NET_RING_BELL,
  NET_RING_CAPACITY,
  NET_RING_FULL,
  NET_RING_HEAD,
  NET_RING_RECORDS,
  NET_RING_RECORD_BYTES,
  NET_RING_TAIL,
  NET_TIO_ADDR,
  NET_TIO_CORE_DOORBELL,
  NET_TIO_CORE_SLEEPING,
  NET_TIO_LEN,
  NET_TIO_PAYLOAD,
  NET_TIO_PAYLOAD_CAP,
  NET_TIO_PORT,
  NET_TIO_RX_RING,
  NET_TIO_TX_RING,
} from './net-layout.js';

/**
 * The VXLAN tunnel's socket worker (an I/O worker: it owns the UDP socket so that no DPU core ever
 * makes a socket call). It meets the core through the tunnel I/O region's two rings:
 *
 *   TX ring (core → here): wait on its bell, send every record's payload to its address and port.
 *   RX ring (here → core): each datagram becomes a record; publish, then add 1 to the core's
 *                          doorbell and wake the core if it sleeps.
 *
 * Records: +0 IPv4 (network order), +4 u16 UDP port, +6 u16 payload length, +16 the payload (VXLAN
 * header and inner frame).
 */
export interface TunnelWorkerData {
  memory: WebAssembly.Memory;
  /** The tunnel I/O region. */
  tio: number;
  /** Worker-side counters (the STAT_* indexes). */
  stats: SharedArrayBuffer;
  address: string;
  port: number;
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
  const i32 = new Int32Array(d.memory.buffer);
  const u8 = new Uint8Array(d.memory.buffer);
  const view = new DataView(d.memory.buffer);
  const stats = new BigUint64Array(d.stats);
  const ring = (at: number): Ring => {
    const base = view.getUint32(d.tio + at, true);
    return {
      base,
      capacity: view.getUint32(base + NET_RING_CAPACITY, true),
      recordBytes: view.getUint32(base + NET_RING_RECORD_BYTES, true),
    };
  };
  const tx = ring(NET_TIO_TX_RING);
  const rx = ring(NET_TIO_RX_RING);
  const bump = (i: number): void => void Atomics.add(stats, i, 1n);
  let running = true;

  const socket: Socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  socket.on('error', (e) => parentPort!.postMessage({ kind: 'error', message: e.message }));
  socket.on('message', (msg, rinfo) => {
    if (msg.length > NET_TIO_PAYLOAD_CAP) return bump(STAT_RX_TOO_BIG);
    const head = i32[(rx.base + NET_RING_HEAD) >> 2]!; // only this side writes head
    const tail = Atomics.load(i32, (rx.base + NET_RING_TAIL) >> 2);
    if (((head - tail) | 0) >= rx.capacity) {
      view.setBigUint64(rx.base + NET_RING_FULL, view.getBigUint64(rx.base + NET_RING_FULL, true) + 1n, true);
      return bump(STAT_RX_FULL);
    }
    const rec = rx.base + NET_RING_RECORDS + (head & (rx.capacity - 1)) * rx.recordBytes;
    const octets = rinfo.address.split('.').map(Number);
    for (let i = 0; i < 4; i++) u8[rec + NET_TIO_ADDR + i] = octets[i] ?? 0;
    view.setUint16(rec + NET_TIO_PORT, rinfo.port, true);
    view.setUint16(rec + NET_TIO_LEN, msg.length, true);
    u8.fill(0, rec + NET_TIO_LEN + 2, rec + NET_TIO_PAYLOAD);
    u8.set(msg, rec + NET_TIO_PAYLOAD);
    // Publish the record, then ring: the core reads head after its doorbell moved.
    Atomics.store(i32, (rx.base + NET_RING_HEAD) >> 2, (head + 1) | 0);
    bump(STAT_RX_RECEIVED);
    const bell = view.getUint32(d.tio + NET_TIO_CORE_DOORBELL, true);
    if (bell === 0) return;
    Atomics.add(i32, bell >> 2, 1);
    const sleeping = view.getUint32(d.tio + NET_TIO_CORE_SLEEPING, true);
    if (sleeping !== 0 && Atomics.load(i32, sleeping >> 2) !== 0) Atomics.notify(i32, bell >> 2);
  });

  const drainTx = (): void => {
    const headIdx = (tx.base + NET_RING_HEAD) >> 2;
    const tailIdx = (tx.base + NET_RING_TAIL) >> 2;
    let tail = i32[tailIdx]!; // only this side writes tail
    const head = Atomics.load(i32, headIdx);
    while (tail !== head) {
      const rec = tx.base + NET_RING_RECORDS + (tail & (tx.capacity - 1)) * tx.recordBytes;
      const len = view.getUint16(rec + NET_TIO_LEN, true);
      const port = view.getUint16(rec + NET_TIO_PORT, true);
      const a = rec + NET_TIO_ADDR;
      const addr = `${u8[a]}.${u8[a + 1]}.${u8[a + 2]}.${u8[a + 3]}`;
      if (len <= NET_TIO_PAYLOAD_CAP && port !== 0) {
        // A copy: the slot is released below, before the datagram leaves.
        const payload = Buffer.from(u8.slice(rec + NET_TIO_PAYLOAD, rec + NET_TIO_PAYLOAD + len));
        socket.send(payload, port, addr, (err) => bump(err ? STAT_TX_ERRORS : STAT_TX_SENT));
      } else bump(STAT_TX_ERRORS);
      tail = (tail + 1) | 0;
    }
    Atomics.store(i32, tailIdx, tail);
  };

  const txLoop = async (): Promise<void> => {
    const bellIdx = (tx.base + NET_RING_BELL) >> 2;
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
    Atomics.add(i32, (tx.base + NET_RING_BELL) >> 2, 1);
    Atomics.notify(i32, (tx.base + NET_RING_BELL) >> 2);
    socket.close(() => parentPort!.close());
  });

  socket.bind({ address: d.address, port: d.port, exclusive: true }, () => {
    parentPort!.postMessage({ kind: 'ready', port: socket.address().port });
    txLoop().catch((e: unknown) => parentPort!.postMessage({ kind: 'error', message: String(e) }));
  });
}

if (parentPort) main(workerData as TunnelWorkerData);
