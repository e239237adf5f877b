// Worker thread for test/dpu/blk/storage-worker.test.ts: plays a DPU kernel that submits block
// requests through a volume queue in shared memory and reaps completions, with no message to or
// from the main thread until it reports. It writes a pattern to random blocks (QD up to the
// queue's depth), flushes, reads every written block back and compares.
import { parentPort, workerData } from 'node:worker_threads';
import { VolumeQueueClient } from '../../dist/src/dpu/blk/engine/queue-client.js';
import { Prng } from '../../dist/src/common/prng.js';

const { memory, queue, bufferBase, blocks, count, seed } = workerData;
const buf = memory.buffer;
const mem = { i32: new Int32Array(buf), view: new DataView(buf) };
const q = new VolumeQueueClient(mem, queue);
const rng = new Prng(seed);
const slots = q.depth;
const fill = (slot, lba) => {
  const at = bufferBase + slot * 4096;
  for (let i = 0; i < 4096; i += 4) mem.view.setUint32(at + i, (lba * 7919 + i + seed) >>> 0, true);
};
const check = (slot, lba) => {
  const at = bufferBase + slot * 4096;
  for (let i = 0; i < 4096; i += 4)
    if (mem.view.getUint32(at + i, true) !== (lba * 7919 + i + seed) >>> 0) return false;
  return true;
};

function run(ops) {
  // ops: [{op, lba, fill?, verify?}]; tags are slot numbers.
  const free = Array.from({ length: slots }, (_, i) => i);
  const inflight = new Map();
  const statuses = [];
  let next = 0;
  while (next < ops.length || inflight.size > 0) {
    while (next < ops.length && free.length > 0) {
      const o = ops[next++];
      const slot = free.pop();
      if (o.op === 1) fill(slot, o.lba);
      q.submit(o.op, o.lba * 4096, o.op === 2 ? 0 : 4096, bufferBase + slot * 4096, slot);
      inflight.set(slot, o);
    }
    q.ring();
    q.reap((tag, status) => {
      const o = inflight.get(tag);
      inflight.delete(tag);
      free.push(tag);
      statuses.push(status);
      if (o.op === 0 && status === 0 && !check(tag, o.lba)) statuses.push(-1);
    });
  }
  return statuses;
}

const lbas = new Set();
while (lbas.size < count) lbas.add(rng.int(blocks));
const writes = [...lbas].map((lba) => ({ op: 1, lba }));
const w = run([...writes, { op: 2, lba: 0 }]);
const r = run([...lbas].map((lba) => ({ op: 0, lba })));
parentPort.postMessage({
  writes: w.length,
  reads: r.length,
  bad: [...w, ...r].filter((s) => s !== 0).length,
});
