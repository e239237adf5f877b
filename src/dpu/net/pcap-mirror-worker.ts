import { parentPort, workerData } from 'node:worker_threads';
import {
  NET_MIR_CAP_LEN,
  NET_MIR_FRAME,
  NET_MIR_FRAME_CAP,
  NET_MIR_ORIG_LEN,
  NET_MIR_TICK,
  NET_RING_BELL,
  NET_RING_CAPACITY,
  NET_RING_HEAD,
  NET_RING_RECORDS,
  NET_RING_RECORD_BYTES,
  NET_RING_TAIL,
} from './net-layout.js';
import { PcapWriter } from './pcap-writer.js';

/**
 * A port mirror's writer (an I/O worker): drains the mirror ring the fast path fills (one record
 * per frame entering or leaving the port) into a pcap file. Waits on the ring's bell; a tick
 * becomes a timestamp through the clock's epoch (wall-clock nanoseconds at tick 0).
 */
export interface MirrorWorkerData {
  memory: WebAssembly.Memory;
  ring: number;
  path: string;
  snaplen: number;
  epochNs: string;
}

async function main(d: MirrorWorkerData): Promise<void> {
  const i32 = new Int32Array(d.memory.buffer);
  const u8 = new Uint8Array(d.memory.buffer);
  const view = new DataView(d.memory.buffer);
  const cap = view.getUint32(d.ring + NET_RING_CAPACITY, true);
  const rb = view.getUint32(d.ring + NET_RING_RECORD_BYTES, true);
  const headIdx = (d.ring + NET_RING_HEAD) >> 2;
  const tailIdx = (d.ring + NET_RING_TAIL) >> 2;
  const bellIdx = (d.ring + NET_RING_BELL) >> 2;
  const epoch = BigInt(d.epochNs);
  const writer = await PcapWriter.open(d.path, d.snaplen);
  let running = true;
  let reported = 0;
  parentPort!.on('message', (m: { kind: string }) => {
    if (m.kind !== 'stop') return;
    running = false;
    Atomics.add(i32, bellIdx, 1);
    Atomics.notify(i32, bellIdx);
  });
  parentPort!.postMessage({ kind: 'ready' });

  const drain = (): void => {
    let tail = i32[tailIdx]!; // only this side writes tail
    const head = Atomics.load(i32, headIdx);
    while (tail !== head) {
      const rec = d.ring + NET_RING_RECORDS + (tail & (cap - 1)) * rb;
      const capLen = Math.min(view.getUint32(rec + NET_MIR_CAP_LEN, true), NET_MIR_FRAME_CAP);
      const timeNs = epoch + BigInt(view.getUint32(rec + NET_MIR_TICK, true)) * 1_000_000n;
      const frame = u8.subarray(rec + NET_MIR_FRAME, rec + NET_MIR_FRAME + capLen);
      writer.append(timeNs, frame, view.getUint32(rec + NET_MIR_ORIG_LEN, true));
      tail = (tail + 1) | 0;
    }
    Atomics.store(i32, tailIdx, tail);
  };

  while (running) {
    const bell = Atomics.load(i32, bellIdx);
    drain();
    if (writer.packets !== reported) {
      await writer.flush();
      reported = writer.packets;
      parentPort!.postMessage({ kind: 'written', packets: reported });
    }
    const w = Atomics.waitAsync(i32, bellIdx, bell);
    if (w.async) await w.value;
  }
  drain();
  await writer.close();
  parentPort!.postMessage({ kind: 'closed', packets: writer.packets });
  parentPort!.close();
}

if (parentPort) {
  main(workerData as MirrorWorkerData).catch((e: unknown) => {
    parentPort!.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
    parentPort!.close();
  });
}
