import { parentPort, workerData } from 'node:worker_threads';
import { Prng } from '../../../common/prng.js';
import { VolumeQueueClient } from './queue-client.js';
import type { VolumeOp } from './volume-queue-layout.js';

/**
 * A load thread for volume queues (`bench volume`, the demo): in the shape of a DPU job, it keeps
 * `depth` random 4 KiB requests in flight on a queue for `ms` milliseconds, reaping completions
 * and sleeping on its completion doorbell (which the storage worker rings) when none is there.
 * Posts { ops, elapsedMs, errors } when done.
 */
export interface QueueLoadInit {
  memory: WebAssembly.Memory;
  queue: number;
  bufferBase: number;
  blocks: number;
  op: VolumeOp;
  depth: number;
  ms: number;
  seed: number;
  /** Host addresses of this thread's doorbell and sleeping flag (set in the queue at open). */
  doorbell: number;
  sleeping: number;
}

const w = workerData as QueueLoadInit;
const buf = w.memory.buffer as unknown as SharedArrayBuffer;
const i32 = new Int32Array(buf);
const q = new VolumeQueueClient({ i32, view: new DataView(buf) }, w.queue);
const rng = new Prng(w.seed);
const free: number[] = Array.from({ length: w.depth }, (_, i) => i);
let done = 0;
let errors = 0;
const onDone = (tag: number, status: number): void => {
  free.push(tag);
  done++;
  if (status !== 0) errors++;
};
const end = performance.now() + w.ms;
const t0 = performance.now();
while (performance.now() < end) {
  while (free.length > 0) {
    const slot = free.pop()!;
    q.submit(w.op, rng.int(w.blocks) * 4096, 4096, w.bufferBase + slot * 4096, slot);
  }
  q.ring();
  if (q.reap(onDone) > 0) continue;
  const bell = Atomics.load(i32, w.doorbell >> 2);
  Atomics.store(i32, w.sleeping >> 2, 1);
  if (q.reap(onDone) === 0) Atomics.wait(i32, w.doorbell >> 2, bell, 5);
  Atomics.store(i32, w.sleeping >> 2, 0);
}
const elapsedMs = performance.now() - t0;
const ops = done;
while (q.outstanding > 0) {
  q.reap(onDone);
  Atomics.wait(i32, w.doorbell >> 2, Atomics.load(i32, w.doorbell >> 2), 1);
}
parentPort!.postMessage({ ops, elapsedMs, errors });
