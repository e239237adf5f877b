import type { ReedSolomon } from '../../ec/reed-solomon.js';
import { type BlockMap, SegmentState } from './block-map.js';
import type { BlockProtection } from './block-protection.js';
import { writeCheckpoint } from './checkpoint.js';
import type { DiskSet } from './disk-set.js';
import type { Geometry } from './geometry.js';
import type { Journal } from './journal.js';
import { HEAD_BUFFERS, LogHead } from './log-head.js';
import { RowWriter } from './stripe-jobs.js';
import type { StripeWriter } from './stripe-writer.js';
import { RESERVE_SEGMENTS } from './volume-config.js';

/** Free segments the cleaner keeps for itself: user writes wait for cleaning below this. */
const CLEANER_RESERVE = 2;

/** What the writer asks of the cleaner when it runs short of segments. */
export interface SegmentSource {
  /** Cleans segments until `wantFree` are free or nothing is left to clean; false if none was freed. */
  cleanUntil(wantFree: number): boolean;
}

/**
 * The write side of a volume's log: its two heads, segment allocation, and the order in which
 * things reach the disks. The rule it keeps: a journal record is written only after the rows
 * holding its blocks, and a segment emptied by records not yet durable is not reused (it drains
 * until a sync makes them so), so that a crash at any point leaves a map whose every entry
 * points at the block it names.
 */
export class LogWriter {
  readonly user: LogHead;
  readonly cleaner: LogHead;
  /** Log clock: blocks placed by users (ages segments for the cleaner's cost-benefit choice). */
  clock = 0;
  /** Records appended to the journal (written or pending) and how many of them are durable. */
  private appended = 0;
  private durable = 0;
  /** Draining segments and the record count that must be durable before each is free. */
  private readonly draining = new Map<number, number>();
  /** Something reached a head or the journal since the last sync. */
  private dirty = false;
  checkpointSeq: number;
  source: SegmentSource | null = null;
  /** Statistics. */
  userBlocks = 0;
  movedBlocks = 0;
  syncs = 0;
  checkpoints = 0;

  /** Encodes and writes rows on this thread (partial flushes, and every flush without a stripe writer). */
  readonly rows: RowWriter;
  /** The stripe writer thread's queue, when full stripes are written there. */
  jobs: StripeWriter | null = null;

  constructor(
    readonly geo: Geometry,
    readonly dir: string,
    readonly u8: Uint8Array,
    readonly disks: DiskSet,
    readonly map: BlockMap,
    readonly journal: Journal,
    readonly rs: ReedSolomon,
    readonly prot: BlockProtection,
    /** Host memory for the heads' buffers: LogWriter.bufferBytes(geo, threaded). */
    headBuffers: number,
    checkpointSeq: number,
    jobs: StripeWriter | null,
  ) {
    this.rows = new RowWriter(geo, u8, disks, rs);
    this.jobs = jobs;
    const n = jobs ? HEAD_BUFFERS : 1;
    const per = LogHead.bufferBytes(geo);
    const bufs = (h: number): number[] => Array.from({ length: n }, (_, i) => headBuffers + (h * n + i) * per);
    this.user = new LogHead(geo, u8, bufs(0), this.rows, jobs);
    this.cleaner = new LogHead(geo, u8, bufs(1), this.rows, jobs);
    this.checkpointSeq = checkpointSeq;
  }

  /** Bytes of head buffers a writer needs (two heads; more buffers each with a stripe writer thread). */
  static bufferBytes(geo: Geometry, threaded: boolean): number {
    return 2 * (threaded ? HEAD_BUFFERS : 1) * LogHead.bufferBytes(geo);
  }

  /** Every stripe handed to the stripe writer is on disk. */
  drainJobs(): void {
    this.jobs?.drain();
  }

  /** Log blocks that may hold live data (the rest is kept for the heads and the cleaner). */
  get usableBlocks(): number {
    return (this.geo.segments - RESERVE_SEGMENTS) * this.geo.segmentBlocks;
  }

  /** Buffer address of a block still in a head's stripe, else -1. */
  bufferedAddr(pba: number): number {
    const a = this.user.addrOf(pba);
    return a >= 0 ? a : this.cleaner.addrOf(pba);
  }

  /** Places a user block; -1 when no segment can be had (ENOSPC). */
  placeUser(src: number, lba: number): number {
    const h = this.user;
    if (!h.active && !this.advance(h, false)) return -1;
    const pba = h.place(src, lba, this.prot);
    this.record(lba, pba);
    this.userBlocks++;
    this.clock++;
    if (h.full) h.flushRows();
    return pba;
  }

  /**
   * The cleaner head's next slot, where the cleaner reads a live unit it moves (so that a moved
   * block is copied once, from its disk straight into the stripe); -1 when no segment can be had.
   */
  movedSlot(): number {
    const h = this.cleaner;
    if (!h.active && !this.advance(h, true)) return -1;
    return h.slotAddr(h.fill);
  }

  /** Takes the unit just read into movedSlot() as lba's block (the cleaner moving it); its pba. */
  placeMoved(lba: number, victimAge: number): number {
    const h = this.cleaner;
    const pba = h.placeInSlot();
    this.record(lba, pba);
    this.movedBlocks++;
    if (this.map.age[h.segment]! < victimAge) this.map.age[h.segment] = victimAge;
    if (h.full) h.flushRows();
    return pba;
  }

  /** Unmaps blocks (discard) with a journal record. */
  trim(lba: number, count: number): void {
    let any = false;
    for (let i = 0; i < count; i++) if (this.map.unbind(lba + i)) any = true;
    if (!any) return;
    this.journal.appendTrim(lba, count);
    this.appended++;
    this.dirty = true;
    if (this.journal.full) this.commit();
  }

  /** A segment the cleaner emptied, or one whose blocks all died: free once the records are durable. */
  drain(seg: number): void {
    if (this.map.state[seg] === SegmentState.Open) return;
    this.map.setState(seg, SegmentState.Draining);
    this.draining.set(seg, this.appended);
    this.releaseDrained();
  }

  get drainingCount(): number {
    return this.draining.size;
  }

  /** Writes the heads' pending rows and the pending journal records (no fdatasync). */
  commit(): void {
    this.user.flushRows();
    this.cleaner.flushRows();
    this.drainJobs();
    this.journal.commit(false);
  }

  /**
   * FLUSH: rows, then fdatasync of the disks, then the journal batch, then fdatasync of the
   * journal. On return every block written before the call and the map that finds it are on disk.
   */
  sync(): void {
    if (!this.dirty && this.durable === this.appended) return;
    this.user.flushRows();
    this.cleaner.flushRows();
    this.drainJobs();
    this.disks.sync();
    this.journal.commit(true);
    this.journal.sync();
    this.durable = this.appended;
    this.dirty = false;
    this.syncs++;
    this.releaseDrained();
  }

  /**
   * Writes a checkpoint of the map and starts a new journal epoch, then gives back the disk
   * space of free segments at the end of the log (thin provisioning).
   */
  checkpoint(): void {
    this.sync();
    const seq = this.checkpointSeq + 1;
    const epoch = this.journal.epoch + 1;
    writeCheckpoint(this.dir, { seq, journalEpoch: epoch, map: this.map.map, age: this.map.age });
    this.checkpointSeq = seq;
    this.journal.reset(epoch);
    this.checkpoints++;
    this.trimDisks();
  }

  /** Truncates the disk files after the last segment in use. */
  trimDisks(): void {
    let last = -1;
    for (let s = this.geo.segments - 1; s >= 0; s--) {
      if (this.map.state[s] !== SegmentState.Free) {
        last = s;
        break;
      }
    }
    this.disks.truncate((last + 1) * this.geo.segmentDiskBytes);
  }

  private record(lba: number, pba: number): void {
    this.map.bind(lba, pba);
    this.journal.appendMap(lba, pba);
    this.appended++;
    this.dirty = true;
    if (this.journal.full) this.commit();
  }

  /** Moves a head to its next stripe, or to a new segment; false if no segment can be had. */
  private advance(h: LogHead, forCleaner: boolean): boolean {
    if (h.stripe >= 0 && h.full) h.flushRows();
    if (h.segment >= 0 && !h.lastOfSegment) {
      h.start(h.segment, h.stripe + 1);
      if (!forCleaner) this.map.age[h.segment] = this.clock;
      return true;
    }
    const seg = this.allocSegment(forCleaner);
    if (seg < 0) return false;
    if (h.segment >= 0) this.seal(h.segment);
    this.map.setState(seg, SegmentState.Open);
    this.map.validDisks[seg] = this.disks.presentMask;
    this.map.age[seg] = this.clock;
    h.start(seg, this.geo.firstStripeOf(seg));
    return true;
  }

  private seal(seg: number): void {
    this.map.setState(seg, SegmentState.Sealed);
    if (this.map.live[seg] === 0) this.drain(seg);
  }

  private allocSegment(forCleaner: boolean): number {
    const floor = forCleaner ? 0 : CLEANER_RESERVE;
    if (this.map.freeCount <= floor) {
      if (!forCleaner && this.source) this.source.cleanUntil(floor + 2);
      if (this.map.freeCount <= floor && this.draining.size > 0) this.sync();
    }
    if (this.map.freeCount <= floor) return -1;
    return this.map.lowestFree();
  }

  private releaseDrained(): void {
    if (this.draining.size === 0) return;
    for (const [seg, need] of this.draining) {
      if (need <= this.durable) {
        this.draining.delete(seg);
        this.map.setState(seg, SegmentState.Free);
        this.user.forgetSegment(seg);
        this.cleaner.forgetSegment(seg);
      }
    }
  }
}
