import { checkHeader, fourcc } from '../../../common/region-header.js';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { HostMemoryApi } from '../../../common/host-memory-api.js';
import { SpscRing } from '../../core/spsc-ring.js';
import { VolumeStatus } from '../volume/volume-status.js';
import type { EngineRequest, RequestSink } from './engine-request.js';
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
  VOLQ_BUFFER_BASE,
  VOLQ_BUFFER_BYTES,
  VOLQ_COMPLETION_BYTES,
  VOLQ_COMPLETION_DOORBELL,
  VOLQ_COMPLETION_SLEEPING,
  VOLQ_DEPTH,
  VOLQ_ENGINE_DOORBELL,
  VOLQ_ENGINE_SLEEPING,
  VOLQ_LAYOUT,
  VOLQ_MAGIC,
  VOLQ_MAX_DEPTH,
  VOLQ_MAX_LENGTH,
  VOLQ_MIN_DEPTH,
  VOLQ_REQUEST_BYTES,
  VOLQ_REQUEST_RING,
  VOLQ_STATE,
  VolumeOp,
  volumeQueuePayloadBytes,
} from './volume-queue-layout.js';

const BLOCK = 4096;

/** Counters of one queue. */
export interface QueueCounters {
  /** Request records popped from the ring. */
  requests: number;
  /** Requests refused at the door (bad op, range, alignment, buffer outside the window). */
  refused: number;
  /** Completion records published. */
  completions: number;
  /** Doorbell notifies sent to the submitter. */
  notifies: number;
}

/**
 * The storage worker's end of a volume queue (layout: volume-queue-layout.ts). It pops request
 * records, checks each as hostile input (op, alignment, range, buffer inside the queue's window,
 * read once into locals) and turns it into an EngineRequest; completions are written to the
 * completion ring and published once per burst, with one doorbell ring for the submitter.
 */
export class QueueEndpoint implements RequestSink {
  readonly depth: number;
  readonly counters: QueueCounters = { requests: 0, refused: 0, completions: 0, notifies: 0 };
  private readonly requests: SpscRing;
  private readonly completions: SpscRing;
  private readonly view: DataView;
  private readonly i32: Int32Array;
  private readonly bufferBase: number;
  private readonly bufferEnd: number;
  private pendingPublish = false;

  constructor(
    mem: HostMemoryApi,
    readonly base: number,
    readonly volumeId: number,
    private readonly blockCount: number,
    doorbellAddr: number,
    sleepingAddr: number,
  ) {
    const v = mem.view;
    checkHeader(v, base, fourcc(VOLQ_MAGIC), VOLQ_LAYOUT, 64);
    const depth = v.getUint32(base + VOLQ_DEPTH, true);
    if (depth < VOLQ_MIN_DEPTH || depth > VOLQ_MAX_DEPTH || (depth & (depth - 1)) !== 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `volume queue at 0x${base.toString(16)}: depth: expected a power of two in [${VOLQ_MIN_DEPTH}, ${VOLQ_MAX_DEPTH}], got ${depth}`,
      );
    const size = v.getUint32(base + 8, true);
    if (size < 64 + volumeQueuePayloadBytes(depth) || base + size > mem.sizeBytes)
      throw new QingtianError(
        ErrorCode.BadHeader,
        `volume queue at 0x${base.toString(16)}: size ${size} too small for depth ${depth}`,
      );
    const bufBase = v.getUint32(base + VOLQ_BUFFER_BASE, true);
    const bufBytes = v.getUint32(base + VOLQ_BUFFER_BYTES, true);
    if (bufBase === 0 || bufBase + bufBytes > mem.sizeBytes)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `volume queue at 0x${base.toString(16)}: buffer window [0x${bufBase.toString(16)}, +${bufBytes}) is not inside host memory`,
      );
    this.depth = depth;
    this.view = v;
    this.i32 = mem.i32;
    this.bufferBase = bufBase;
    this.bufferEnd = bufBase + bufBytes;
    this.requests = new SpscRing(mem.i32, base + VOLQ_REQUEST_RING, depth, VOLQ_REQUEST_BYTES);
    this.completions = new SpscRing(mem.i32, base + completionRingOffset(depth), depth, VOLQ_COMPLETION_BYTES);
    v.setUint32(base + VOLQ_ENGINE_DOORBELL, doorbellAddr, true);
    v.setUint32(base + VOLQ_ENGINE_SLEEPING, sleepingAddr, true);
    v.setUint32(base + VOLQ_STATE, 0, true);
  }

  hasRequests(): boolean {
    return this.requests.hasData();
  }

  /** Pops up to `max` requests; refused ones complete at once with EINVAL / ENOTSUP. */
  pop(max: number, out: (req: EngineRequest) => void): number {
    let n = 0;
    const v = this.view;
    while (n < max) {
      let req: EngineRequest | null = null;
      let bad: { tag: number; status: number } | null = null;
      const got = this.requests.pop((w) => {
        const at = w << 2;
        // Read once into locals: the submitter may rewrite the slot after the tail moves.
        const op = v.getUint8(at + REQ_OP);
        const flags = v.getUint8(at + REQ_FLAGS);
        const tag = v.getUint32(at + REQ_TAG, true);
        const offLo = v.getUint32(at + REQ_OFFSET, true);
        const offHi = v.getUint32(at + REQ_OFFSET + 4, true);
        const length = v.getUint32(at + REQ_LENGTH, true);
        const buffer = v.getUint32(at + REQ_BUFFER, true);
        const status = this.check(op, offLo, offHi, length, buffer);
        if (status !== VolumeStatus.Ok) {
          bad = { tag, status };
          return;
        }
        const lba = (offHi * 2 ** 32 + offLo) / BLOCK;
        req = {
          op: op as VolumeOp,
          flags,
          lba,
          blocks: length / BLOCK,
          bytes: length,
          skew: 0,
          addr: buffer,
          heap: null,
          tag,
          sink: this,
        };
      });
      if (!got) break;
      n++;
      this.counters.requests++;
      if (req) out(req);
      else if (bad) {
        this.counters.refused++;
        const b = bad as { tag: number; status: number };
        this.post(b.tag, b.status, 0);
      }
    }
    return n;
  }

  complete(req: EngineRequest, status: number): void {
    this.post(req.tag, status, status === VolumeStatus.Ok ? req.bytes : 0);
  }

  endBurst(): void {
    if (!this.pendingPublish) return;
    this.pendingPublish = false;
    // Read each burst: a device restarted on another core points its queue at that core's bell.
    const bellIdx = this.view.getUint32(this.base + VOLQ_COMPLETION_DOORBELL, true) >> 2;
    const sleepIdx = this.view.getUint32(this.base + VOLQ_COMPLETION_SLEEPING, true) >> 2;
    if (bellIdx === 0) return;
    Atomics.add(this.i32, bellIdx, 1);
    if (sleepIdx === 0 || Atomics.load(this.i32, sleepIdx) !== 0) {
      Atomics.notify(this.i32, bellIdx);
      this.counters.notifies++;
    }
  }

  /** Marks the queue detached (submitters see it) and drops what is queued. */
  detach(): void {
    this.view.setUint32(this.base + VOLQ_STATE, 1, true);
  }

  private post(tag: number, status: number, bytes: number): void {
    const v = this.view;
    // The submitter keeps at most `depth` outstanding, so the completion ring has room.
    const ok = this.completions.push((w) => {
      const at = w << 2;
      v.setUint32(at + CPL_TAG, tag, true);
      v.setUint32(at + CPL_STATUS, status, true);
      v.setUint32(at + CPL_BYTES, bytes, true);
      v.setUint32(at + 12, 0, true);
    });
    if (ok) {
      this.counters.completions++;
      this.pendingPublish = true;
    }
  }

  private check(op: number, offLo: number, offHi: number, length: number, buffer: number): number {
    if (op > VolumeOp.WriteZeroes) return VolumeStatus.NotSupported;
    if (op === VolumeOp.Flush) return VolumeStatus.Ok;
    if ((offLo & (BLOCK - 1)) !== 0 || (length & (BLOCK - 1)) !== 0 || length > VOLQ_MAX_LENGTH)
      return VolumeStatus.Invalid;
    const lba = (offHi * 2 ** 32 + offLo) / BLOCK;
    if (lba + length / BLOCK > this.blockCount) return VolumeStatus.Invalid;
    if (op === VolumeOp.Read || op === VolumeOp.Write) {
      if (buffer < this.bufferBase || buffer + length > this.bufferEnd) return VolumeStatus.Invalid;
    }
    return VolumeStatus.Ok;
  }
}
