import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region, StateRegion } from '../../common/host-memory-api.js';
import { CTL_DOORBELL, CTL_SLEEPING } from '../core/core-layout.js';
import type { DpuCore } from '../core/dpu-core.js';
import {
  BJ_BOUNCE,
  BJ_DONE,
  BJ_FREE,
  BJ_SLOTS,
  BJ_SLOT_COUNT,
  BJ_SLOT_DATA,
  BJ_VOLQ,
  BS_BYTES,
  BS_OP,
  BS_SLOTS,
  BSO_FREE,
  VOLQ_COMPLETION_DOORBELL,
  VOLQ_COMPLETION_SLEEPING,
  VOLQ_REQUEST_RING,
} from '../../generated/blk.js';
import { VQ_MAX_SEGS } from '../../generated/virtio.js';
import { completionRingOffset } from './engine/volume-queue-layout.js';
import type { VolumeQueue, VolumeQueueOptions } from './storage-volume.js';

const SEG_BYTES = 16;
const RING_TAIL = 64;

/** What a volume-backed virtio-blk device needs from its volume (a StorageVolume). */
export interface BlkVolumeSource {
  readonly name: string;
  readonly sizeBytes: number;
  openQueue(options?: VolumeQueueOptions): Promise<VolumeQueue>;
}

/** The regions one volume-backed virtqueue job owns, besides its job state. */
export interface BlkVolumeJob {
  job: StateRegion;
  slots: StateRegion;
  done: StateRegion;
}

/** Bytes of a job's slot table ('VBSL') for `depth` slots, after its 64-byte header. */
export function slotTablePayload(depth: number): number {
  return BS_SLOTS - 64 + depth * (BS_BYTES + 4 + VQ_MAX_SEGS * SEG_BYTES);
}

/**
 * The volume side of a volume-backed virtio-blk device: one volume queue per virtqueue job,
 * each with the job's bounce buffers (device-owned, `depth` x `slotBytes`) as its data window.
 * It points the queues' completion doorbells at the cores serving them (start), waits for the
 * storage worker to answer everything in flight (stop), empties the slot tables (reset) and
 * detaches the queues (close).
 */
export class BlkVolumeQueues {
  private readonly queues: VolumeQueue[] = [];
  private readonly bounces: Region[] = [];
  private closed = false;

  private constructor(
    private readonly memory: HostMemoryApi,
    private readonly name: string,
    private readonly jobs: readonly BlkVolumeJob[],
    readonly depth: number,
    readonly slotBytes: number,
  ) {}

  /** Opens one queue per job and wires the job states to them; on failure nothing stays open. */
  static async open(
    memory: HostMemoryApi,
    name: string,
    volume: BlkVolumeSource,
    jobs: readonly BlkVolumeJob[],
    depth: number,
    slotBytes: number,
  ): Promise<BlkVolumeQueues> {
    const b = new BlkVolumeQueues(memory, name, jobs, depth, slotBytes);
    try {
      for (const j of jobs) {
        const bounce = memory.alloc({
          name: `${name}:bounce`,
          owner: name,
          kind: 'core-scratch',
          sizeBytes: depth * slotBytes,
        });
        b.bounces.push(bounce);
        const q = await volume.openQueue({ depth, buffer: { base: bounce.base, bytes: bounce.sizeBytes } });
        b.queues.push(q);
        const v = memory.view;
        v.setUint32(j.job.base + BJ_VOLQ, q.base, true);
        v.setUint32(j.job.base + BJ_SLOTS, j.slots.base, true);
        v.setUint32(j.job.base + BJ_SLOT_COUNT, depth, true);
        v.setUint32(j.job.base + BJ_BOUNCE, bounce.base, true);
        v.setUint32(j.job.base + BJ_SLOT_DATA, slotBytes, true);
        v.setUint32(j.job.base + BJ_DONE, j.done.base, true);
      }
      b.reset();
    } catch (e) {
      await b.close();
      throw e;
    }
    return b;
  }

  /** Completions of queue j ring `core`'s doorbell (and notify it while it sleeps). */
  serveFrom(j: number, core: DpuCore): void {
    const q = this.queues[j]!;
    const v = this.memory.view;
    v.setUint32(q.base + VOLQ_COMPLETION_DOORBELL, core.controlBase + CTL_DOORBELL, true);
    v.setUint32(q.base + VOLQ_COMPLETION_SLEEPING, core.controlBase + CTL_SLEEPING, true);
  }

  /** Requests the storage worker has not answered yet, over every queue. */
  outstanding(): number {
    const i32 = this.memory.i32;
    let n = 0;
    for (const q of this.queues) {
      const submitted = Atomics.load(i32, (q.base + VOLQ_REQUEST_RING) >> 2);
      const answered = Atomics.load(i32, (q.base + completionRingOffset(q.depth)) >> 2);
      n += (submitted - answered) | 0;
    }
    return n;
  }

  /** Resolves when the worker has answered every request (its completions wait for the next start). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.outstanding() > 0) {
      if (Date.now() > until)
        throw new QingtianError(
          ErrorCode.Timeout,
          `${this.name}: ${this.outstanding()} volume requests still unanswered after ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Every slot free and every waiting completion dropped (device reset; the jobs are stopped). */
  reset(): void {
    const v = this.memory.view;
    const i32 = this.memory.i32;
    this.jobs.forEach((j, k) => {
      const slots = j.slots.base;
      const stack = slots + BS_SLOTS + this.depth * BS_BYTES;
      for (let s = 0; s < this.depth; s++) {
        v.setUint32(slots + BS_SLOTS + s * BS_BYTES + BS_OP, BSO_FREE, true);
        v.setUint32(stack + 4 * s, this.depth - 1 - s, true);
      }
      v.setUint32(j.job.base + BJ_FREE, this.depth, true);
      const q = this.queues[k];
      if (q) {
        const ring = q.base + completionRingOffset(q.depth);
        Atomics.store(i32, (ring + RING_TAIL) >> 2, Atomics.load(i32, ring >> 2));
      }
    });
  }

  /** Chains in flight (slots taken), over every job. */
  inflight(): number {
    return this.jobs.reduce((a, j) => a + this.depth - this.memory.view.getUint32(j.job.base + BJ_FREE, true), 0);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Detaches the queues from the worker and frees the bounce buffers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.jobs) this.memory.view.setUint32(j.job.base + BJ_VOLQ, 0, true);
    for (const q of this.queues.splice(0)) await q.close();
    for (const r of this.bounces.splice(0)) this.memory.free(r, this.name);
  }
}
