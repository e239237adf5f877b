import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { LoaderRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { SharedSwitchEnd } from '../../dpu/net/slow-path-switch.js';
import { SubMemory } from '../../memory/sub-memory.js';
import { VpcSlowPath } from './vpc-slow-path.js';
import type { VpcSlowPathThreadInit, VpcSlowPathThreadReq } from './vpc-slow-path-thread.js';

/**
 * The bench's real slow path (vpc-slow-path.ts) on a thread of its own at the DPU cores'
 * priority: its kernels' tables in an arena of host memory, the switch's rings through a
 * SharedSwitchEnd, the runner blocking on the upcall bell. It leaves that loop only when the
 * main thread asks for attention (a message is coming), and answers the message on its event loop.
 */
const w = workerData as VpcSlowPathThreadInit;
if (w.nice !== null) {
  try {
    setPriority(w.nice);
  } catch {
    // Raising a priority needs root or CAP_SYS_NICE: then the slow path runs at the process's.
  }
}
const memory = new SubMemory(w.memory, w.arenaBase, w.arenaBytes);
const runtime = new LoaderRuntime(memory);
const vpc = VpcSlowPath.create(runtime, w.ports, w.ctMaxEntries, w.trace);
const i32 = memory.i32;
const attention = w.attention >> 2;
let running = false;
let loop: Promise<void> = Promise.resolve();

/** What stopped the loop, if it failed: every later request gets it as its answer. */
let failed: string | undefined;

async function run(): Promise<void> {
  try {
    while (running) {
      vpc.runBlocking(() => Atomics.load(i32, attention) !== 0);
      Atomics.store(i32, attention, 0);
      // A turn of the event loop: the message that asked for attention is handled now.
      await new Promise((r) => setImmediate(r));
    }
  } catch (e) {
    running = false;
    failed = e instanceof Error ? e.message : String(e);
  }
}

parentPort!.on('message', (req: VpcSlowPathThreadReq) => {
  const reply = (m: unknown): void => parentPort!.postMessage(m);
  try {
    if (failed !== undefined && req.op !== 'stop')
      throw new QingtianError(ErrorCode.DeviceState, `the slow path's loop failed: ${failed}`);
    switch (req.op) {
      case 'start':
        vpc.start(new SharedSwitchEnd(runtime, req.end), { loop: false });
        running = true;
        loop = run();
        reply({ ok: true });
        return;
      case 'stats':
        reply({ stats: vpc.stats() });
        return;
      case 'stop':
        running = false;
        void loop.then(async () => {
          await vpc.stop();
          reply({ ok: true });
        });
        return;
    }
  } catch (e) {
    reply({ error: e instanceof Error ? e.message : String(e) });
  }
});
parentPort!.postMessage({ ids: vpc.ids });
