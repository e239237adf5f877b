import type { ReedSolomon } from '../../ec/reed-solomon.js';
import type { BlockProtection } from './block-protection.js';
import type { DiskSet } from './disk-set.js';
import { UNIT_BYTES, type Geometry } from './geometry.js';

/**
 * One append point of the log: the stripe being filled, held in host memory as n columns of
 * chunkBytes (the k data shards then the m parity shards, as they go to disk). Blocks go in
 * slot order (row by row across the data shards); a flush writes the rows not yet on disk, the
 * last one padded, after encoding their parity; a full stripe is written the same way and the
 * head moves on. The stripe stays readable from memory until the head leaves it.
 *
 * A volume has two heads: one for writes from its users and one for blocks the cleaner moves,
 * so that data that survived a cleaning (cold) is not mixed with fresh writes (hot) and the
 * segments each fills age alike.
 */
export class LogHead {
  /** Segment being filled, -1 before the first. */
  segment = -1;
  /** Global stripe being filled. */
  stripe = -1;
  /** Slots used in the stripe (blocks and padding). */
  fill = 0;
  /** Rows of the stripe already on disk. */
  rowsOnDisk = 0;
  /** Padding units written (write amplification). */
  padBlocks = 0;
  /** Units (data, padding, parity) written to disks. */
  unitsWritten = 0;
  private readonly cols: number[];

  constructor(
    private readonly geo: Geometry,
    private readonly u8: Uint8Array,
    /** Host address of n * chunkBytes of buffer. */
    readonly buffer: number,
  ) {
    this.cols = Array.from({ length: geo.disks }, (_, s) => buffer + s * geo.chunkBytes);
  }

  static bufferBytes(geo: Geometry): number {
    return geo.disks * geo.chunkBytes;
  }

  /** Starts filling global stripe g. */
  start(segment: number, g: number): void {
    this.segment = segment;
    this.stripe = g;
    this.fill = 0;
    this.rowsOnDisk = 0;
  }

  get active(): boolean {
    return this.stripe >= 0 && this.fill < this.geo.stripeBlocks;
  }

  /** Stripe full: it must be written (flushRows) and the head moved on. */
  get full(): boolean {
    return this.fill === this.geo.stripeBlocks;
  }

  /** Has placed blocks not yet on disk. */
  get dirty(): boolean {
    return this.stripe >= 0 && Math.ceil(this.fill / this.geo.dataDisks) > this.rowsOnDisk;
  }

  /** Whether the head's stripe is the last of its segment. */
  get lastOfSegment(): boolean {
    return (this.stripe + 1) % this.geo.stripesPerSegment === 0;
  }

  /** The next slot's pba. */
  nextPba(): number {
    return this.stripe * this.geo.stripeBlocks + this.fill;
  }

  /** Host address of slot `i` of the stripe. */
  slotAddr(i: number): number {
    const k = this.geo.dataDisks;
    return this.cols[i % k]! + Math.floor(i / k) * UNIT_BYTES;
  }

  /** Buffer address of a pba if it is in this head's stripe, else -1. */
  addrOf(pba: number): number {
    const base = this.stripe * this.geo.stripeBlocks;
    const i = pba - base;
    return this.stripe >= 0 && i >= 0 && i < this.fill ? this.slotAddr(i) : -1;
  }

  /** Places one data block (copied from `src`, PI generated for `lba`); returns its pba. */
  place(src: number, lba: number, prot: BlockProtection): number {
    const pba = this.nextPba();
    prot.insert(src, this.slotAddr(this.fill), 1, lba);
    this.fill++;
    return pba;
  }

  /** Places one unit as it is (data and PI: the cleaner moving a block keeps its protection). */
  placeUnit(src: number): number {
    const pba = this.nextPba();
    const dst = this.slotAddr(this.fill);
    this.u8.copyWithin(dst, src, src + UNIT_BYTES);
    this.fill++;
    return pba;
  }

  /**
   * Writes the rows placed but not on disk: pads the last row with zero units, encodes the rows'
   * parity and writes each shard's rows to its disk (disks out of service are skipped; their
   * shards can be rebuilt from the others).
   */
  flushRows(disks: DiskSet, rs: ReedSolomon): void {
    const geo = this.geo;
    const k = geo.dataDisks;
    const rows = Math.ceil(this.fill / k);
    const r0 = this.rowsOnDisk;
    if (rows <= r0) return;
    const padded = rows * k;
    for (let i = this.fill; i < padded; i++) {
      const a = this.slotAddr(i);
      this.u8.fill(0, a, a + UNIT_BYTES);
      this.padBlocks++;
    }
    this.fill = padded;
    const off = r0 * UNIT_BYTES;
    const len = (rows - r0) * UNIT_BYTES;
    const data: number[] = [];
    const parity: number[] = [];
    for (let s = 0; s < geo.disks; s++) (s < k ? data : parity).push(this.cols[s]! + off);
    rs.encodeAt(data, parity, len);
    const pos = geo.rowOffset(this.stripe, r0);
    for (let s = 0; s < geo.disks; s++) {
      if (disks.write(geo.diskOf(this.stripe, s), this.u8, this.cols[s]! + off, len, pos))
        this.unitsWritten += rows - r0;
    }
    this.rowsOnDisk = rows;
  }
}
