import { parentPort, workerData } from 'node:worker_threads';

/**
 * Plain-worker peers for the core bench.
 *  - 'notify': a bare Atomics.wait / Atomics.notify responder, the floor under an interrupt-mode
 *    core's wake-up (words: 0 request, 1 response, 2 sleeping, 3 stop).
 *  - 'port': a MessagePort echo, the usual way to send a command to a worker.
 */
const data = workerData as { mode: 'notify' | 'port'; sab?: SharedArrayBuffer };
if (data.mode === 'notify') {
  const i32 = new Int32Array(data.sab!);
  let last = Atomics.load(i32, 0);
  for (;;) {
    Atomics.store(i32, 2, 1);
    Atomics.wait(i32, 0, last);
    Atomics.store(i32, 2, 0);
    if (Atomics.load(i32, 3) !== 0) break;
    last = Atomics.load(i32, 0);
    Atomics.store(i32, 1, last);
  }
} else {
  parentPort!.on('message', (m: unknown) => parentPort!.postMessage(m));
}
