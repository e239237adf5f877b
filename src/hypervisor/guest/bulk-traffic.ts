import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { distFile } from '../../common/package-paths.js';
import type { RingFeatures } from '../../common/virtio/features.js';
import type { Guest } from './guest.js';
import type { NotifyWords } from './guest-queue.js';
import { DEFAULT_VCPU_NICE } from './vcpu.js';

/** Options of {@link BulkTraffic.create}. */
export interface BulkTrafficOptions {
  /** Requests kept in flight, 1–64. */
  chains: number;
  /** Buffers per direction in each request, 1–128 (128 + 128 = the 256 segments a chain may have). */
  segments: number;
  /** Bytes per direction in each request, at least `segments`. */
  chainBytes: number;
  /** Ring format; default split, no EVENT_IDX, no indirect. */
  features?: RingFeatures;
  /** Compare every completion's writable bytes with its readable ones. Default true. */
  verify?: boolean;
  /** Linux nice of the vCPU thread, or null to keep the process's. Default DEFAULT_VCPU_NICE. */
  nice?: number | null;
}

/** What a run delivered. */
export interface BulkReport {
  completed: number;
  /** Bytes echoed (completed × chainBytes). */
  bytes: number;
  /** Completions whose length or bytes were wrong. */
  errors: number;
  elapsedNs: number;
  /** The longest a request waited from posting to completion. */
  maxCompletionNs: number;
}

/**
 * A guest vCPU that keeps a loopback device busy with the largest requests a ring allows: many
 * readable and writable buffers per request, megabytes each (bulk-traffic-worker.ts). It lays out
 * its own rings in guest RAM (`config`, for the device's queue) and sleeps on its interrupt word
 * while it waits. The noisy neighbour of the fair-core tests and of `bench vq`.
 */
export class BulkTraffic {
  private constructor(
    private readonly worker: Worker,
    /** The ring addresses and size to configure the device's queue with. */
    readonly config: { size: number; features: RingFeatures; descGpa: bigint; driverGpa: bigint; deviceGpa: bigint },
    private readonly stopWord: number,
    private readonly i32: Int32Array,
  ) {}

  /** Starts the vCPU; `irqAddr` is the device queue's interrupt word. */
  static async create(guest: Guest, irqAddr: number, o: BulkTrafficOptions): Promise<BulkTraffic> {
    const check = (ok: boolean, what: string): void => {
      if (!ok) throw new QingtianError(ErrorCode.InvalidArgument, `bulk traffic ${what}`);
    };
    check(Number.isInteger(o.chains) && o.chains >= 1 && o.chains <= 64, `chains: expected 1..64, got ${o.chains}`);
    check(
      Number.isInteger(o.segments) && o.segments >= 1 && o.segments <= 128,
      `segments: expected 1..128, got ${o.segments}`,
    );
    check(
      Number.isInteger(o.chainBytes) && o.chainBytes >= o.segments && o.chainBytes < 2 ** 31,
      `chainBytes: expected ${o.segments}..2^31-1, got ${o.chainBytes}`,
    );
    const features = o.features ?? { packed: false, eventIdx: false, indirect: false, inOrder: false };
    let size = 1;
    while (size < o.chains * 2 * o.segments) size *= 2;
    const areaBytes = 2 * o.chains * (o.chainBytes + 4096) + 64 * size + 65536;
    const areaGpa = guest.allocGpa(areaBytes, 4096);
    const stopWord = guest.allocIrq();
    const memory = guest.memory;
    const worker = new Worker(distFile('src/hypervisor/guest/bulk-traffic-worker.js'), {
      workerData: {
        buffer: memory.memory.buffer,
        ramBase: guest.ramBase,
        ramBytes: guest.ramBytes,
        areaGpa: areaGpa.toString(),
        areaBytes,
        size,
        features,
        chains: o.chains,
        segments: o.segments,
        chainBytes: o.chainBytes,
        irq: irqAddr,
        stop: stopWord,
        verify: o.verify ?? true,
        nice: o.nice === undefined ? DEFAULT_VCPU_NICE : o.nice,
      },
      name: `${guest.name}/bulk`,
    });
    const rings = await reply<{ descGpa: bigint; driverGpa: bigint; deviceGpa: bigint }>(worker);
    return new BulkTraffic(worker, { size, features, ...rings }, stopWord, memory.i32);
  }

  /** Runs the traffic for `ms` (or until stop()), then waits for every request in flight. */
  run(ms: number, notify: NotifyWords): Promise<BulkReport> {
    Atomics.store(this.i32, this.stopWord >> 2, 0);
    const r = reply<BulkReport>(this.worker);
    this.worker.postMessage({ ms, notify });
    return r;
  }

  /** Ends a run early: the vCPU posts nothing more and returns once its requests completed. */
  stop(): void {
    Atomics.store(this.i32, this.stopWord >> 2, 1);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The worker's next message, or its error. */
function reply<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T): void => {
      w.off('error', onError);
      resolve(m);
    };
    const onError = (e: Error): void => {
      w.off('message', onMessage);
      reject(e);
    };
    w.once('message', onMessage);
    w.once('error', onError);
  });
}
