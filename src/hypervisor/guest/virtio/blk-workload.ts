import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { RingFeatures } from '../../../common/virtio/features.js';
import { BLKW_SLOT_BYTES, GD_ERRORS } from '../../../generated/guest.js';
import type { GuestSpace } from './driver-api.js';
import { GuestQueue, type NotifyWords } from '../guest-queue.js';
import type { GuestVcpu } from '../vcpu.js';

/** Options of {@link GuestBlkWorkload.create}. */
export interface GuestBlkOptions {
  /** Queue size (a power of two); the benchmark driver needs 3 × its queue depth. */
  size: number;
  features: RingFeatures;
  /** 4 KiB blocks of the disk the workload uses, from `firstBlock` (default 0). */
  blocks: number;
  firstBlock?: number;
  /** Seed of the guest's random choices (non-zero). */
  seed: number;
}

/**
 * A virtio-blk queue driven by the guest's own Wasm on one of its vCPUs
 * (assembly/guest/blk-workload.ts and blk-bench.ts): a checked workload of reads, writes,
 * flushes and write-zeroes, and the benchmark's fixed-shape random reads. The slots, the
 * version table and the random state live in guest RAM.
 */
export class GuestBlkWorkload {
  private constructor(
    readonly queue: GuestQueue,
    private readonly slotsGpa: bigint,
    private readonly versGpa: bigint,
    private readonly rngGpa: bigint,
    readonly firstBlock: number,
    readonly blocks: number,
  ) {}

  static async create(guest: GuestSpace, vcpu: GuestVcpu, o: GuestBlkOptions): Promise<GuestBlkWorkload> {
    if (!Number.isInteger(o.blocks) || o.blocks < 1 || !Number.isInteger(o.seed) || o.seed < 1 || o.seed >= 2 ** 32)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `blk workload: blocks >= 1 and seed in [1, 2^32), got blocks ${o.blocks} seed ${o.seed}`,
      );
    const q = await GuestQueue.create(guest, vcpu, o.size, o.features);
    const slots = guest.allocGpa(BLKW_SLOT_BYTES * o.size, 64);
    const vers = guest.allocGpa(4 * o.blocks, 64);
    const rng = guest.allocGpa(8, 8);
    guest.ram.setUint32(Number(rng), o.seed, true);
    return new GuestBlkWorkload(q, slots, vers, rng, o.firstBlock ?? 0, o.blocks);
  }

  /** Starts the driver: kicks go to `notify`, interrupts arrive on `irqAddr`. */
  bind(notify: NotifyWords, irqAddr: number): Promise<void> {
    return this.queue.bind(notify, irqAddr);
  }

  /**
   * `rounds` batches of `depth` requests in flight on distinct blocks (writes, checked reads,
   * flushes, write-zeroes). Returns requests completed and the driver's error count so far.
   */
  async run(depth: number, rounds: number): Promise<{ completed: number; errors: number }> {
    const g = this.queue.guest;
    const completed = Number(
      await this.queue.vcpu.call(
        'gblk_workload',
        this.host(this.queue.stateGpa),
        this.slotsGpa,
        this.versGpa,
        this.host(this.queue.scratchGpa),
        this.host(this.rngGpa),
        this.firstBlock,
        this.blocks,
        depth,
        rounds,
      ),
    );
    return { completed, errors: Number(g.ram.getBigUint64(Number(this.queue.stateGpa) + GD_ERRORS, true)) };
  }

  /**
   * Reads back every block of the workload's range, `depth` at a time (1 to the queue size / 3),
   * each checked word by word against the version table: a disk the guest comes back to after an
   * unplug or a new boot, with {@link GuestBlkWorkload.adoptVersions}. Returns reads completed and the driver's
   * error count so far.
   */
  async verify(depth: number): Promise<{ completed: number; errors: number }> {
    if (!Number.isInteger(depth) || depth < 1 || depth * 3 > this.queue.size)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `blk workload: verify depth: an integer in [1, ${Math.floor(this.queue.size / 3)}], got ${depth}`,
      );
    const completed = Number(
      await this.queue.vcpu.call(
        'gblk_verify',
        this.host(this.queue.stateGpa),
        this.slotsGpa,
        this.versGpa,
        this.host(this.queue.scratchGpa),
        this.firstBlock,
        this.blocks,
        depth,
      ),
    );
    return { completed, errors: this.errors() };
  }

  /** A copy of the version table: per block of the range, the version the guest last wrote (0: zeros). */
  versions(): Uint32Array {
    const out = new Uint32Array(this.blocks);
    for (let i = 0; i < this.blocks; i++) out[i] = this.queue.guest.ram.getUint32(Number(this.versGpa) + 4 * i, true);
    return out;
  }

  /**
   * Takes over a version table ({@link GuestBlkWorkload.versions} of an earlier driver over the
   * same disk and range).
   */
  adoptVersions(versions: Uint32Array): void {
    if (versions.length !== this.blocks)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `blk workload: adoptVersions: a table of ${this.blocks} versions, got ${versions.length}`,
      );
    for (let i = 0; i < this.blocks; i++)
      this.queue.guest.ram.setUint32(Number(this.versGpa) + 4 * i, versions[i]!, true);
  }

  /**
   * The 4096 bytes the workload writes to `block` at `version` (word i = a hash of block,
   * version, i; version 0 = zeros): what a disk must hold where `version(block)` says so.
   */
  static expectedBlock(block: number, version: number): Uint8Array {
    const out = new Uint32Array(1024);
    if (version !== 0)
      for (let i = 0; i < 1024; i++)
        out[i] = (Math.imul(block, 0x9e3779b1) ^ Math.imul(version, 0x85ebca77) ^ Math.imul(i, 0x27d4eb2f)) >>> 0;
    return new Uint8Array(out.buffer);
  }

  /** The version the guest last wrote to `block` (0: never written, or zeroed). */
  version(block: number): number {
    return this.queue.guest.ram.getUint32(Number(this.versGpa) + 4 * (block - this.firstBlock), true);
  }

  /** Lays out `qd` fixed random-read requests of `len` bytes and posts them all (benchmark driver). */
  async benchStart(qd: number, len: number): Promise<void> {
    const drv = this.host(this.queue.stateGpa);
    const rc = await this.queue.vcpu.call('gblk_bench_setup', drv, this.slotsGpa, qd, len);
    if (rc !== 0)
      throw new QingtianError(ErrorCode.InvalidArgument, `blk bench: ${qd} requests of ${len} bytes refused (${rc})`);
    await this.queue.vcpu.call('gblk_bench_start', drv, this.slotsGpa, qd, this.host(this.rngGpa), this.blocks);
  }

  /** Keeps the started requests in flight for `ms`, re-posting each at a new random block. */
  benchPump(ms: number): Promise<{ completed: number; elapsedNs: number }> {
    const args = [this.host(this.queue.stateGpa), this.slotsGpa, this.host(this.rngGpa), this.blocks, 256];
    return this.queue.vcpu.timed('gblk_bench_pump', args, ms);
  }

  /** `count` one-at-a-time reads (request 0, set up by benchStart's layout with qd 1 not posted). */
  benchSeries(count: number): Promise<{ samplesUs: Float64Array; timeouts: number }> {
    const args = [this.host(this.queue.stateGpa), this.slotsGpa, this.host(this.rngGpa), this.blocks, 1_000_000_000];
    return this.queue.vcpu.series('gblk_bench_one', args, count);
  }

  /** Lays out request 0 only (for benchSeries). */
  async benchSetupOne(len: number): Promise<void> {
    const rc = await this.queue.vcpu.call('gblk_bench_setup', this.host(this.queue.stateGpa), this.slotsGpa, 1, len);
    if (rc !== 0)
      throw new QingtianError(ErrorCode.InvalidArgument, `blk bench: request of ${len} bytes refused (${rc})`);
  }

  /** Driver errors so far (bad status, wrong data, missing completions). */
  errors(): number {
    return Number(this.queue.guest.ram.getBigUint64(Number(this.queue.stateGpa) + GD_ERRORS, true));
  }

  private host(gpa: bigint): number {
    return this.queue.guest.host(gpa);
  }
}
