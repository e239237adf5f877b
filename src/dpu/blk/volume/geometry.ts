/**
 * Where a log block lives. A volume's log is a sequence of stripes; each stripe is k data chunks
 * and m parity chunks, one chunk per disk file, and every chunk is `chunkBlocks` units of 4104
 * bytes (a 4096-byte block followed by its 8 bytes of T10 protection information). Stripe g
 * starts at byte g * chunkBytes of every disk, so a stripe is one row of chunks across the disks
 * and the files grow together. Parity rotates: shard s of stripe g (s < k data, s >= k parity)
 * is on disk (s + g) mod n, so reads spread over all n disks.
 *
 *              disk 0     disk 1     disk 2     disk 3     disk 4     disk 5
 *   stripe 0   D0         D1         D2         D3         P0         P1
 *   stripe 1   P1         D0         D1         D2         D3         P0
 *   ...
 *
 * Inside a stripe the log fills rows first: block slot i goes to data shard i mod k, row
 * floor(i / k). A row is k units, one per data shard, plus m parity units; its parity depends on
 * that row alone, so a flush writes whole rows (padding the last with at most k - 1 unused units)
 * and never rewrites what is already on disk.
 *
 * A physical block address (pba) numbers log block slots: pba = g * stripeBlocks + i. Segments
 * (`stripesPerSegment` stripes) are the unit of allocation and garbage collection.
 */
export const BLOCK_BYTES = 4096;
export const PI_BYTES = 8;
/** One block on disk: data then protection information (DIF, interleaved). */
export const UNIT_BYTES = BLOCK_BYTES + PI_BYTES;
/** Disk masks are u32: at most 32 disks a volume. */
export const MAX_DISKS = 32;

/** What fixes a volume's layout: k, m, chunk size, segment size, segment count. */
export interface GeometryParams {
  /** Logical size in 4096-byte blocks. */
  readonly blockCount: number;
  readonly dataDisks: number;
  readonly parityDisks: number;
  readonly chunkBlocks: number;
  readonly stripesPerSegment: number;
  /** Segments in the log (its physical capacity). */
  readonly segments: number;
}

/** A volume's layout arithmetic: where a log block, a chunk, a stripe and a segment sit on which disk. */
export class Geometry implements GeometryParams {
  readonly blockCount: number;
  readonly dataDisks: number;
  readonly parityDisks: number;
  readonly chunkBlocks: number;
  readonly stripesPerSegment: number;
  readonly segments: number;
  /** k + m. */
  readonly disks: number;
  readonly chunkBytes: number;
  /** Data block slots a stripe: k * chunkBlocks. */
  readonly stripeBlocks: number;
  readonly segmentBlocks: number;
  readonly totalStripes: number;
  /** Block slots in the whole log. */
  readonly logBlocks: number;
  /** Bytes one segment occupies on each disk. */
  readonly segmentDiskBytes: number;
  /** Mask with a bit per disk. */
  readonly allDisks: number;

  constructor(p: GeometryParams) {
    this.blockCount = p.blockCount;
    this.dataDisks = p.dataDisks;
    this.parityDisks = p.parityDisks;
    this.chunkBlocks = p.chunkBlocks;
    this.stripesPerSegment = p.stripesPerSegment;
    this.segments = p.segments;
    this.disks = p.dataDisks + p.parityDisks;
    this.chunkBytes = p.chunkBlocks * UNIT_BYTES;
    this.stripeBlocks = p.dataDisks * p.chunkBlocks;
    this.segmentBlocks = this.stripeBlocks * p.stripesPerSegment;
    this.totalStripes = p.segments * p.stripesPerSegment;
    this.logBlocks = this.segmentBlocks * p.segments;
    this.segmentDiskBytes = this.chunkBytes * p.stripesPerSegment;
    this.allDisks = this.disks === 32 ? 0xffffffff : (1 << this.disks) - 1;
  }

  /** Global stripe of a pba. */
  stripeOf(pba: number): number {
    return Math.floor(pba / this.stripeBlocks);
  }

  segmentOf(pba: number): number {
    return Math.floor(pba / this.segmentBlocks);
  }

  /** The disk holding shard `shard` (0..n-1; data first) of stripe g. */
  diskOf(g: number, shard: number): number {
    return (shard + g) % this.disks;
  }

  /** The shard that disk `disk` holds in stripe g. */
  shardOn(g: number, disk: number): number {
    return (disk - (g % this.disks) + this.disks) % this.disks;
  }

  /** Byte offset on its disk of row `row` of stripe g. */
  rowOffset(g: number, row: number): number {
    return g * this.chunkBytes + row * UNIT_BYTES;
  }

  firstStripeOf(segment: number): number {
    return segment * this.stripesPerSegment;
  }
}
