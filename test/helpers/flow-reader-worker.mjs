// A reader on another thread: runs one flow-kernel lookup in a loop over shared memory while
// the main thread updates the structure, and counts results outside the allowed set.
// `allowed`: one set for every result (null: anything but -1); `allowedAt`, when given: one set
// per header position instead.
import { parentPort, workerData } from 'node:worker_threads';

const { bytes, memory, fn, state, input, count, out, allowed, allowedAt, stopAt } = workerData;
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
const f = instance.exports[fn];
const i32 = new Int32Array(memory.buffer);
const ok = allowed === null || allowed === undefined ? null : new Set(allowed); // null: anything but -1
const okAt = allowedAt ? allowedAt.map((a) => new Set(a)) : null;
let calls = 0;
let bad = 0;
const seen = new Map();
while (Atomics.load(i32, stopAt >> 2) === 0) {
  const st = fn === 'flow_fc_lookup' ? f(state, input, count, out, 1) : f(state, input, count, out);
  if (st !== count) bad++;
  for (let i = 0; i < count; i++) {
    const v = i32[(out >> 2) + i];
    if (okAt ? !okAt[i].has(v) : ok ? !ok.has(v) : v === -1) bad++;
    if (!seen.has(v)) Atomics.store(i32, (stopAt >> 2) + 2, seen.size + 1); // distinct results, watched by the writer
    seen.set(v, (seen.get(v) ?? 0) + 1);
  }
  calls++;
  Atomics.add(i32, (stopAt >> 2) + 1, 1); // progress, watched by the writer
}
parentPort.postMessage({ calls, bad, seen: [...seen.entries()] });
