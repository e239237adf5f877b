import { SpscRing } from '../../core/spsc-ring.js';
import {
  completionRingOffset,
  CPL_BYTES,
  CPL_STATUS,
  CPL_TAG,
  REQ_BUFFER,
  REQ_FLAGS,
  REQ_LENGTH,
  REQ_OFFSET,
  REQ_OP,
  REQ_TAG,
  VOLQ_BLOCKS_HI,
  VOLQ_BLOCKS_LO,
  VOLQ_BUFFER_BASE,
  VOLQ_BUFFER_BYTES,
  VOLQ_COMPLETION_BYTES,
  VOLQ_COMPLETION_DOORBELL,
  VOLQ_COMPLETION_SLEEPING,
  VOLQ_DEPTH,
  VOLQ_ENGINE_DOORBELL,
  VOLQ_ENGINE_SLEEPING,
  VOLQ_REQUEST_BYTES,
  VOLQ_REQUEST_RING,
  VOLQ_STATE,
  VOLQ_VOLUME_ID,
  type VolumeOp,
} from './volume-queue-layout.js';

/** The fields a volume queue is set up with before it is attached. */
export interface VolumeQueueSetup {
  depth: number;
  volumeId: number;
  bufferBase: number;
  bufferBytes: number;
  blockCount: number;
  /** Host address the worker rings after completions (0: poll). */
  completionDoorbell?: number | undefined;
  /** Host address of the submitter's sleeping flag (0: always notify). */
  completionSleeping?: number | undefined;
}

/** Writes a queue's setup fields after its region header (rings empty, state attached). */
export function initVolumeQueue(view: DataView, base: number, s: VolumeQueueSetup): void {
  view.setUint32(base + VOLQ_DEPTH, s.depth, true);
  view.setUint32(base + VOLQ_VOLUME_ID, s.volumeId, true);
  view.setUint32(base + VOLQ_BUFFER_BASE, s.bufferBase, true);
  view.setUint32(base + VOLQ_BUFFER_BYTES, s.bufferBytes, true);
  view.setUint32(base + VOLQ_BLOCKS_LO, s.blockCount >>> 0, true);
  view.setUint32(base + VOLQ_BLOCKS_HI, Math.floor(s.blockCount / 2 ** 32), true);
  view.setUint32(base + VOLQ_COMPLETION_DOORBELL, s.completionDoorbell ?? 0, true);
  view.setUint32(base + VOLQ_COMPLETION_SLEEPING, s.completionSleeping ?? 0, true);
  view.setUint32(base + VOLQ_STATE, 0, true);
}

/**
 * The submitter's end of a volume queue, in TypeScript: what a virtio-blk kernel does in
 * AssemblyScript, for tests, benchmarks and host-side tools. Any thread that maps host memory
 * can use it (one submitter per queue). It keeps no more than `depth` requests outstanding.
 */
export class VolumeQueueClient {
  /** Ring capacity (from the region). */
  readonly depth: number;
  private readonly requests: SpscRing;
  private readonly completions: SpscRing;
  private readonly view: DataView;
  private readonly i32: Int32Array;
  private outstandingCount = 0;
  private pushed = false;

  constructor(
    memory: { readonly i32: Int32Array; readonly view: DataView },
    /** Host address of the queue region. */
    readonly base: number,
  ) {
    this.view = memory.view;
    this.i32 = memory.i32;
    this.depth = this.view.getUint32(base + VOLQ_DEPTH, true);
    this.requests = new SpscRing(memory.i32, base + VOLQ_REQUEST_RING, this.depth, VOLQ_REQUEST_BYTES);
    this.completions = new SpscRing(
      memory.i32,
      base + completionRingOffset(this.depth),
      this.depth,
      VOLQ_COMPLETION_BYTES,
    );
  }

  /** Requests submitted and not yet reaped. */
  get outstanding(): number {
    return this.outstandingCount;
  }

  /** Whether the worker still serves the queue. */
  get attached(): boolean {
    return this.view.getUint32(this.base + VOLQ_STATE, true) === 0;
  }

  /** Queues one request (published at once; call ring() after a burst). False when `depth` are outstanding. */
  submit(op: VolumeOp, offset: number, length: number, buffer: number, tag: number, flags = 0): boolean {
    if (this.outstandingCount >= this.depth) return false;
    const v = this.view;
    const ok = this.requests.push((w) => {
      const at = w << 2;
      v.setUint8(at + REQ_OP, op);
      v.setUint8(at + REQ_FLAGS, flags);
      v.setUint16(at + 2, 0, true);
      v.setUint32(at + REQ_TAG, tag, true);
      v.setUint32(at + REQ_OFFSET, offset >>> 0, true);
      v.setUint32(at + REQ_OFFSET + 4, Math.floor(offset / 2 ** 32), true);
      v.setUint32(at + REQ_LENGTH, length, true);
      v.setUint32(at + REQ_BUFFER, buffer, true);
      v.setUint32(at + 24, 0, true);
      v.setUint32(at + 28, 0, true);
    });
    if (ok) {
      this.outstandingCount++;
      this.pushed = true;
    }
    return ok;
  }

  /** Rings the worker's doorbell once for everything submitted since the last ring. */
  ring(): void {
    if (!this.pushed) return;
    this.pushed = false;
    const bell = this.view.getUint32(this.base + VOLQ_ENGINE_DOORBELL, true) >> 2;
    const sleeping = this.view.getUint32(this.base + VOLQ_ENGINE_SLEEPING, true) >> 2;
    if (bell === 0) return;
    Atomics.add(this.i32, bell, 1);
    if (sleeping === 0 || Atomics.load(this.i32, sleeping) !== 0) Atomics.notify(this.i32, bell);
  }

  /** Hands each completion to `fn`; returns how many. */
  reap(fn: (tag: number, status: number, bytes: number) => void): number {
    let n = 0;
    const v = this.view;
    while (
      this.completions.pop((w) => {
        const at = w << 2;
        fn(v.getUint32(at + CPL_TAG, true), v.getUint32(at + CPL_STATUS, true), v.getUint32(at + CPL_BYTES, true));
      })
    ) {
      n++;
    }
    this.outstandingCount -= n;
    return n;
  }
}
