import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { ringDoorbell } from '../core/core-layout.js';
import { SpscRing } from '../core/spsc-ring.js';
import {
  IOC_RESULT,
  IOC_TAG,
  IOC_VALUE,
  IOR_ADDR,
  IOR_ARG0,
  IOR_ARG1,
  IOR_LEN,
  IOR_OP,
  IOR_TAG,
  IO_CAPACITY,
  IO_CORE_CONTROL,
  IO_CORE_RINGS,
  IO_DOORBELL,
  IO_FAILED,
  IO_HANDLED,
  IO_RECORD_BYTES,
  IO_RINGS,
  IO_SLEEPING,
  IO_STOP,
  IO_WAKEUPS,
} from '../../generated/common.js';
import { errnoOf, type IoContext, type IoHandlerModule, type IoRequest, type IoResult } from './io-handler.js';

/** What IoWorker hands its thread. */
export interface IoWorkerInit {
  memory: WebAssembly.Memory;
  channel: number;
  /** URL of the handler module. */
  handler: string;
  data: unknown;
  /** Polls of the request ring before sleeping, when no handler is waiting on I/O. */
  idleSpinPolls: number;
}

/** The thread's messages to its IoWorker: ready once the handler exists, or why it could not be made. */
export type IoWorkerMessage = { ready: true } | { ready: false; error: string };

/**
 * The I/O worker's loop. Unlike a DPU core it runs its event loop (the handlers' files and
 * sockets need it), so it never blocks: it sleeps in Atomics.waitAsync on the channel's doorbell.
 *
 *   bell = doorbell; drain requests (each handed to the handler, not awaited); when idle: poll
 *   the ring a little (only if no handler waits on I/O), then say "sleeping", re-check the ring,
 *   and wait for the doorbell to move from `bell`.
 *
 * Reading the doorbell before draining is what makes the sleep safe (the same argument as the
 * core's): a request published after the read also moved the doorbell, so the wait returns at
 * once. Completions are posted as handlers finish, batched per microtask turn, and the kernel's
 * core is rung once per batch.
 */
async function main(init: IoWorkerInit): Promise<void> {
  const { memory, channel } = init;
  const i32 = new Int32Array(memory.buffer);
  const u8 = new Uint8Array(memory.buffer);
  const view = new DataView(memory.buffer);
  const big = new BigInt64Array(memory.buffer);
  const capacity = view.getUint32(channel + IO_CAPACITY, true);
  const requests = new SpscRing(i32, channel + IO_RINGS, capacity, IO_RECORD_BYTES);
  const completions = new SpscRing(
    i32,
    channel + IO_RINGS + SpscRing.bytes(capacity, IO_RECORD_BYTES),
    capacity,
    IO_RECORD_BYTES,
  );
  const context: IoContext = {
    memory,
    bytes(addr: number, len: number): Uint8Array {
      if (!Number.isInteger(addr) || !Number.isInteger(len) || addr <= 0 || len < 0 || addr + len > u8.length) {
        throw Object.assign(new RangeError(`I/O buffer [${addr}, +${len}) outside host memory`), { errno: -14 });
      }
      return u8.subarray(addr, addr + len);
    },
  };
  const mod = (await import(init.handler)) as Partial<IoHandlerModule>;
  if (typeof mod.createHandler !== 'function') throw new Error(`${init.handler} exports no createHandler`);
  const handler = await mod.createHandler(init.data, context);
  parentPort!.postMessage({ ready: true } satisfies IoWorkerMessage);

  const stopIdx = (channel + IO_STOP) >> 2;
  const bellIdx = (channel + IO_DOORBELL) >> 2;
  const sleepIdx = (channel + IO_SLEEPING) >> 2;
  const count = (off: number): void => void Atomics.add(big, (channel + off) >> 3, 1n);
  const done: { tag: number; r: IoResult }[] = [];
  let flushQueued = false;
  let outstanding = 0;
  let drained: (() => void) | null = null;
  const flush = (): void => {
    flushQueued = false;
    for (const { tag, r } of done.splice(0)) {
      // Never full: the kernel keeps at most `capacity` requests without a consumed completion.
      const ok = completions.push((w) => {
        i32[w + IOC_TAG / 4] = tag;
        i32[w + IOC_RESULT / 4] = r.result | 0;
        view.setBigUint64(w * 4 + IOC_VALUE, r.value ?? 0n, true);
      });
      if (!ok) throw new Error('I/O channel: completion ring full (the kernel exceeded its in-flight limit)');
    }
    const core = Atomics.load(i32, (channel + IO_CORE_CONTROL) >> 2);
    if (core !== 0) {
      ringDoorbell(i32, core);
      count(IO_CORE_RINGS);
    }
  };
  const complete = (tag: number, r: IoResult): void => {
    if (--outstanding === 0) drained?.();
    count(IO_HANDLED);
    if (r.result < 0) count(IO_FAILED);
    done.push({ tag, r });
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  };
  const dispatch = (req: IoRequest): void => {
    let p: Promise<IoResult>;
    try {
      p = Promise.resolve(handler.handle(req));
    } catch (e) {
      p = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    outstanding++;
    p.then(
      (r) => complete(req.tag, r),
      (e: unknown) => complete(req.tag, { result: errnoOf(e) }),
    );
  };

  // A pending Atomics.waitAsync does not keep a thread's event loop alive: without a ref'd
  // handle the thread would simply end while it waits for its doorbell.
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  for (;;) {
    const bell = Atomics.load(i32, bellIdx);
    if (Atomics.load(i32, stopIdx) !== 0) break;
    let n = 0;
    for (;;) {
      let req: IoRequest | null = null;
      const got = requests.pop((w) => {
        req = {
          tag: i32[w + IOR_TAG / 4]! >>> 0,
          op: i32[w + IOR_OP / 4]! >>> 0,
          arg0: view.getBigUint64(w * 4 + IOR_ARG0, true),
          addr: i32[w + IOR_ADDR / 4]! >>> 0,
          len: i32[w + IOR_LEN / 4]! >>> 0,
          arg1: view.getBigUint64(w * 4 + IOR_ARG1, true),
        };
      });
      if (!got || !req) break;
      dispatch(req);
      n++;
    }
    if (n > 0) {
      // Handlers that answered at once complete in this microtask checkpoint; only when some
      // wait on I/O does the loop give the event loop a turn (their callbacks run there).
      await Promise.resolve();
      if (outstanding > 0) await yieldToLoop();
      continue;
    }
    // A kernel usually answers a batch of completions with its next requests within
    // microseconds: polling a little first saves a sleep and a wake-up per batch. Only while no
    // handler waits on I/O, whose callbacks need the event loop this spin would hold.
    if (outstanding === 0 && init.idleSpinPolls > 0) {
      let polls = init.idleSpinPolls;
      while (polls-- > 0 && !requests.hasData());
      if (polls >= 0) continue;
    }
    Atomics.store(i32, sleepIdx, 1);
    if (requests.hasData() || Atomics.load(i32, stopIdx) !== 0) {
      Atomics.store(i32, sleepIdx, 0);
      continue;
    }
    const w = Atomics.waitAsync(i32, bellIdx, bell);
    if (w.async) await w.value;
    Atomics.store(i32, sleepIdx, 0);
    count(IO_WAKEUPS);
  }
  // Stopping: what is in flight finishes and posts its completions (a handler may still be
  // writing a device buffer), then the handler closes.
  if (outstanding > 0) await new Promise<void>((resolve) => (drained = resolve));
  if (flushQueued) flush();
  clearInterval(keepAlive);
  await handler.close?.();
}

main(workerData as IoWorkerInit).catch((e: unknown) => {
  parentPort!.postMessage({
    ready: false,
    error: e instanceof Error ? e.message : String(e),
  } satisfies IoWorkerMessage);
});
