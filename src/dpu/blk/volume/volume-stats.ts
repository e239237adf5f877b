import type { DiskIoChoice } from './disk-io.js';
import { SegmentState, type BlockMap } from './block-map.js';
import type { ReaderCounters } from './block-reader.js';
import type { CleanerCounters } from './cleaner.js';
import type { DiskSet } from './disk-set.js';
import { BLOCK_BYTES, type Geometry } from './geometry.js';
import type { LogWriter } from './log-writer.js';
import type { RebuildProgress } from './rebuilder.js';
import type { ScrubReport } from './scrubber.js';
import type { DiskState } from './volume-config.js';

/** Requests served, by kind. */
export interface OpCounters {
  /** READ requests. */
  reads: number;
  /** WRITE requests. */
  writes: number;
  /** FLUSH requests. */
  flushes: number;
  /** DISCARD requests. */
  discards: number;
  /** WRITE_ZEROES requests. */
  writeZeroes: number;
  /** 4 KiB blocks read. */
  blocksRead: number;
  /** 4 KiB blocks written (zeroes included). */
  blocksWritten: number;
  /** Requests that completed with an error status. */
  errors: number;
}

/** A volume's state and counters (`qingtian volume inspect` prints this). */
export interface VolumeStats {
  /** The volume's name. */
  name: string;
  /** The volume's UUID (from volume.json). */
  uuid: string;
  /** Size the guest sees, in bytes. */
  sizeBytes: number;
  /** Disks, chunk and segment sizes, and the log's size. */
  geometry: {
    dataDisks: number;
    parityDisks: number;
    chunkBlocks: number;
    stripesPerSegment: number;
    segments: number;
    segmentBytes: number;
    logBytes: number;
  };
  /** Thin provisioning: what is mapped, and what the log holds. */
  space: {
    mappedBlocks: number;
    mappedBytes: number;
    /** Data the log can hold live (capacity minus the reserve). */
    usableBytes: number;
    segmentsFree: number;
    segmentsOpen: number;
    segmentsSealed: number;
    segmentsDraining: number;
    /** Bytes of disk file in use (segments not free, all k + m disks). */
    diskBytesInUse: number;
  };
  /** Blocks written by kind, and write amplification. */
  writes: {
    userBlocks: number;
    movedBlocks: number;
    padBlocks: number;
    unitsWritten: number;
    /** (user + moved + padding blocks) / user blocks: the log's write amplification. */
    writeAmplification: number;
    /** Units written to the disks (parity included) / user blocks. */
    deviceWriteAmplification: number;
  };
  /** Requests by kind. */
  ops: OpCounters;
  /** Reads from disk: degraded, DIF failures, repairs. */
  reads: ReaderCounters;
  /** The cleaner (GC): segments cleaned, blocks moved. */
  cleaner: CleanerCounters;
  /** Map records, batches and bytes since the last checkpoint, and its epoch. */
  journal: { records: number; batches: number; bytes: number; epoch: number };
  /** Checkpoints written since the volume was opened. */
  checkpoints: number;
  /** fdatasync calls (disks and journal). */
  syncs: number;
  /** Every disk file and its state. */
  disks: { index: number; file: string; state: DiskState }[];
  /** Disk reads or writes that failed (the disk is then taken out of service). */
  diskFailures: number;
  /** How the disk files are read and written ('mapped' by the native helper, or 'sync' pread / pwrite) and why. */
  diskIo: { choice: DiskIoChoice; reason: string };
  /**
   * Where full stripes are encoded and written ('thread': the volume's stripe writer thread), the
   * stripe jobs handed to it, and how many of them the owning thread ran itself (it needed them
   * done before the thread got to them: a sign the thread is short of CPU).
   */
  stripeWriter: { choice: 'thread' | 'inline'; jobs: number; jobsRunByOwner: number };
  /** The online rebuild in progress or last finished; null if none. */
  rebuild: RebuildProgress | null;
  /** The scrub in progress or last finished; null if none. */
  scrub: ScrubReport | null;
}

export interface StatsSources {
  name: string;
  uuid: string;
  geo: Geometry;
  map: BlockMap;
  writer: LogWriter;
  disks: DiskSet;
  ops: OpCounters;
  reads: ReaderCounters;
  cleaner: CleanerCounters;
  rebuild: RebuildProgress | null;
  scrub: ScrubReport | null;
}

export function volumeStats(s: StatsSources): VolumeStats {
  const { geo, map, writer } = s;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < geo.segments; i++) counts[map.state[i]!]!++;
  const user = writer.userBlocks;
  const pad = writer.user.padBlocks + writer.cleaner.padBlocks;
  const units = writer.user.unitsWritten + writer.cleaner.unitsWritten;
  const ratio = (x: number): number => (user === 0 ? 0 : x / user);
  return {
    name: s.name,
    uuid: s.uuid,
    sizeBytes: geo.blockCount * BLOCK_BYTES,
    geometry: {
      dataDisks: geo.dataDisks,
      parityDisks: geo.parityDisks,
      chunkBlocks: geo.chunkBlocks,
      stripesPerSegment: geo.stripesPerSegment,
      segments: geo.segments,
      segmentBytes: geo.segmentBlocks * BLOCK_BYTES,
      logBytes: geo.logBlocks * BLOCK_BYTES,
    },
    space: {
      mappedBlocks: map.mapped,
      mappedBytes: map.mapped * BLOCK_BYTES,
      usableBytes: writer.usableBlocks * BLOCK_BYTES,
      segmentsFree: counts[SegmentState.Free]!,
      segmentsOpen: counts[SegmentState.Open]!,
      segmentsSealed: counts[SegmentState.Sealed]!,
      segmentsDraining: counts[SegmentState.Draining]!,
      diskBytesInUse: (geo.segments - counts[SegmentState.Free]!) * geo.segmentDiskBytes * geo.disks,
    },
    writes: {
      userBlocks: user,
      movedBlocks: writer.movedBlocks,
      padBlocks: pad,
      unitsWritten: units,
      writeAmplification: ratio(user + writer.movedBlocks + pad),
      deviceWriteAmplification: ratio(units),
    },
    ops: { ...s.ops },
    reads: { ...s.reads },
    cleaner: { ...s.cleaner },
    journal: {
      records: writer.journal.recordsWritten,
      batches: writer.journal.batchesWritten,
      bytes: writer.journal.offset,
      epoch: writer.journal.epoch,
    },
    checkpoints: writer.checkpoints,
    syncs: writer.syncs,
    disks: s.disks.states.map((state, index) => ({ index, file: s.disks.files[index]!, state })),
    diskFailures: s.disks.failures,
    diskIo: { choice: s.disks.io, reason: s.disks.ioReason },
    stripeWriter: s.writer.jobs
      ? { choice: 'thread', jobs: s.writer.jobs.jobsPosted, jobsRunByOwner: s.writer.jobs.ranInline }
      : { choice: 'inline', jobs: 0, jobsRunByOwner: 0 },
    rebuild: s.rebuild ? { ...s.rebuild } : null,
    scrub: s.scrub ? { ...s.scrub } : null,
  };
}
