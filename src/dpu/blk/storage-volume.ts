import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { initVolumeQueue, VolumeQueueClient } from './engine/queue-client.js';
import type { VolumeInfo, VolumeReport } from './engine/storage-rpc.js';
import type { StorageWorkerClient } from './engine/worker-client.js';
import {
  VOLQ_LAYOUT,
  VOLQ_MAGIC,
  VOLQ_MAX_DEPTH,
  VOLQ_MAX_LENGTH,
  VOLQ_MIN_DEPTH,
  VolumeFlag,
  VolumeOp,
  volumeQueuePayloadBytes,
} from './engine/volume-queue-layout.js';
import { parseQos, type QosSpec } from './qos/qos-scheduler.js';
import type { CheckReport } from './volume/consistency-check.js';
import type { RebuildProgress } from './volume/rebuilder.js';
import type { ScrubReport } from './volume/scrubber.js';
import { VOLUME_STATUS_NAMES } from './volume/volume-status.js';

/** Options of StorageVolume.openQueue. */
export interface VolumeQueueOptions {
  /** Slots in each ring: a power of two in [8, 4096]. Default 128. */
  depth?: number | undefined;
  /** The submitter's data window: requests' buffers must lie inside it. Default: a new region of depth x 64 KiB. */
  buffer?: { base: number; bytes: number } | undefined;
  /** Host address the worker adds 1 to (and notifies) after completions, e.g. a DPU core's doorbell. */
  completionDoorbell?: number | undefined;
  /** Host address of the submitter's sleeping flag: notify only while it is non-zero. */
  completionSleeping?: number | undefined;
}

const queueSchema = z
  .strictObject({
    depth: intIn(VOLQ_MIN_DEPTH, VOLQ_MAX_DEPTH)
      .refine((d) => (d & (d - 1)) === 0, { error: `a power of two in [${VOLQ_MIN_DEPTH}, ${VOLQ_MAX_DEPTH}]` })
      .optional(),
    buffer: z.strictObject({ base: intIn(65536, 2 ** 32 - 1), bytes: intIn(4096, 2 ** 32 - 1) }).optional(),
    completionDoorbell: intIn(0, 2 ** 32 - 4).optional(),
    completionSleeping: intIn(0, 2 ** 32 - 4).optional(),
  })
  .optional();

const ioSchema = z.strictObject({
  offset: intIn(0, 2 ** 52).multipleOf(4096, { error: 'a multiple of 4096' }),
  length: intIn(0, VOLQ_MAX_LENGTH).multipleOf(4096, { error: 'a multiple of 4096' }),
});

/**
 * A volume queue: the ring pair a DPU kernel (or any thread) submits block requests through
 * (layout: src/dpu/blk/engine/volume-queue-layout.ts). `client()` gives a TypeScript submitter.
 */
export class VolumeQueue {
  private closed = false;

  constructor(
    private readonly rpc: StorageWorkerClient,
    private readonly memory: HostMemoryApi,
    /** The queue's state region (`VOLQ`). */
    readonly region: StateRegion,
    /** Host address of the data window the worker reads and writes. */
    readonly bufferBase: number,
    /** Size of the data window. */
    readonly bufferBytes: number,
    private readonly ownBuffer: number | null,
    /** Ring capacity: at most this many requests outstanding. */
    readonly depth: number,
  ) {}

  /** Host address of the queue region (what a kernel is handed). */
  get base(): number {
    return this.region.base;
  }

  /** A submitter over this queue for the calling thread (one submitter per queue). */
  client(): VolumeQueueClient {
    return new VolumeQueueClient(this.memory, this.region.base);
  }

  /** Detaches the queue from the worker and frees its regions. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.rpc.call('detachQueue', { base: this.region.base });
    this.memory.free(this.region, 'volume-queue');
    if (this.ownBuffer !== null) this.memory.free(this.ownBuffer, 'volume-queue');
  }
}

/**
 * A volume served by the host's storage worker. Control calls go to the worker over its
 * message port; block I/O from this object is for tools and tests (it is copied through the
 * port); guests and DPU kernels use a volume queue (`openQueue`).
 */
export class StorageVolume {
  /** The worker's id of the volume. */
  readonly id: number;
  /** The volume's name (its NBD export name). */
  readonly name: string;
  /** The volume's UUID (for GET_ID). */
  readonly uuid: string;
  /** The volume's directory. */
  readonly dir: string;
  /** Size in bytes. */
  readonly sizeBytes: number;
  /** Size in 4096-byte blocks. */
  readonly blockCount: number;
  /** k: data disks of each stripe. */
  readonly dataDisks: number;
  /** m: parity disks of each stripe. */
  readonly parityDisks: number;
  /** @internal the virtio-blk device this volume is attached to (host.storage.attachBlk), or null */
  attachedTo: string | null = null;
  private closed = false;

  constructor(
    private readonly rpc: StorageWorkerClient,
    private readonly memory: HostMemoryApi,
    info: VolumeInfo,
    private readonly onClose: (v: StorageVolume) => void,
  ) {
    this.id = info.id;
    this.name = info.name;
    this.uuid = info.uuid;
    this.dir = info.dir;
    this.sizeBytes = info.sizeBytes;
    this.blockCount = info.blockCount;
    this.dataDisks = info.dataDisks;
    this.parityDisks = info.parityDisks;
  }

  /** Space, write amplification, reads/repairs, cleaner, journal, disks, rebuild, scrub, QoS, queues. */
  async stats(): Promise<VolumeReport> {
    return this.rpc.call('stats', { id: this.live() });
  }

  /** Sets the volume's QoS: dmClock reservation/weight/limit and token buckets. */
  async setQos(qos: QosSpec): Promise<void> {
    await this.rpc.call('setQos', { id: this.live(), qos: parseQos(qos, 'setQos qos') });
  }

  /** Takes disk `index` out of service (simulates its loss): its shards are served from parity. */
  async loseDisk(index: number): Promise<void> {
    await this.rpc.call('loseDisk', { id: this.live(), disk: index });
  }

  /** Replaces lost disk `index` with an empty file and rebuilds it online (I/O goes on). */
  async replaceDisk(index: number): Promise<void> {
    await this.rpc.call('replaceDisk', { id: this.live(), disk: index });
  }

  /** Progress of the online rebuild in progress or last finished; null if none. */
  async rebuildProgress(): Promise<RebuildProgress | null> {
    return this.rpc.call('rebuildProgress', { id: this.live() });
  }

  /** Resolves when the rebuild in progress is done (polled every `pollMs`). */
  async waitRebuilt(pollMs = 20): Promise<RebuildProgress> {
    for (;;) {
      const p = await this.rebuildProgress();
      if (!p) throw new QingtianError(ErrorCode.DeviceState, `volume ${this.name}: no rebuild was started`);
      if (p.done) return p;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Scrubs the whole volume while it keeps serving; resolves with what it found and repaired. */
  async scrub(pollMs = 20): Promise<ScrubReport> {
    await this.rpc.call('startScrub', { id: this.live() });
    for (;;) {
      const r = await this.rpc.call('scrubReport', { id: this.live() });
      if (r?.done) return r;
      await new Promise((res) => setTimeout(res, pollMs));
    }
  }

  /** Consistency check of the map; `deep` reads back and checks every mapped block. */
  async check(options?: { deep?: boolean }): Promise<CheckReport> {
    return this.rpc.call('check', { id: this.live(), deep: options?.deep ?? false });
  }

  /** Reads `length` bytes (4096-aligned, at most 4 MiB) at `offset`. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const r = await this.io('read', VolumeOp.Read, 0, offset, length, null);
    return r ?? new Uint8Array(0);
  }

  /** Writes `data` (a multiple of 4096 bytes, at most 4 MiB) at `offset`; `fua`: durable on return. */
  async write(offset: number, data: Uint8Array, options?: { fua?: boolean }): Promise<void> {
    await this.io('write', VolumeOp.Write, options?.fua ? VolumeFlag.Fua : 0, offset, data.length, data);
  }

  /** Completes once every write completed before it is on disk with the map (fdatasync). */
  async flush(): Promise<void> {
    await this.io('flush', VolumeOp.Flush, 0, 0, 0, null);
  }

  /** Unmaps the whole blocks in [offset, offset + length): they read as zeros and free space. */
  async discard(offset: number, length: number): Promise<void> {
    await this.io('discard', VolumeOp.Discard, 0, offset, length, null);
  }

  /** Zeroes [offset, offset + length); with `unmap` the blocks are unmapped (thin) instead of written. */
  async writeZeroes(offset: number, length: number, options?: { unmap?: boolean }): Promise<void> {
    await this.io('writeZeroes', VolumeOp.WriteZeroes, options?.unmap ? VolumeFlag.Unmap : 0, offset, length, null);
  }

  /**
   * Opens a volume queue for a submitter that must not block (a virtio-blk kernel on a DPU
   * core): allocates its region (and a data window unless one is given) and attaches it to the
   * worker. The queue's address and layout are all a kernel needs.
   */
  async openQueue(options?: VolumeQueueOptions): Promise<VolumeQueue> {
    const o = parseArgs(queueSchema, options, 'openQueue options');
    const id = this.live();
    const depth = o?.depth ?? 128;
    const region = this.memory.allocState({
      name: `volq ${this.name}`,
      owner: 'volume-queue',
      kind: 'device-state',
      magic: VOLQ_MAGIC,
      layoutVersion: VOLQ_LAYOUT,
      payloadBytes: volumeQueuePayloadBytes(depth),
    });
    let own: number | null = null;
    let base = o?.buffer?.base ?? 0;
    let bytes = o?.buffer?.bytes ?? 0;
    if (!o?.buffer) {
      const buf = this.memory.alloc({
        name: `volq-data ${this.name}`,
        owner: 'volume-queue',
        kind: 'core-scratch',
        sizeBytes: depth * 65536,
      });
      own = buf.id;
      base = buf.base;
      bytes = buf.sizeBytes;
    }
    initVolumeQueue(this.memory.view, region.base, {
      depth,
      volumeId: id,
      bufferBase: base,
      bufferBytes: bytes,
      blockCount: this.blockCount,
      completionDoorbell: o?.completionDoorbell,
      completionSleeping: o?.completionSleeping,
    });
    try {
      await this.rpc.call('attachQueue', { id, base: region.base });
    } catch (e) {
      this.memory.free(region, 'volume-queue');
      if (own !== null) this.memory.free(own, 'volume-queue');
      throw e;
    }
    return new VolumeQueue(this.rpc, this.memory, region, base, bytes, own, depth);
  }

  /** Checkpoints and closes the volume in the worker (its queues are detached). */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.attachedTo !== null)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `volume ${this.name}: attached to device ${this.attachedTo}; close the device first`,
      );
    this.closed = true;
    this.onClose(this);
    await this.rpc.call('closeVolume', { id: this.id });
  }

  private async io(
    what: string,
    op: number,
    flags: number,
    offset: number,
    length: number,
    data: Uint8Array | null,
  ): Promise<Uint8Array | null> {
    const a = parseArgs(ioSchema, { offset, length }, what);
    if (a.offset + a.length > this.sizeBytes) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${what}: offset + length: expected at most ${this.sizeBytes} (the volume's size), got ${a.offset + a.length}`,
        { field: 'offset' },
      );
    }
    const r = await this.rpc.call('io', { id: this.live(), op, flags, offset: a.offset, length: a.length, data });
    if (r.status !== 0) {
      throw new QingtianError(
        ErrorCode.IoError,
        `${what} of ${length} bytes at ${offset} on volume ${this.name}: ${VOLUME_STATUS_NAMES[r.status] ?? r.status}`,
        { status: r.status },
      );
    }
    return r.data;
  }

  private live(): number {
    if (this.closed) throw new QingtianError(ErrorCode.Disposed, `volume ${this.name} is closed`);
    return this.id;
  }
}
