import type { ReedSolomon } from '../../ec/reed-solomon.js';
import { SegmentState, type BlockMap } from './block-map.js';
import type { DiskSet } from './disk-set.js';
import { UNIT_BYTES, type Geometry } from './geometry.js';
import type { LogWriter } from './log-writer.js';

/** Where an online rebuild stands. */
export interface RebuildProgress {
  /** The disk being rebuilt. */
  disk: number;
  /** Stripes looked at so far, of `totalStripes`. */
  stripesDone: number;
  /** Stripes in the log. */
  totalStripes: number;
  /** Stripes whose shard on the disk was rebuilt (the others held no live data). */
  stripesRebuilt: number;
  /** Stripes that could not be rebuilt (more shards missing than parity covers). */
  stripesFailed: number;
  /** The rebuild finished (the disk is in service). */
  done: boolean;
}

/**
 * Rebuilds a replaced disk while the volume keeps serving: stripe by stripe, a few per step,
 * the disk's shard of each stripe that holds live data is recomputed from the other shards
 * (whole chunks, one erasure-code pass a stripe) and written to the new file. A segment counts
 * as valid on the disk once all its stripes are done; until then reads of its blocks on that
 * disk are served from parity. Segments written after the replacement went in are written to
 * the new disk like any other and need nothing.
 */
export class Rebuilder {
  private cursor = 0;
  readonly progress: RebuildProgress;
  private readonly shards: number[];

  constructor(
    private readonly geo: Geometry,
    private readonly u8: Uint8Array,
    private readonly disks: DiskSet,
    private readonly map: BlockMap,
    private readonly writer: LogWriter,
    private readonly rs: ReedSolomon,
    readonly disk: number,
    /** n chunks of scratch. */
    stripeScratch: number,
  ) {
    this.shards = Array.from({ length: geo.disks }, (_, s) => stripeScratch + s * geo.chunkBytes);
    this.progress = {
      disk,
      stripesDone: 0,
      totalStripes: geo.totalStripes,
      stripesRebuilt: 0,
      stripesFailed: 0,
      done: false,
    };
  }

  /** Rebuilds up to `budget` stripes; true when the whole disk is done. */
  step(budget: number): boolean {
    const { geo, map } = this;
    const bit = 1 << this.disk;
    while (budget > 0 && this.cursor < geo.totalStripes) {
      const g = this.cursor;
      const seg = Math.floor(g / geo.stripesPerSegment);
      if ((map.validDisks[seg]! & bit) !== 0 || map.state[seg] === SegmentState.Free) {
        // Written with the new disk in place, or holding nothing: skip the rest of the segment.
        this.cursor = geo.firstStripeOf(seg + 1);
      } else {
        budget--;
        this.rebuildStripe(g);
        this.cursor++;
      }
      if (this.cursor % geo.stripesPerSegment === 0) {
        map.validDisks[Math.floor((this.cursor - 1) / geo.stripesPerSegment)]! |= bit;
      }
      this.progress.stripesDone = this.cursor;
    }
    if (this.cursor >= geo.totalStripes) {
      this.disks.sync();
      this.progress.done = true;
    }
    return this.progress.done;
  }

  private rebuildStripe(g: number): void {
    const { geo, map, writer } = this;
    const seg = Math.floor(g / geo.stripesPerSegment);
    let rows = geo.chunkBlocks;
    for (const h of [writer.user, writer.cleaner]) {
      if (h.stripe === g) rows = h.rowsOnDisk;
      else if (h.segment === seg && g > h.stripe) rows = 0;
    }
    if (rows === 0 || !this.hasLive(g)) return;
    const target = geo.shardOn(g, this.disk);
    const valid = map.validDisks[seg]! & this.disks.presentMask;
    const len = rows * UNIT_BYTES;
    const pos = geo.rowOffset(g, 0);
    const missing: number[] = [];
    for (let s = 0; s < geo.disks; s++) {
      const d = geo.diskOf(g, s);
      if (s === target || (valid & (1 << d)) === 0 || !this.disks.read(d, this.u8, this.shards[s]!, len, pos))
        missing.push(s);
    }
    if (missing.length > geo.parityDisks) {
      this.progress.stripesFailed++;
      return;
    }
    this.rs.reconstructAt(this.shards, missing, len);
    if (this.disks.write(this.disk, this.u8, this.shards[target]!, len, pos)) this.progress.stripesRebuilt++;
    else this.progress.stripesFailed++;
  }

  private hasLive(g: number): boolean {
    const first = g * this.geo.stripeBlocks;
    const rev = this.map.rev;
    for (let p = first; p < first + this.geo.stripeBlocks; p++) if (rev[p] !== 0) return true;
    return false;
  }
}
