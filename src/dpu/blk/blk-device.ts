import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { parseArgs } from '../../common/validate.js';
import {
  BJ_BURST,
  BJ_BYTES,
  BJ_BYTES_READ,
  BJ_BYTES_WRITTEN,
  BJ_CLOCK,
  BJ_DEVICE,
  BJ_DISCARDS,
  BJ_FLUSHES,
  BJ_GET_IDS,
  BJ_IO_ERRORS,
  BJ_LATENCY,
  BJ_LAYOUT,
  BJ_MAX_BURST,
  BJ_QUEUE,
  BJ_READS,
  BJ_REJECTED,
  BJ_REQUESTS,
  BJ_UNSUPPORTED,
  BJ_WRITES,
  BJ_WRITE_ZEROES,
  BLKF_DISCARD,
  BLKF_RO,
  BLKF_WRITE_ZEROES,
  BLK_BACKEND,
  BLK_BACKEND_NULL,
  BLK_BACKEND_RAM,
  BLK_BACKEND_VOLUME,
  BLK_CAPACITY,
  BLK_FLAGS,
  BLK_F_BLK_SIZE,
  BLK_F_DISCARD,
  BLK_F_FLUSH,
  BLK_F_MQ,
  BLK_F_RO,
  BLK_F_SEG_MAX,
  BLK_F_SIZE_MAX,
  BLK_F_WRITE_ZEROES,
  BLK_ID,
  BLK_ID_BYTES,
  BLK_LAYOUT,
  BLK_MAX_DISCARD_SECTORS,
  BLK_MAX_DISCARD_SEG,
  BLK_MAX_WZ_SECTORS,
  BLK_MAX_WZ_SEG,
  BLK_RAM,
  BLK_SECTOR_BYTES,
  BLK_STATE_BYTES,
  BS_LAYOUT,
  BJ_SUBMITS,
} from '../../generated/blk.js';
import {
  DEV_PAYLOAD,
  FEAT_EVENT_IDX,
  FEAT_INDIRECT_DESC,
  FEAT_RING_PACKED,
  FEAT_VERSION_1,
  VQ_MAX_SEGS,
} from '../../generated/virtio.js';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { BURST_BUCKETS, emptyLatency } from '../core/burst-latency.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { VirtioBackend, type BackendStats } from '../virtio/virtio-backend.js';
import { BlkConfig, blkOptionsSchema, type BlkOptions } from './blk-config.js';
import { BlkVolumeQueues, slotTablePayload, type BlkVolumeJob, type BlkVolumeSource } from './blk-volume-queues.js';
import type { Placement } from '../virtio/backend-spec.js';

/** How a volume-backed device keeps requests in flight: made by `host.storage.attachBlk`. */
export interface BlkVolumeSlots {
  /** Requests in flight per virtqueue (its volume queue's depth): a power of two, 8-1024. */
  depth: number;
  /** Largest data length of one request (each slot's bounce buffer), a power of two, 4096-1 MiB. */
  slotBytes: number;
}

const GIB = 2 ** 30;
const DEFAULT_LIMITS = { maxSectors: 2048, maxSeg: 8 };
const bit = (n: number): bigint => 1n << BigInt(n);

/** A virtio-blk device's counters (summed over its queues' jobs), with the backend's. */
export interface BlkStats extends BackendStats {
  /** Chains completed (served or rejected). */
  requests: number;
  /** IN requests taken (served or refused). */
  reads: number;
  /** OUT requests taken. */
  writes: number;
  /** FLUSH requests taken. */
  flushes: number;
  /** GET_ID requests taken. */
  getIds: number;
  /** DISCARD requests taken. */
  discards: number;
  /** WRITE_ZEROES requests taken. */
  writeZeroes: number;
  /** Data bytes of IN requests that passed the checks (moved, or handed to the volume). */
  bytesRead: number;
  /** Data bytes of OUT requests that passed the checks. */
  bytesWritten: number;
  /** Requests handed to the volume (volume backend; a multi-range DISCARD counts each range). */
  volumeRequests: number;
  /** Chains waiting for the volume now (volume backend). */
  inflight: number;
  /** Requests answered IOERR. */
  ioErrors: number;
  /** Requests answered UNSUPP. */
  unsupported: number;
  /** Chains returned without a status (used.len 0): malformed framing (G1, G2) or refused by the queue. */
  rejected: number;
}

/** The request counters of a virtio-blk device: {@link BlkDevice.requestCounters}. */
export type BlkRequestCounters = Pick<
  BlkStats,
  | 'reads'
  | 'writes'
  | 'flushes'
  | 'getIds'
  | 'discards'
  | 'writeZeroes'
  | 'bytesRead'
  | 'bytesWritten'
  | 'ioErrors'
  | 'unsupported'
  | 'rejected'
>;

/**
 * The virtio-blk device (virtio 1.2 §5.2): a VirtioBackend whose kernel is the blk family's
 * blk_run / blk_arm, one job per virtqueue (VIRTIO_BLK_F_MQ), so queues can be served by
 * different DPU cores. Requests IN, OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES complete within
 * the burst that popped them, over a null or RAM backend. Bad requests follow the pinned policies
 * of docs/virtio-policy.md (ids G1–G10); a malformed ring breaks only this device.
 */
export class BlkDevice extends VirtioBackend {
  /** Where the data lives: see BlkOptions.backend. */
  readonly backend: 'null' | 'ram' | 'volume';
  /** Disk size in 512-byte sectors. */
  readonly capacitySectors: number;
  private readonly jobStates: StateRegion[] = [];
  private readonly disk: StateRegion | null = null;
  private readonly configBytes: Uint8Array;
  private readonly volumeJobs: BlkVolumeJob[] = [];
  private volume: BlkVolumeQueues | null = null;
  private freed = false;

  /**
   * A device over the null or RAM backend (`options.backend`). A device over a volume is made by
   * `host.storage.attachBlk` (BlkDevice.overVolume), which also opens its volume queues.
   */
  constructor(
    rt: KernelRuntime,
    guest: GuestMemoryView,
    name: string,
    options: BlkOptions,
    /** @internal volume backend only: set by overVolume */
    volumeSlots?: BlkVolumeSlots,
  ) {
    const o = parseArgs(blkOptionsSchema, options, `${name}: blk options`);
    if ((o.backend === 'volume') !== (volumeSlots !== undefined))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${name}: blk options.backend: 'volume' devices are made by host.storage.attachBlk, got ${o.backend}`,
      );
    if (o.backend === 'ram' && o.capacityBytes > GIB)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${name}: blk options.capacityBytes: a RAM disk holds at most ${GIB} bytes, got ${o.capacityBytes}`,
      );
    const queues = o.queues ?? 1;
    const maxQueueSize = o.maxQueueSize ?? 256;
    const discard = o.discard === undefined ? DEFAULT_LIMITS : o.discard;
    const writeZeroes = o.writeZeroes === undefined ? DEFAULT_LIMITS : o.writeZeroes;
    const features =
      bit(FEAT_VERSION_1) |
      bit(FEAT_RING_PACKED) |
      bit(FEAT_EVENT_IDX) |
      bit(FEAT_INDIRECT_DESC) |
      bit(BLK_F_SIZE_MAX) |
      bit(BLK_F_SEG_MAX) |
      bit(BLK_F_BLK_SIZE) |
      bit(BLK_F_FLUSH) |
      bit(BLK_F_MQ) |
      (o.readOnly ? bit(BLK_F_RO) : 0n) |
      (discard ? bit(BLK_F_DISCARD) : 0n) |
      (writeZeroes ? bit(BLK_F_WRITE_ZEROES) : 0n);
    super(rt, guest, name, {
      magic: 'VBLK',
      layoutVersion: BLK_LAYOUT,
      payloadBytes: BLK_STATE_BYTES - DEV_PAYLOAD,
      queues,
      maxQueueSize,
      features,
      configBytes: BlkConfig.BYTES,
      kernel: 'blk',
      jobs: Array.from({ length: queues }, () => ({ entry: 'blk_run', arm: 'blk_arm', clock: BJ_CLOCK })),
    });
    this.backend = o.backend;
    this.capacitySectors = o.capacityBytes / BLK_SECTOR_BYTES;
    const maxBurst = o.maxBurst ?? 64;
    const v = this.memory.view;
    const b = this.state.base;
    try {
      if (o.backend === 'ram') this.disk = this.allocRegion('disk', 'BRAM', 1, o.capacityBytes);
      for (let q = 0; q < queues; q++) {
        const job = this.allocRegion(`job${q}`, 'VBJB', BJ_LAYOUT, BJ_BYTES - 64);
        const burst = this.allocBurst(maxBurst, Math.max(VQ_MAX_SEGS, maxBurst * 4));
        v.setUint32(job.base + BJ_DEVICE, b, true);
        v.setUint32(job.base + BJ_QUEUE, q, true);
        v.setUint32(job.base + BJ_BURST, burst.base, true);
        v.setUint32(job.base + BJ_MAX_BURST, maxBurst, true);
        this.jobStates.push(job);
        if (volumeSlots) {
          const slots = this.allocRegion(`slots${q}`, 'VBSL', BS_LAYOUT, slotTablePayload(volumeSlots.depth));
          const done = this.allocBurst(volumeSlots.depth + maxBurst, VQ_MAX_SEGS);
          this.volumeJobs.push({ job, slots, done });
        }
      }
    } catch (e) {
      this.free();
      throw e;
    }
    v.setUint32(
      b + BLK_FLAGS,
      (o.readOnly ? BLKF_RO : 0) | (discard ? BLKF_DISCARD : 0) | (writeZeroes ? BLKF_WRITE_ZEROES : 0),
      true,
    );
    v.setUint32(
      b + BLK_BACKEND,
      o.backend === 'volume' ? BLK_BACKEND_VOLUME : this.disk ? BLK_BACKEND_RAM : BLK_BACKEND_NULL,
      true,
    );
    v.setUint32(b + BLK_RAM, this.disk ? this.disk.payload : 0, true);
    v.setBigUint64(b + BLK_CAPACITY, BigInt(this.capacitySectors), true);
    v.setUint32(b + BLK_MAX_DISCARD_SECTORS, discard ? discard.maxSectors : 0, true);
    v.setUint32(b + BLK_MAX_DISCARD_SEG, discard ? discard.maxSeg : 0, true);
    v.setUint32(b + BLK_MAX_WZ_SECTORS, writeZeroes ? writeZeroes.maxSectors : 0, true);
    v.setUint32(b + BLK_MAX_WZ_SEG, writeZeroes ? writeZeroes.maxSeg : 0, true);
    const id = new TextEncoder().encode((o.id ?? name.replace(/[^\x20-\x7e]/g, '?')).slice(0, BLK_ID_BYTES));
    this.memory.u8.set(id, b + BLK_ID);

    const c = this.configView();
    const blkSize = o.blkSize ?? 512;
    c.setBigUint64(BlkConfig.CAPACITY, BigInt(this.capacitySectors), true);
    // Header and status take two of the chain's segments; the rest may carry data.
    const segMax = Math.min(VQ_MAX_SEGS, maxQueueSize) - 2;
    if (volumeSlots) {
      // seg_max x size_max: a driver that keeps to both never sends more than a bounce buffer.
      c.setUint32(BlkConfig.SIZE_MAX, 4096, true);
      c.setUint32(BlkConfig.SEG_MAX, Math.max(1, Math.min(segMax, volumeSlots.slotBytes / 4096)), true);
    } else {
      c.setUint32(BlkConfig.SIZE_MAX, o.sizeMax ?? 1 << 20, true);
      c.setUint32(BlkConfig.SEG_MAX, segMax, true);
    }
    c.setUint32(BlkConfig.BLK_SIZE, blkSize, true);
    c.setUint16(BlkConfig.NUM_QUEUES, queues, true);
    if (discard) {
      c.setUint32(BlkConfig.MAX_DISCARD_SECTORS, discard.maxSectors, true);
      c.setUint32(BlkConfig.MAX_DISCARD_SEG, discard.maxSeg, true);
      c.setUint32(BlkConfig.DISCARD_SECTOR_ALIGNMENT, blkSize / BLK_SECTOR_BYTES, true);
    }
    if (writeZeroes) {
      c.setUint32(BlkConfig.MAX_WRITE_ZEROES_SECTORS, writeZeroes.maxSectors, true);
      c.setUint32(BlkConfig.MAX_WRITE_ZEROES_SEG, writeZeroes.maxSeg, true);
    }
    // A RAM disk cannot deallocate: write-zeroes never unmaps (§5.2.6.2). A volume can (thin).
    c.setUint8(BlkConfig.WRITE_ZEROES_MAY_UNMAP, volumeSlots ? 1 : 0);
    this.configBytes = this.configRead(0, BlkConfig.BYTES);
  }

  /**
   * A device whose requests go to `volume` through one volume queue per virtqueue (the volume
   * engine's log, RS stripes and DIF), completing in later turns: the serving core never waits
   * for disk. `options` as for the other backends, but `backend` is 'volume' and capacity and
   * blk_size (4096) come from the volume. Close it with close(), which detaches the queues.
   */
  static async overVolume(
    rt: KernelRuntime,
    guest: GuestMemoryView,
    name: string,
    volume: BlkVolumeSource,
    options: Omit<BlkOptions, 'backend' | 'capacityBytes' | 'blkSize' | 'sizeMax'>,
    slots: BlkVolumeSlots,
  ): Promise<BlkDevice> {
    const dev = new BlkDevice(
      rt,
      guest,
      name,
      { ...options, backend: 'volume', capacityBytes: volume.sizeBytes, blkSize: 4096 },
      slots,
    );
    try {
      dev.volume = await BlkVolumeQueues.open(dev.memory, name, volume, dev.volumeJobs, slots.depth, slots.slotBytes);
    } catch (e) {
      dev.free();
      throw e;
    }
    return dev;
  }

  /** Points each volume queue's completions at the core that will serve it, then starts the jobs. */
  override async start(placement: Placement | readonly Placement[]): Promise<void> {
    this.alive('start');
    const vol = this.volume;
    if (vol && !this.started) {
      if (vol.isClosed) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: closed; its volume is detached`);
      const list = Array.isArray(placement) ? placement : [placement];
      this.volumeJobs.forEach((_, j) => {
        const core = (list[list.length === 1 ? 0 : j] as Placement | undefined)?.core;
        if (core && typeof core.controlBase === 'number') vol.serveFrom(j, core);
      });
    }
    await super.start(placement);
  }

  /**
   * Detaches the jobs; a volume-backed device also waits until the storage worker has answered
   * every request in flight and completes their chains (used ring, interrupt) from this thread,
   * so that when it resolves nothing is in flight: every chain popped has been pushed.
   */
  override async stop(): Promise<void> {
    await super.stop();
    const vol = this.volume;
    if (!vol || vol.isClosed) return;
    await vol.drain();
    const complete = this.rt.kernel('blk').fn<(job: number) => number>('blk_complete');
    const f64 = new Float64Array(this.memory.i32.buffer);
    for (const j of this.jobStates) {
      // No core runs the job now: the kernel's clock (request latency) is this thread's, the same clock.
      f64[(j.base + BJ_CLOCK) >> 3] = Number(process.hrtime.bigint());
      complete(j.base);
    }
  }

  /** Stops the device, detaches its volume queues (volume backend) and frees it. Idempotent. */
  async close(): Promise<void> {
    if (this.freed) return;
    await this.stop();
    await this.volume?.close();
    this.free();
    this.emit('closed');
  }

  /** Frees the device; a volume-backed one with its queues attached must use close() instead. */
  override free(): void {
    if (this.volume && !this.volume.isClosed && !this.freed)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.name}: its volume queues are attached (the storage worker writes into its buffers); use close()`,
      );
    super.free();
    this.freed = true;
  }

  /** As VirtioBackend.save(); a volume-backed device refuses while chains wait for the volume. */
  override save(): Uint8Array {
    const n = this.volume && !this.volume.isClosed ? this.volume.inflight() : 0;
    if (n > 0)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.name}: save: ${n} chains in flight to the volume are not part of a snapshot; let them complete (start, then stop) or reset()`,
      );
    return super.save();
  }

  protected override onReset(): void {
    this.volume?.reset();
  }

  /** Host address of queue `q`'s job state (what blk_run is called with). */
  jobBase(q: number): number {
    this.alive('jobBase');
    const j = this.jobStates[q];
    if (!j)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name}: jobBase: queue index in [0, ${this.jobStates.length - 1}], got ${q}`,
      );
    return j.base;
  }

  /** A copy of `length` bytes of the RAM disk from `offset` (RAM backend only). */
  readDisk(offset: number, length: number): Uint8Array {
    this.alive('readDisk');
    const d = this.disk;
    if (!d) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: readDisk: the null backend holds no data`);
    const size = this.capacitySectors * BLK_SECTOR_BYTES;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name}: readDisk: [offset, offset + length) within [0, ${size}), got offset ${offset} length ${length}`,
      );
    return this.memory.u8.slice(d.payload + offset, d.payload + offset + length);
  }

  /** A view over host memory for requestLatency (made at its first call). */
  private f64: Float64Array | null = null;

  /**
   * Per request the device pushed, the time from the burst that popped its chain to the burst
   * that wrote its used element (each burst's start, read by its core), summed over the queues,
   * read out of band. A request done within the burst that popped it counts 0; its count is
   * `stats().requests`.
   */
  requestLatency(): LatencyHistogramData {
    const out = emptyLatency();
    const f64 = (this.f64 ??= new Float64Array(this.memory.i32.buffer));
    for (const j of this.jobStates) {
      const at = (j.base + BJ_LATENCY) >> 3;
      out.sumSeconds += f64[at]! / 1e9;
      for (let b = 0; b < BURST_BUCKETS; b++) {
        const n = f64[at + 1 + b]!;
        out.counts[b] = (out.counts[b] ?? 0) + n;
        out.count += n;
      }
    }
    return out;
  }

  /**
   * The request counters of {@link stats} alone (summed over the queues' jobs), read out of band
   * without the backend's queue and job figures.
   */
  requestCounters(): BlkRequestCounters {
    const i32 = this.memory.i32;
    const sum = (off: number): number => {
      let a = 0;
      for (const j of this.jobStates) {
        const w = (j.base + off) >> 2;
        a += (i32[w]! >>> 0) + (i32[w + 1]! >>> 0) * 2 ** 32;
      }
      return a;
    };
    return {
      reads: sum(BJ_READS),
      writes: sum(BJ_WRITES),
      flushes: sum(BJ_FLUSHES),
      getIds: sum(BJ_GET_IDS),
      discards: sum(BJ_DISCARDS),
      writeZeroes: sum(BJ_WRITE_ZEROES),
      bytesRead: sum(BJ_BYTES_READ),
      bytesWritten: sum(BJ_BYTES_WRITTEN),
      ioErrors: sum(BJ_IO_ERRORS),
      unsupported: sum(BJ_UNSUPPORTED),
      rejected: sum(BJ_REJECTED),
    };
  }

  override stats(): BlkStats {
    const base = super.stats();
    const v = this.memory.view;
    const sum = (off: number): number =>
      this.jobStates.reduce((a, j) => a + Number(v.getBigUint64(j.base + off, true)), 0);
    return {
      ...base,
      requests: sum(BJ_REQUESTS),
      ...this.requestCounters(),
      volumeRequests: sum(BJ_SUBMITS),
      inflight: this.volume && !this.volume.isClosed ? this.volume.inflight() : 0,
    };
  }

  protected override jobState(j: number): number {
    return this.jobStates[j]!.base;
  }

  protected override jobForQueue(i: number): number {
    return i;
  }

  /** The config space is fixed by the options: a snapshot must carry exactly it. */
  protected override restoreConfig(bytes: Uint8Array): void {
    if (bytes.length !== this.configBytes.length || bytes.some((x, i) => x !== this.configBytes[i]))
      throw new QingtianError(
        ErrorCode.BadFormat,
        `${this.name}: snapshot config space differs from this device's (capacity, limits and queues are fixed by its options)`,
      );
  }
}
