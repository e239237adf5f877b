import type { BlockProtection } from './block-protection.js';
import { UNIT_BYTES, type Geometry } from './geometry.js';
import type { RowWriter } from './stripe-jobs.js';
import type { StripeWriter } from './stripe-writer.js';

/** Stripe buffers a head has when a stripe writer thread takes its full stripes. */
export const HEAD_BUFFERS = 3;

/** A full stripe handed to the stripe writer, readable from its buffer until the buffer is reused. */
interface HandedOff {
  stripe: number;
  buffer: number;
  seq: number;
}

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
 *
 * With a stripe writer (a thread), a full stripe is handed over instead: the thread encodes and
 * writes it while the head fills the next stripe in another of its buffers. A stripe handed
 * over is read from its buffer until that buffer is taken again (after its job is done).
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
  private cols: number[];
  /** Address of the buffer the stripe being filled is in. */
  private buffer: number;
  private readonly handedOff: HandedOff[] = [];
  /** The current buffer was handed over with its stripe: start() takes another. */
  private bufferBusy = false;
  private readonly countUnits = (units: number): void => {
    this.unitsWritten += units;
  };

  constructor(
    private readonly geo: Geometry,
    private readonly u8: Uint8Array,
    /** Host addresses of the head's stripe buffers, n * chunkBytes each (HEAD_BUFFERS with a writer, else one). */
    private readonly buffers: readonly number[],
    private readonly rows: RowWriter,
    private readonly jobs: StripeWriter | null,
  ) {
    this.buffer = buffers[0]!;
    this.cols = this.columns(this.buffer);
  }

  static bufferBytes(geo: Geometry): number {
    return geo.disks * geo.chunkBytes;
  }

  /** Starts filling global stripe g. */
  start(segment: number, g: number): void {
    if (this.bufferBusy) this.takeBuffer();
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

  /** Buffer address of a pba if it is in this head's stripe (or one handed over, still buffered), else -1. */
  addrOf(pba: number): number {
    const sb = this.geo.stripeBlocks;
    const i = pba - this.stripe * sb;
    if (this.stripe >= 0 && i >= 0 && i < this.fill && !this.bufferBusy) return this.slotAddr(i);
    for (let h = 0; h < this.handedOff.length; h++) {
      const o = this.handedOff[h]!;
      const j = pba - o.stripe * sb;
      if (j >= 0 && j < sb) {
        const k = this.geo.dataDisks;
        return o.buffer + (j % k) * this.geo.chunkBytes + Math.floor(j / k) * UNIT_BYTES;
      }
    }
    return -1;
  }

  /**
   * Forgets the stripes of segment `seg` handed over (it is free again: nothing in it is live, and
   * the sync that freed it drained their jobs), so that a stripe of it written anew is never found
   * in a stale buffer.
   */
  forgetSegment(seg: number): void {
    const spg = this.geo.stripesPerSegment;
    for (let h = this.handedOff.length - 1; h >= 0; h--) {
      const o = this.handedOff[h]!;
      if (Math.floor(o.stripe / spg) !== seg) continue;
      this.jobs?.waitFor(o.seq);
      this.handedOff.splice(h, 1);
    }
  }

  /** Stripes handed over whose rows may not be on disk yet (for scrub and rebuild to leave alone). */
  holdsStripe(g: number): boolean {
    if (g === this.stripe) return true;
    for (const o of this.handedOff) if (o.stripe === g) return true;
    return false;
  }

  /** Places one data block (copied from `src`, PI generated for `lba`); returns its pba. */
  place(src: number, lba: number, prot: BlockProtection): number {
    const pba = this.nextPba();
    prot.insert(src, this.slotAddr(this.fill), 1, lba);
    this.fill++;
    return pba;
  }

  /** Takes the next slot, already filled in place (data and PI: a block the cleaner moves keeps its protection). */
  placeInSlot(): number {
    const pba = this.nextPba();
    this.fill++;
    return pba;
  }

  /**
   * Writes the rows placed but not on disk: pads the last row with zero units, encodes the rows'
   * parity and writes each shard's rows to its disk (disks out of service are skipped; their
   * shards can be rebuilt from the others).
   */
  flushRows(): void {
    const geo = this.geo;
    const k = geo.dataDisks;
    const rows = Math.ceil(this.fill / k);
    const r0 = this.rowsOnDisk;
    if (rows <= r0 || this.bufferBusy) return;
    const padded = rows * k;
    for (let i = this.fill; i < padded; i++) {
      const a = this.slotAddr(i);
      this.u8.fill(0, a, a + UNIT_BYTES);
      this.padBlocks++;
    }
    this.fill = padded;
    this.rowsOnDisk = rows;
    if (this.jobs && rows === geo.chunkBlocks) {
      const seq = this.jobs.post(this.stripe, this.buffer, r0, rows, this.countUnits);
      this.handedOff.push({ stripe: this.stripe, buffer: this.buffer, seq });
      this.bufferBusy = true;
      return;
    }
    this.unitsWritten += this.rows.write(this.stripe, this.buffer, r0, rows).units;
  }

  private columns(buffer: number): number[] {
    return Array.from({ length: this.geo.disks }, (_, s) => buffer + s * this.geo.chunkBytes);
  }

  /** A buffer for the next stripe: a free one, or the oldest handed over once its job is done. */
  private takeBuffer(): void {
    let next = -1;
    for (const b of this.buffers) {
      if (!this.handedOff.some((o) => o.buffer === b)) {
        next = b;
        break;
      }
    }
    if (next < 0) {
      const o = this.handedOff.shift()!;
      this.jobs!.waitFor(o.seq);
      next = o.buffer;
    }
    this.buffer = next;
    this.cols = this.columns(next);
    this.bufferBusy = false;
  }
}
