import { parentPort, workerData } from 'node:worker_threads';
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
  c: MirrorLayout;
}

export interface MirrorLayout {
  ringCapacity: number;
  ringRecordBytes: number;
  ringBell: number;
  ringHead: number;
  ringTail: number;
  ringRecords: number;
  tick: number;
  origLen: number;
  capLen: number;
  frame: number;
  frameCap: number;
}

async function main(d: MirrorWorkerData): Promise<void> {
  const { c } = d;
  const i32 = new Int32Array(d.memory.buffer);
  const u8 = new Uint8Array(d.memory.buffer);
  const view = new DataView(d.memory.buffer);
  const cap = view.getUint32(d.ring + c.ringCapacity, true);
  const rb = view.getUint32(d.ring + c.ringRecordBytes, true);
  const headIdx = (d.ring + c.ringHead) >> 2;
  const tailIdx = (d.ring + c.ringTail) >> 2;
  const bellIdx = (d.ring + c.ringBell) >> 2;
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
      const rec = d.ring + c.ringRecords + (tail & (cap - 1)) * rb;
      const capLen = Math.min(view.getUint32(rec + c.capLen, true), c.frameCap);
      const tick = view.getUint32(rec + c.tick, true);
      writer.append(
        epoch + BigInt(tick) * 1_000_000n,
        u8.subarray(rec + c.frame, rec + c.frame + capLen),
        view.getUint32(rec + c.origLen, true),
      );
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
