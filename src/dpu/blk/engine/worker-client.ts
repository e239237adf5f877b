import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { distFile } from '../../../common/package-paths.js';
import type { RpcReply, RpcRequest, StorageCalls, StorageMethod, StorageWorkerInit } from './storage-rpc.js';

const CODES = new Set<string>(Object.values(ErrorCode));

/**
 * The main thread's end of the storage worker: starts it, sends control calls over its message
 * port and matches the answers. Control only: block I/O from DPU kernels goes through volume
 * queues in shared memory and never passes here.
 */
export class StorageWorkerClient {
  private readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private failed: Error | null = null;
  private exited = false;

  constructor(init: StorageWorkerInit) {
    this.worker = new Worker(distFile('src/dpu/blk/engine/storage-worker.js'), { workerData: init });
    this.worker.on('message', (r: RpcReply) => {
      const p = this.pending.get(r.seq);
      if (!p) return;
      this.pending.delete(r.seq);
      if (r.ok) p.resolve(r.result);
      else {
        const code = CODES.has(r.error.code) ? (r.error.code as ErrorCode) : ErrorCode.IoError;
        p.reject(new QingtianError(code, r.error.message, r.error.details));
      }
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', () => {
      this.exited = true;
      this.fail(new Error('the storage worker exited'));
    });
  }

  call<M extends StorageMethod>(method: M, args: StorageCalls[M]['args']): Promise<StorageCalls[M]['result']> {
    if (this.failed) return Promise.reject(this.unavailable());
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve, reject });
      const req: RpcRequest = { seq, method, args };
      this.worker.postMessage(req);
    });
  }

  /** Shuts the worker down (volumes checkpointed and closed), then ends the thread. */
  async close(): Promise<void> {
    if (this.exited) return;
    try {
      if (!this.failed) await this.call('shutdown', {});
    } finally {
      await this.worker.terminate();
    }
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(this.unavailable());
    this.pending.clear();
  }

  private unavailable(): QingtianError {
    return new QingtianError(ErrorCode.IoError, `storage worker unavailable: ${this.failed?.message ?? 'unknown'}`);
  }
}
