import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { Region } from '../../../common/host-memory-api.js';
import { intIn, oneOf, parseArgs } from '../../../common/validate.js';
import { ReedSolomon } from '../../ec/reed-solomon.js';
import { defaultRuntime, type KernelRuntime } from '../../kernels/kernel-runtime.js';
import { BlockMap } from './block-map.js';
import { BlockProtection } from './block-protection.js';
import { BlockReader } from './block-reader.js';
import { readCheckpoint } from './checkpoint.js';
import { Cleaner, CLEANER_POLICIES, type CleanerPolicy } from './cleaner.js';
import { checkConsistency, type CheckReport } from './consistency-check.js';
import { DISK_IO_CHOICES, type DiskIoChoice, type DiskIoOption } from './disk-io.js';
import { DiskSet } from './disk-set.js';
import { BLOCK_BYTES, UNIT_BYTES, type Geometry } from './geometry.js';
import { Journal } from './journal.js';
import { LogWriter } from './log-writer.js';
import { Rebuilder, type RebuildProgress } from './rebuilder.js';
import { replayJournal, type RecoveryReport } from './recovery.js';
import { Scrubber, type ScrubReport } from './scrubber.js';
import { STRIPE_WRITER_CHOICES, StripeWriter, type StripeWriterChoice } from './stripe-writer.js';
import {
  appTagOf,
  geometryOf,
  newSuperblock,
  parseSuperblock,
  SUPERBLOCK_FILE,
  type Superblock,
  type VolumeCreateOptions,
  VOLUME_FORMAT_VERSION,
} from './volume-config.js';
import { volumeStats, type OpCounters, type VolumeStats } from './volume-stats.js';
import { VolumeStatus } from './volume-status.js';

/** Options of Volume.create / Volume.open: the kernel runtime, checkpoint and cleaner tuning. */
export interface VolumeOpenOptions {
  /** Where the volume's buffers live and its kernels run. Default: defaultRuntime(). */
  runtime?: KernelRuntime | undefined;
  /** Journal bytes after which a checkpoint is written. Default: max(4 MiB, 2 x the map's size). */
  checkpointBytes?: number | undefined;
  /** How the cleaner picks victims. Default 'cost-benefit'; 'greedy' is the classic baseline. */
  cleaner?: CleanerPolicy | undefined;
  /**
   * How blocks move to and from the disk files: 'mapped' (the native helper: one copy, no
   * system call), 'sync' (pread / pwrite), 'auto' (mapped when the helper is built). Default 'auto'.
   */
  diskIo?: DiskIoOption | undefined;
  /**
   * Where full stripes are encoded and written: 'thread' (a stripe writer thread of the volume's
   * own, while the owner fills the next stripe) or 'inline' (the owning thread). Default 'thread'.
   */
  stripeWriter?: StripeWriterChoice | undefined;
  /**
   * Upgrade a format-version-1 volume (made before blocks carried the volume's application tag)
   * as it opens: every mapped block is read (checked as before) and written again with the tag,
   * then volume.json becomes version 2. A crash during it leaves version 1, to upgrade again.
   * Without it such a volume is refused with QT_FORMAT_VERSION. Default false.
   */
  upgrade?: boolean | undefined;
}

/** What upgrading a version-1 volume did. */
export interface UpgradeReport {
  /** Mapped blocks written again with the volume's application tag. */
  blocksRewritten: number;
  /** Mapped blocks that could not be read (left as they were: their reads fail, as before). */
  blocksUnreadable: number;
}

const openSchema = z
  .strictObject({
    runtime: z.custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'memory' in v).optional(),
    checkpointBytes: intIn(4096, 1 << 30).optional(),
    cleaner: oneOf(CLEANER_POLICIES).optional(),
    diskIo: oneOf(DISK_IO_CHOICES).optional(),
    stripeWriter: oneOf(STRIPE_WRITER_CHOICES).optional(),
    upgrade: z.boolean().optional(),
  })
  .optional();

const JOURNAL_FILE = 'journal';
const OWNER = 'volume';
/** Free segments below which maintenance cleans in the background (foreground cleaning starts lower). */
const BACKGROUND_CLEAN_FREE = 6;

/**
 * A log-structured, erasure-coded, DIF-protected block volume over k + m disk files (the
 * "EBS offload" of the model). Blocks are 4096 bytes. Writes append to a log; an LBA -> log map
 * (the FTL) finds them, made durable by a journal and periodic checkpoints; a cleaner frees
 * segments of dead blocks; each stripe of the log is RS(k, m) across the disks; every block
 * carries T10 PI (reference tag = LBA) generated on write and checked on every read.
 *
 * Synchronous and single-threaded: it is owned by one thread (an I/O worker, or a tool), which
 * calls it per request. Requests name buffers by host address in the runtime's memory. Data
 * calls return a VolumeStatus and never throw for bad input; control calls throw QingtianError.
 *
 * Writes are cached until a FLUSH (or a FUA write): a write completes once its block is in the
 * log head's memory, and flush() returns after data and map are on disk (fdatasync).
 */
export class Volume {
  readonly geometry: Geometry;
  readonly blockCount: number;
  readonly sizeBytes: number;
  readonly recovery: RecoveryReport | null;
  /** What upgrading the volume from format version 1 did as it opened, null if it was not upgraded. */
  readonly upgrade: UpgradeReport | null = null;
  private readonly memory: KernelRuntime['memory'];
  private readonly u8: Uint8Array;
  private readonly region: Region;
  private readonly zeroBlock: number;
  private readonly disks: DiskSet;
  private readonly map: BlockMap;
  private readonly journal: Journal;
  private readonly writer: LogWriter;
  private readonly reader: BlockReader;
  private readonly cleaner: Cleaner;
  private readonly rs: ReedSolomon;
  /** The stripe writer thread's queue ('thread'), or null ('inline'). */
  private readonly jobs: StripeWriter | null;
  private readonly prot: BlockProtection;
  private readonly stripeScratch: number;
  private readonly checkpointBytes: number;
  private readonly rebuilds: Rebuilder[] = [];
  private lastRebuild: RebuildProgress | null = null;
  private scrubber: Scrubber | null = null;
  private lastScrub: ScrubReport | null = null;
  private readonly ops: OpCounters = {
    reads: 0,
    writes: 0,
    flushes: 0,
    discards: 0,
    writeZeroes: 0,
    blocksRead: 0,
    blocksWritten: 0,
    errors: 0,
  };
  private closed = false;

  /** Creates a volume in a new (or empty) directory. */
  static create(options: VolumeCreateOptions, open?: VolumeOpenOptions): Volume {
    const sb = newSuperblock(options);
    const dir = options.dir;
    mkdirSync(dir, { recursive: true });
    if (readdirSync(dir).length > 0) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `volume options.dir: expected a new or empty directory, got ${dir} (not empty)`,
        { field: 'volume options.dir' },
      );
    }
    writeSuperblock(dir, sb);
    return new Volume(dir, sb, true, open);
  }

  /** Opens an existing volume: loads its newest checkpoint and replays its journal. */
  static open(dir: string, open?: VolumeOpenOptions): Volume {
    let text: string;
    try {
      text = readFileSync(join(dir, SUPERBLOCK_FILE), 'utf8');
    } catch (e) {
      throw new QingtianError(ErrorCode.NotFound, `volume: no ${SUPERBLOCK_FILE} in ${dir} (${(e as Error).message})`);
    }
    return new Volume(dir, parseSuperblock(text, join(dir, SUPERBLOCK_FILE)), false, open);
  }

  private constructor(
    readonly dir: string,
    private readonly sb: Superblock,
    create: boolean,
    options: VolumeOpenOptions | undefined,
  ) {
    const o = parseArgs(openSchema, options, 'volume open options');
    if (sb.version !== VOLUME_FORMAT_VERSION && o?.upgrade !== true) {
      throw new QingtianError(
        ErrorCode.FormatVersion,
        `volume ${dir}: volume.json version: expected ${VOLUME_FORMAT_VERSION}, got ${sb.version} (blocks without the ` +
          "volume's application tag); open it with { upgrade: true } (qingtian volume inspect --upgrade) to rewrite them",
        { version: sb.version, expected: VOLUME_FORMAT_VERSION },
      );
    }
    const runtime = o?.runtime ?? defaultRuntime();
    const geo = geometryOf(sb);
    this.geometry = geo;
    this.blockCount = geo.blockCount;
    this.sizeBytes = sb.sizeBytes;
    this.checkpointBytes = o?.checkpointBytes ?? Math.max(4 << 20, geo.blockCount * 8);
    this.memory = runtime.memory;
    this.u8 = runtime.memory.u8;
    const threaded = (o?.stripeWriter ?? 'thread') === 'thread';
    const headBytes = LogWriter.bufferBytes(geo, threaded);
    const scratch = align(UNIT_BYTES) + align(geo.disks * UNIT_BYTES) + (geo.disks + geo.parityDisks) * geo.chunkBytes;
    this.region = runtime.memory.alloc({
      name: `volume ${sb.name}`,
      owner: OWNER,
      // Log-head buffers and stripe scratch that the EC and DIF kernels read and write (*At forms).
      kind: 'core-scratch',
      sizeBytes: pageAlign(headBytes + align(scratch) + 64 + 2 * BLOCK_BYTES),
    });
    let at = this.region.base + headBytes;
    const unitScratch = at;
    at += align(UNIT_BYTES);
    const rowScratch = at;
    at += align(geo.disks * UNIT_BYTES);
    this.stripeScratch = at;
    at += align((geo.disks + geo.parityDisks) * geo.chunkBytes);
    const result = at;
    this.zeroBlock = at + 64;
    try {
      this.rs = new ReedSolomon({ dataShards: geo.dataDisks, parityShards: geo.parityDisks, runtime });
      this.prot = new BlockProtection(runtime, result, sb.version === VOLUME_FORMAT_VERSION ? sb.appTag! : null);
      this.disks = new DiskSet(
        dir,
        sb.disks.map((d) => d.file),
        sb.disks.map((d) => d.state),
        create,
        geo.segments * geo.segmentDiskBytes,
        o?.diskIo ?? 'auto',
      );
      if (this.disks.states.some((st, d) => st !== sb.disks[d]!.state)) this.saveDiskStates();
      this.jobs = threaded
        ? new StripeWriter(
            geo,
            runtime.memory,
            dir,
            sb.disks.map((d) => d.file),
            this.disks.states,
            geo.segments * geo.segmentDiskBytes,
            o?.diskIo ?? 'auto',
            this.region,
            this.disks,
            this.rs,
          )
        : null;
      this.map = new BlockMap(geo);
      this.journal = new Journal(join(dir, JOURNAL_FILE));
      const cp = create ? null : readCheckpoint(dir, geo.blockCount, geo.segments);
      if (!create && !cp)
        throw new QingtianError(
          ErrorCode.BadFormat,
          `volume ${dir}: neither checkpoint file holds an intact checkpoint`,
        );
      this.writer = new LogWriter(
        geo,
        dir,
        this.u8,
        this.disks,
        this.map,
        this.journal,
        this.rs,
        this.prot,
        this.region.base,
        cp?.seq ?? 0,
        this.jobs,
      );
      this.reader = new BlockReader(
        geo,
        this.u8,
        this.disks,
        this.map,
        this.writer,
        this.rs,
        this.prot,
        unitScratch,
        rowScratch,
      );
      this.cleaner = new Cleaner(geo, this.map, this.writer, this.reader, o?.cleaner);
      this.writer.source = this.cleaner;
      let okMask = 0;
      this.disks.states.forEach((s, d) => (okMask |= s === 'ok' ? 1 << d : 0));
      if (cp) {
        this.map.map.set(cp.map);
        this.map.age.set(cp.age);
        const rejected = this.map.rebuildReverse(okMask >>> 0);
        this.journal.epoch = cp.journalEpoch;
        const r = replayJournal(this.journal.path, cp.journalEpoch, geo, this.map, this.reader);
        this.map.recomputeStates();
        this.recovery = { checkpointSeq: cp.seq, ...r, recordsRejected: r.recordsRejected + rejected };
        let clock = 0;
        for (const a of this.map.age) clock = Math.max(clock, a);
        this.writer.clock = clock;
      } else {
        this.map.rebuildReverse(okMask >>> 0);
        this.recovery = null;
      }
      // A new epoch from here: the map as recovered is the checkpoint, the journal starts empty.
      this.writer.checkpoint();
      this.disks.states.forEach((s, d) => {
        if (s === 'rebuilding') this.rebuilds.push(this.newRebuilder(d));
      });
      if (sb.version !== VOLUME_FORMAT_VERSION) this.upgrade = this.upgradeFormat();
    } catch (e) {
      const self = this as unknown as {
        disks?: DiskSet;
        rs?: ReedSolomon;
        journal?: Journal;
        jobs?: StripeWriter | null;
      };
      self.jobs?.close();
      self.disks?.closeAll();
      self.journal?.close();
      self.rs?.dispose();
      runtime.memory.free(this.region, OWNER);
      throw e;
    }
  }

  get name(): string {
    return this.sb.name;
  }

  /** What the disk files' reads and writes go through, and why. */
  get diskIo(): { choice: DiskIoChoice; reason: string } {
    return { choice: this.disks.io, reason: this.disks.ioReason };
  }

  get uuid(): string {
    return this.sb.uuid;
  }

  // ---- data path: statuses, never throws for bad input ------------------------------------------

  /** Reads `blocks` blocks from `lba` into host memory at `dst`. Unwritten blocks read as zeros. */
  read(lba: number, blocks: number, dst: number): VolumeStatus {
    if (!this.argsOk(lba, blocks, dst)) return this.fail(VolumeStatus.Invalid);
    const map = this.map.map;
    let status: VolumeStatus = VolumeStatus.Ok;
    for (let i = 0; i < blocks; i++) {
      const e = map[lba + i]!;
      const at = dst + i * BLOCK_BYTES;
      if (e === 0) this.u8.fill(0, at, at + BLOCK_BYTES);
      else if (!this.reader.readBlock(e - 1, lba + i, at)) status = VolumeStatus.IoError;
    }
    this.ops.reads++;
    this.ops.blocksRead += blocks;
    return status === VolumeStatus.Ok ? status : this.fail(status);
  }

  /** Writes `blocks` blocks from host memory at `src` to `lba`; `fua`: durable before it returns. */
  write(lba: number, blocks: number, src: number, fua = false): VolumeStatus {
    if (!this.argsOk(lba, blocks, src)) return this.fail(VolumeStatus.Invalid);
    if (!this.spaceFor(lba, blocks)) return this.fail(VolumeStatus.NoSpace);
    for (let i = 0; i < blocks; i++) {
      if (this.writer.placeUser(src + i * BLOCK_BYTES, lba + i) < 0) return this.fail(VolumeStatus.NoSpace);
    }
    if (fua) this.writer.sync();
    this.ops.writes++;
    this.ops.blocksWritten += blocks;
    this.afterWrite();
    return VolumeStatus.Ok;
  }

  /** Makes every completed write durable, data and map (fdatasync). */
  flush(): VolumeStatus {
    this.writer.sync();
    this.ops.flushes++;
    return VolumeStatus.Ok;
  }

  /** Unmaps blocks: they read as zeros and their space returns to the log once cleaned. */
  discard(lba: number, blocks: number): VolumeStatus {
    if (!this.argsOk(lba, blocks, -1)) return this.fail(VolumeStatus.Invalid);
    this.writer.trim(lba, blocks);
    this.ops.discards++;
    this.afterWrite();
    return VolumeStatus.Ok;
  }

  /**
   * Zeroes blocks. With `mayUnmap` they are unmapped (thin: reads return zeros, no space is
   * used); without it zero blocks are written, so that the space stays allocated.
   */
  writeZeroes(lba: number, blocks: number, mayUnmap: boolean): VolumeStatus {
    if (!this.argsOk(lba, blocks, -1)) return this.fail(VolumeStatus.Invalid);
    if (mayUnmap) {
      this.writer.trim(lba, blocks);
    } else {
      if (!this.spaceFor(lba, blocks)) return this.fail(VolumeStatus.NoSpace);
      for (let i = 0; i < blocks; i++)
        if (this.writer.placeUser(this.zeroBlock, lba + i) < 0) return this.fail(VolumeStatus.NoSpace);
    }
    this.ops.writeZeroes++;
    this.afterWrite();
    return VolumeStatus.Ok;
  }

  // ---- control: disks, rebuild, scrub, maintenance ---------------------------------------------

  /** Takes disk `index` out of service, as a failure would; its shards are served from parity. */
  loseDisk(index: number): void {
    const d = this.diskIndex('loseDisk', index);
    if (this.sb.disks[d]!.state === 'lost') return;
    this.writer.drainJobs();
    const bit = ~(1 << d);
    for (let s = 0; s < this.geometry.segments; s++) this.map.validDisks[s]! &= bit;
    const i = this.rebuilds.findIndex((r) => r.disk === d);
    if (i >= 0) this.rebuilds.splice(i, 1);
    this.disks.lose(d);
    this.saveDiskStates();
    this.jobs?.disksChanged(this.disks.states);
  }

  /** Puts an empty file in place of lost disk `index` and starts rebuilding it online. */
  replaceDisk(index: number): void {
    const d = this.diskIndex('replaceDisk', index);
    if (this.disks.states[d] !== 'lost') {
      throw new QingtianError(
        ErrorCode.DeviceState,
        `replaceDisk: disk ${d} is ${this.disks.states[d]}, expected a lost disk`,
        { disk: d },
      );
    }
    this.writer.drainJobs();
    this.disks.replace(d);
    this.saveDiskStates();
    this.jobs?.disksChanged(this.disks.states);
    this.rebuilds.push(this.newRebuilder(d));
  }

  /** Rebuild progress of the disk being rebuilt (or the last one finished), null if none ever was. */
  rebuildProgress(): RebuildProgress | null {
    return this.rebuilds[0]?.progress ?? this.lastRebuild;
  }

  /** Starts a scrub (restarting one in progress). Progress and findings: scrubReport(). */
  startScrub(): void {
    this.scrubber = new Scrubber(
      this.geometry,
      this.u8,
      this.disks,
      this.map,
      this.writer,
      this.rs,
      this.prot,
      this.stripeScratch,
    );
  }

  scrubReport(): ScrubReport | null {
    return this.scrubber?.report ?? this.lastScrub;
  }

  /**
   * Background work, a bounded amount per call: rebuild and scrub `budget` stripes each, clean a
   * segment when free ones run low, checkpoint when the journal has grown. True while work remains.
   */
  maintain(budget = 8): boolean {
    const rb = this.rebuilds[0];
    // Rebuild and scrub read stripes from the disks: the ones handed to the stripe writer first.
    if (rb || this.scrubber) this.writer.drainJobs();
    if (rb && rb.step(budget)) {
      this.rebuilds.shift();
      this.lastRebuild = rb.progress;
      this.disks.rebuilt(rb.disk);
      this.saveDiskStates();
      this.jobs?.disksChanged(this.disks.states);
    }
    if (this.scrubber && this.scrubber.step(budget)) {
      this.lastScrub = this.scrubber.report;
      this.scrubber = null;
    }
    if (this.map.freeCount + this.writer.drainingCount < BACKGROUND_CLEAN_FREE) {
      const v = this.cleaner.pickVictim();
      if (v >= 0) this.cleaner.clean(v);
    }
    if (this.journal.offset >= this.checkpointBytes) this.writer.checkpoint();
    return this.rebuilds.length > 0 || this.scrubber !== null;
  }

  /** Runs maintenance until rebuilds and scrub are done (tools and tests; a server interleaves it). */
  maintainUntilIdle(budget = 64): void {
    while (this.maintain(budget));
  }

  /**
   * Where block `lba` is stored: its log block, the disk file and byte offset of its unit (4096
   * bytes of data, then 8 of PI). Null if unmapped. For tools (and tests that damage a disk).
   */
  locate(lba: number): { pba: number; disk: number; file: string; offset: number } | null {
    if (!Number.isInteger(lba) || lba < 0 || lba >= this.blockCount) return null;
    const pba = this.map.lookup(lba);
    if (pba < 0) return null;
    const geo = this.geometry;
    const g = geo.stripeOf(pba);
    const i = pba - g * geo.stripeBlocks;
    const row = Math.floor(i / geo.dataDisks);
    const disk = geo.diskOf(g, i % geo.dataDisks);
    return { pba, disk, file: join(this.dir, this.sb.disks[disk]!.file), offset: geo.rowOffset(g, row) };
  }

  /** Checks the map's consistency; `deep` also reads back and checks every mapped block. */
  check(deep = false): CheckReport {
    return checkConsistency(this.geometry, this.map, this.reader, deep);
  }

  stats(): VolumeStats {
    return volumeStats({
      name: this.sb.name,
      uuid: this.sb.uuid,
      geo: this.geometry,
      map: this.map,
      writer: this.writer,
      disks: this.disks,
      ops: this.ops,
      reads: this.reader.counters,
      cleaner: this.cleaner.counters,
      rebuild: this.rebuildProgress(),
      scrub: this.scrubReport(),
    });
  }

  /** Writes a checkpoint, closes the files and frees the volume's memory. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.writer.checkpoint();
    } finally {
      this.jobs?.close();
      this.disks.closeAll();
      this.journal.close();
      this.rs.dispose();
      this.memory.free(this.region, OWNER);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  /** Format version 1 -> 2: every mapped block written again with the volume's application tag. */
  private upgradeFormat(): UpgradeReport {
    const tag = appTagOf(this.sb.uuid);
    // New blocks carry the tag; old ones (tag 0) still pass until every block has it.
    this.prot.use(tag, false);
    const buf = this.zeroBlock + BLOCK_BYTES;
    const report: UpgradeReport = { blocksRewritten: 0, blocksUnreadable: 0 };
    const ops = { ...this.ops };
    for (let lba = 0; lba < this.blockCount; lba++) {
      if (this.map.map[lba] === 0) continue;
      if (this.read(lba, 1, buf) !== VolumeStatus.Ok) {
        report.blocksUnreadable++;
        continue;
      }
      if (this.write(lba, 1, buf) !== VolumeStatus.Ok) {
        throw new QingtianError(ErrorCode.IoError, `volume ${this.dir}: upgrade: block ${lba} could not be written`);
      }
      report.blocksRewritten++;
    }
    Object.assign(this.ops, ops);
    this.writer.checkpoint();
    this.sb.version = VOLUME_FORMAT_VERSION;
    this.sb.appTag = tag;
    writeSuperblock(this.dir, this.sb);
    this.prot.use(tag, true);
    this.u8.fill(0, buf, buf + BLOCK_BYTES);
    return report;
  }

  private argsOk(lba: number, blocks: number, addr: number): boolean {
    if (this.closed) return false;
    if (!Number.isInteger(lba) || !Number.isInteger(blocks) || lba < 0 || blocks < 0) return false;
    if (lba + blocks > this.blockCount) return false;
    if (addr === -1) return true;
    return Number.isInteger(addr) && addr > 0 && addr + blocks * BLOCK_BYTES <= this.memory.sizeBytes;
  }

  /** Thin capacity: the blocks this write maps for the first time must fit the log's usable space. */
  private spaceFor(lba: number, blocks: number): boolean {
    const map = this.map.map;
    if (this.map.mapped + blocks <= this.writer.usableBlocks) return true;
    let fresh = 0;
    for (let i = 0; i < blocks; i++) if (map[lba + i] === 0) fresh++;
    return this.map.mapped + fresh <= this.writer.usableBlocks;
  }

  private afterWrite(): void {
    if (this.journal.offset >= this.checkpointBytes) this.writer.checkpoint();
  }

  private fail(s: VolumeStatus): VolumeStatus {
    this.ops.errors++;
    return s;
  }

  private diskIndex(op: string, index: unknown): number {
    const n = this.geometry.disks;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= n) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${op}: index: expected an integer in [0, ${n - 1}], got ${String(index)}`,
        { field: 'index' },
      );
    }
    if (this.closed) throw new QingtianError(ErrorCode.Disposed, `${op}: the volume is closed`);
    return index;
  }

  private newRebuilder(d: number): Rebuilder {
    return new Rebuilder(this.geometry, this.u8, this.disks, this.map, this.writer, this.rs, d, this.stripeScratch);
  }

  private saveDiskStates(): void {
    this.sb.disks.forEach((disk, d) => (disk.state = this.disks.states[d]!));
    writeSuperblock(this.dir, this.sb);
  }
}

/** Writes volume.json atomically (a temporary file renamed over it, then the directory synced). */
function writeSuperblock(dir: string, sb: Superblock): void {
  const tmp = join(dir, `${SUPERBLOCK_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(sb, null, 2) + '\n', { flush: true });
  renameSync(tmp, join(dir, SUPERBLOCK_FILE));
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function align(n: number): number {
  return (n + 63) & ~63;
}

function pageAlign(n: number): number {
  return Math.ceil(n / 4096) * 4096;
}
