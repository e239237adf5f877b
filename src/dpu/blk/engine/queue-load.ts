import { Worker } from 'node:worker_threads';
import { distFile } from '../../../common/package-paths.js';
import type { HostMemoryApi } from '../../../common/host-memory-api.js';
import type { VolumeQueue } from '../storage-volume.js';
import type { QueueLoadInit } from './queue-load-worker.js';
import type { VolumeOp } from './volume-queue-layout.js';

export interface QueueLoadResult {
  /** Requests completed within the time. */
  ops: number;
  elapsedMs: number;
  errors: number;
}

/**
 * Runs a load thread (queue-load-worker.ts) on a volume queue: `depth` random 4 KiB requests of
 * `op` in flight for `ms` milliseconds over `blocks` blocks. The queue must have been opened with
 * the thread's doorbell words (`words`, two i32 64 bytes apart) as its completion doorbell and
 * sleeping flag.
 */
export function runQueueLoad(
  memory: HostMemoryApi,
  queue: VolumeQueue,
  words: number,
  o: { op: VolumeOp; blocks: number; depth: number; ms: number; seed: number },
): Promise<QueueLoadResult> {
  const init: QueueLoadInit = {
    memory: memory.memory,
    queue: queue.base,
    bufferBase: queue.bufferBase,
    blocks: o.blocks,
    op: o.op,
    depth: Math.min(o.depth, queue.depth),
    ms: o.ms,
    seed: o.seed,
    doorbell: words,
    sleeping: words + 64,
  };
  return new Promise((resolve, reject) => {
    const w = new Worker(distFile('src/dpu/blk/engine/queue-load-worker.js'), { workerData: init });
    w.once('message', (r: QueueLoadResult) => {
      void w.terminate();
      resolve(r);
    });
    w.once('error', reject);
  });
}
