import type { ReedSolomon } from '../../ec/reed-solomon.js';
import type { BlockMap } from './block-map.js';
import type { BlockProtection } from './block-protection.js';
import type { DiskSet } from './disk-set.js';
import { BLOCK_BYTES, UNIT_BYTES, type Geometry } from './geometry.js';
import type { LogWriter } from './log-writer.js';

/** Counters of the read side. */
export interface ReaderCounters {
  /** Blocks read from a disk directly. */
  diskReads: number;
  /** Blocks rebuilt from the other shards of their row (a disk out of service, or a failed check). */
  degradedReads: number;
  /** Blocks whose protection information did not match what the disk returned. */
  difErrors: number;
  /** Blocks rewritten in place after a failed check, from the row's other shards. */
  repairs: number;
  /** Blocks that could not be read back (more shards lost than parity covers). */
  unrecoverable: number;
}

/**
 * Gets log blocks back: from a head's stripe while it is in memory, else from the disk that
 * holds the block, checked against its protection information (guard and reference tag = LBA).
 * A block on a disk out of service, or one that fails its check, is rebuilt from the other k
 * shards of its row through the erasure code, checked again, and (when its disk is in service)
 * written back in place: a read repairs the corruption it finds.
 */
export class BlockReader {
  readonly counters: ReaderCounters = { diskReads: 0, degradedReads: 0, difErrors: 0, repairs: 0, unrecoverable: 0 };
  private readonly rowShards: number[];

  constructor(
    private readonly geo: Geometry,
    private readonly u8: Uint8Array,
    private readonly disks: DiskSet,
    private readonly map: BlockMap,
    private readonly writer: LogWriter,
    private readonly rs: ReedSolomon,
    private readonly prot: BlockProtection,
    /** One unit of scratch. */
    private readonly unitScratch: number,
    /** n units of scratch: one row of a stripe. */
    private readonly rowScratch: number,
  ) {
    this.rowShards = Array.from({ length: geo.disks }, (_, s) => rowScratch + s * UNIT_BYTES);
  }

  /** Reads log block `pba` (which holds `lba`) into 4096 bytes at dst; false if it cannot be had. */
  readBlock(pba: number, lba: number, dst: number): boolean {
    const buffered = this.writer.bufferedAddr(pba);
    if (buffered >= 0) {
      if (this.prot.verifyCopy(buffered, dst, 1, lba) < 0) return true;
      // A head's memory was overwritten under it: nothing on disk can stand in for it.
      this.counters.difErrors++;
      this.counters.unrecoverable++;
      return false;
    }
    const geo = this.geo;
    const g = Math.floor(pba / geo.stripeBlocks);
    const i = pba - g * geo.stripeBlocks;
    const row = Math.floor(i / geo.dataDisks);
    const shard = i - row * geo.dataDisks;
    const disk = (shard + g) % geo.disks;
    const valid = this.map.validDisks[Math.floor(g / geo.stripesPerSegment)]!;
    if (
      (valid & (1 << disk)) !== 0 &&
      this.disks.read(disk, this.u8, this.unitScratch, UNIT_BYTES, geo.rowOffset(g, row))
    ) {
      this.counters.diskReads++;
      if (this.prot.verifyCopy(this.unitScratch, dst, 1, lba) < 0) return true;
      this.counters.difErrors++;
    }
    const unit = this.rebuildUnit(g, row, shard, lba);
    if (unit < 0) return false;
    this.u8.copyWithin(dst, unit, unit + BLOCK_BYTES);
    return true;
  }

  /**
   * Reads block `pba` as stored (data and PI) and checks it; returns the address of the checked
   * unit (valid until the next call on this reader), or -1 if it cannot be had.
   */
  readUnit(pba: number, lba: number): number {
    const buffered = this.writer.bufferedAddr(pba);
    if (buffered >= 0) return this.prot.verify(buffered, 1, lba) < 0 ? buffered : -1;
    const geo = this.geo;
    const g = Math.floor(pba / geo.stripeBlocks);
    const i = pba - g * geo.stripeBlocks;
    const row = Math.floor(i / geo.dataDisks);
    const shard = i - row * geo.dataDisks;
    const disk = (shard + g) % geo.disks;
    const valid = this.map.validDisks[Math.floor(g / geo.stripesPerSegment)]!;
    if (
      (valid & (1 << disk)) !== 0 &&
      this.disks.read(disk, this.u8, this.unitScratch, UNIT_BYTES, geo.rowOffset(g, row))
    ) {
      this.counters.diskReads++;
      if (this.prot.verify(this.unitScratch, 1, lba) < 0) return this.unitScratch;
      this.counters.difErrors++;
    }
    return this.rebuildUnit(g, row, shard, lba);
  }

  /**
   * Reads block `pba` as stored (data and PI) into the unit at dst, checked (from parity if need
   * be); false if it cannot be had. The cleaner reads into its stripe this way: one copy a block.
   */
  readUnitTo(pba: number, lba: number, dst: number): boolean {
    const buffered = this.writer.bufferedAddr(pba);
    if (buffered >= 0) {
      if (this.prot.verify(buffered, 1, lba) >= 0) return false;
      this.u8.copyWithin(dst, buffered, buffered + UNIT_BYTES);
      return true;
    }
    const geo = this.geo;
    const g = Math.floor(pba / geo.stripeBlocks);
    const i = pba - g * geo.stripeBlocks;
    const row = Math.floor(i / geo.dataDisks);
    const shard = i - row * geo.dataDisks;
    const disk = (shard + g) % geo.disks;
    const valid = this.map.validDisks[Math.floor(g / geo.stripesPerSegment)]!;
    if ((valid & (1 << disk)) !== 0 && this.disks.read(disk, this.u8, dst, UNIT_BYTES, geo.rowOffset(g, row))) {
      this.counters.diskReads++;
      if (this.prot.verify(dst, 1, lba) < 0) return true;
      this.counters.difErrors++;
    }
    const unit = this.rebuildUnit(g, row, shard, lba);
    if (unit < 0) return false;
    this.u8.copyWithin(dst, unit, unit + UNIT_BYTES);
    return true;
  }

  /**
   * Rebuilds shard `target` of row `row` of stripe g from the others and checks it against
   * `lba`; writes it back in place if its disk is in service. Shards on disks out of service are
   * left out; if the result still fails its check, the row's data shards that fail their own
   * checks are left out too and it is tried once more. Returns the unit's address or -1.
   */
  rebuildUnit(g: number, row: number, target: number, lba: number): number {
    const geo = this.geo;
    this.counters.degradedReads++;
    const valid = this.map.validDisks[Math.floor(g / geo.stripesPerSegment)]! & this.disks.presentMask;
    const missing: number[] = [];
    const pos = geo.rowOffset(g, row);
    for (let s = 0; s < geo.disks; s++) {
      const d = geo.diskOf(g, s);
      if (s === target || (valid & (1 << d)) === 0 || !this.disks.read(d, this.u8, this.rowShards[s]!, UNIT_BYTES, pos))
        missing.push(s);
    }
    const out = this.rowShards[target]!;
    if (this.tryRebuild(missing, lba, out)) return this.writeBack(g, row, target, out, valid);
    // Another shard of the row is bad as well: leave out the data shards that fail their checks.
    const base = g * geo.stripeBlocks + row * geo.dataDisks;
    let more = false;
    for (let s = 0; s < geo.dataDisks; s++) {
      if (missing.includes(s)) continue;
      const owner = this.map.rev[base + s]!;
      if (owner !== 0 && this.prot.verify(this.rowShards[s]!, 1, owner - 1) >= 0) {
        missing.push(s);
        more = true;
      }
    }
    if (more && this.tryRebuild(missing, lba, out)) return this.writeBack(g, row, target, out, valid);
    this.counters.unrecoverable++;
    return -1;
  }

  private tryRebuild(missing: number[], lba: number, out: number): boolean {
    if (missing.length > this.geo.parityDisks) return false;
    missing.sort((a, b) => a - b);
    this.rs.reconstructAt(this.rowShards, missing, UNIT_BYTES);
    return this.prot.verify(out, 1, lba) < 0;
  }

  private writeBack(g: number, row: number, target: number, unit: number, valid: number): number {
    const d = this.geo.diskOf(g, target);
    if ((valid & (1 << d)) !== 0 && this.disks.write(d, this.u8, unit, UNIT_BYTES, this.geo.rowOffset(g, row)))
      this.counters.repairs++;
    return unit;
  }
}
