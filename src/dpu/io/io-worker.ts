import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { distFile } from '../../common/package-paths.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import { IO_DOORBELL, IO_STOP } from '../../generated/common.js';
import type { IoChannel, IoChannelStats } from './io-channel.js';
import type { IoWorkerInit, IoWorkerMessage } from './io-worker-thread.js';

/** The handlers that ship with qingtian (src/dpu/io/handlers/). */
export const BUILTIN_IO_HANDLERS = ['echo', 'file'] as const;

/** Options of {@link IoWorker.start}. Unknown keys are refused. */
export interface IoWorkerOptions {
  /**
   * A built-in handler ('echo', 'file') or the URL of a module exporting `createHandler`
   * (io-handler.ts). It runs inside the worker thread.
   */
  handler: (typeof BUILTIN_IO_HANDLERS)[number] | URL;
  /** Passed to `createHandler` (structured-cloned: plain data, SharedArrayBuffers). */
  data?: unknown;
  /** Thread name. Default: the channel's owner + ':io'. */
  name?: string;
  /**
   * Polls of the request ring before the worker sleeps, 0..1,000,000, done only while no handler
   * waits on I/O (their callbacks need the event loop). A kernel usually answers completions
   * with new requests within microseconds, so a short poll saves a sleep and a wake-up per batch.
   * Default 0 (sleep at once): on a machine whose cores are shared, polling only takes CPU time
   * from the threads that would answer.
   */
  idleSpinPolls?: number;
}

const optionsSchema = z.strictObject({
  handler: z.union([z.enum(BUILTIN_IO_HANDLERS), z.instanceof(URL)], {
    error: `one of ${BUILTIN_IO_HANDLERS.map((h) => `'${h}'`).join(', ')} or a URL`,
  }),
  data: z.unknown().optional(),
  name: nameString(64).optional(),
  idleSpinPolls: intIn(0, 1_000_000).optional(),
});

/**
 * An I/O worker: a thread that serves one I/O channel (io-channel.ts) for a kernel on a DPU
 * core. The kernel posts requests and rings the channel's doorbell at most once per burst; the
 * worker hands each request to its handler (files, sockets, timers: anything that may block or
 * wait), posts each completion into the completion ring and rings the kernel's core. Neither
 * side ever waits for the other: the core keeps serving its other jobs while requests are out.
 */
export class IoWorker {
  private exited: Promise<void>;
  private readonly life = new Lifetime('IoWorker', 'close()');
  /** Set when the thread died of an error after it started (a handler bug); null while healthy. */
  failure: Error | null = null;

  private constructor(
    private readonly memory: HostMemoryApi,
    readonly channel: IoChannel,
    readonly name: string,
    private readonly worker: Worker,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('error', (e) => (this.failure ??= e));
    worker.once('exit', (code) => {
      if (!this.life.ended) this.failure ??= new Error(`I/O worker ${name} exited (code ${code}) without being closed`);
    });
  }

  /** Starts the thread and resolves once its handler exists (QT_INVALID_ARGUMENT when it cannot be made). */
  static async start(memory: HostMemoryApi, channel: IoChannel, options: IoWorkerOptions): Promise<IoWorker> {
    const o = parseArgs(optionsSchema, options, 'I/O worker options');
    const handler =
      o.handler instanceof URL ? o.handler.href : pathToFileURL(distFile(`src/dpu/io/handlers/${o.handler}.js`)).href;
    const name = o.name ?? `${channel.owner}:io`;
    channel.claim(name);
    const init: IoWorkerInit = {
      memory: memory.memory,
      channel: channel.base,
      handler,
      data: o.data,
      idleSpinPolls: o.idleSpinPolls ?? 0,
    };
    const worker = new Worker(distFile('src/dpu/io/io-worker-thread.js'), { workerData: init, name });
    const io = new IoWorker(memory, channel, name, worker);
    try {
      const first = await new Promise<IoWorkerMessage>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`exited with code ${code} before its handler was ready`)));
      });
      if (!first.ready) throw new Error(first.error);
    } catch (e) {
      await worker.terminate();
      channel.release();
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `I/O worker ${name}: handler ${handler}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    return io;
  }

  /** The channel's counters, read out of band. */
  stats(): IoChannelStats {
    this.life.check('stats');
    return this.channel.stats();
  }

  /**
   * Stops the worker: requests already taken finish and post their completions (a handler may be
   * writing a device buffer), then the handler closes and the thread exits.
   */
  async close(): Promise<void> {
    if (!this.life.end()) return this.exited;
    const i32 = this.memory.i32;
    Atomics.store(i32, (this.channel.base + IO_STOP) >> 2, 1);
    Atomics.add(i32, (this.channel.base + IO_DOORBELL) >> 2, 1);
    Atomics.notify(i32, (this.channel.base + IO_DOORBELL) >> 2);
    await this.exited;
    this.channel.release();
  }
}
