import { parentPort, workerData } from 'node:worker_threads';
import { TsSwitch, type TsSwitchSetup } from './ts-switch.js';

/** The TS peer (ts-switch.ts) in a worker of its own, sleeping on its doorbell when idle as a DPU core does. */
const w = workerData as TsSwitchSetup & { buffer: SharedArrayBuffer; doorbell: number; sleeping: number; stop: number };
const i32 = new Int32Array(w.buffer);
const sw = new TsSwitch(w.buffer, w);
let idle = 0;
for (;;) {
  const bell = Atomics.load(i32, w.doorbell >> 2);
  if (sw.burst()) {
    idle = 0;
    continue;
  }
  if (Atomics.load(i32, w.stop >> 2) !== 0) break;
  if (++idle < 4096) continue;
  Atomics.store(i32, w.sleeping >> 2, 1);
  if (sw.burst() === 0) Atomics.wait(i32, w.doorbell >> 2, bell, 100);
  Atomics.store(i32, w.sleeping >> 2, 0);
  idle = 0;
}
parentPort!.postMessage({ hits: sw.hits, misses: sw.misses, flows: sw.size });
