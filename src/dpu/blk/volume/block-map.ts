import type { Geometry } from './geometry.js';

/** What a segment of the log is doing. */
export const SegmentState = {
  /** Holds nothing; may be handed to a log head. */
  Free: 0,
  /** A log head is filling it. */
  Open: 1,
  /** Full (or left by a crash); only the cleaner changes it. */
  Sealed: 2,
  /**
   * Emptied by the cleaner or by overwrites, but the journal records that emptied it are not
   * durable yet: after a crash the map could still point into it, so it is not reused until
   * they are.
   */
  Draining: 3,
} as const;
export type SegmentState = (typeof SegmentState)[keyof typeof SegmentState];

/**
 * The flash-translation-layer map of a log-structured volume: LBA -> log block (pba) and back,
 * and per segment its live block count, state and age. Entries hold pba + 1 (0 = unmapped: a
 * thin volume allocates nothing for a block never written, and reads it as zeros).
 *
 * Lives in the owning thread's heap: only the volume's own thread reads it, and the journal and
 * checkpoints are what make it durable.
 */
export class BlockMap {
  /** LBA -> pba + 1. */
  readonly map: Uint32Array;
  /** pba -> LBA + 1 while that block is the live copy, else 0. */
  readonly rev: Uint32Array;
  readonly live: Uint32Array;
  readonly state: Uint8Array;
  /** Log clock value when the segment was last written (cost-benefit age). */
  readonly age: Float64Array;
  /** Per segment: disks whose shards of it are valid (a replaced disk's bit is set once it is rebuilt). */
  readonly validDisks: Uint32Array;
  /** Blocks mapped. */
  mapped = 0;
  freeCount: number;

  constructor(readonly geo: Geometry) {
    this.map = new Uint32Array(geo.blockCount);
    this.rev = new Uint32Array(geo.logBlocks);
    this.live = new Uint32Array(geo.segments);
    this.state = new Uint8Array(geo.segments);
    this.age = new Float64Array(geo.segments);
    this.validDisks = new Uint32Array(geo.segments);
    this.freeCount = geo.segments;
  }

  /** pba of an LBA, or -1 when unmapped. */
  lookup(lba: number): number {
    return this.map[lba]! - 1;
  }

  /** Maps lba to pba; the block it replaces (if any) becomes dead. */
  bind(lba: number, pba: number): void {
    const old = this.map[lba]!;
    if (old !== 0) this.kill(old - 1);
    else this.mapped++;
    this.map[lba] = pba + 1;
    this.rev[pba] = lba + 1;
    this.live[this.geo.segmentOf(pba)]!++;
  }

  /** Unmaps lba (discard); true if it was mapped. */
  unbind(lba: number): boolean {
    const old = this.map[lba]!;
    if (old === 0) return false;
    this.kill(old - 1);
    this.map[lba] = 0;
    this.mapped--;
    return true;
  }

  /** Lowest-numbered free segment (keeps the disk files compact, so thin space can be given back), or -1. */
  lowestFree(): number {
    const idx = this.state.indexOf(SegmentState.Free);
    return idx;
  }

  setState(seg: number, s: SegmentState): void {
    const was = this.state[seg]!;
    if (was === s) return;
    if (was === SegmentState.Free) this.freeCount--;
    if (s === SegmentState.Free) this.freeCount++;
    this.state[seg] = s;
  }

  /**
   * Rebuilds rev, live counts and segment states from `map` (after a checkpoint is loaded).
   * Entries outside the log are untrusted input: they are dropped and counted.
   */
  rebuildReverse(validMask: number): number {
    this.rev.fill(0);
    this.live.fill(0);
    let mapped = 0;
    let rejected = 0;
    const logBlocks = this.geo.logBlocks;
    for (let lba = 0; lba < this.map.length; lba++) {
      const e = this.map[lba]!;
      if (e === 0) continue;
      if (e > logBlocks || this.rev[e - 1] !== 0) {
        this.map[lba] = 0;
        rejected++;
        continue;
      }
      mapped++;
      this.rev[e - 1] = lba + 1;
      this.live[this.geo.segmentOf(e - 1)]!++;
    }
    this.mapped = mapped;
    this.validDisks.fill(validMask);
    this.recomputeStates();
    return rejected;
  }

  /** Segments with live blocks are sealed, the rest free (after a replay, with no head open). */
  recomputeStates(): void {
    this.freeCount = 0;
    for (let s = 0; s < this.geo.segments; s++) {
      const free = this.live[s] === 0;
      this.state[s] = free ? SegmentState.Free : SegmentState.Sealed;
      if (free) this.freeCount++;
    }
  }

  private kill(pba: number): void {
    this.rev[pba] = 0;
    this.live[this.geo.segmentOf(pba)]!--;
  }
}
