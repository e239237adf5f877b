import { SegmentState, type BlockMap } from './block-map.js';
import type { BlockReader } from './block-reader.js';
import type { Geometry } from './geometry.js';
import type { LogWriter, SegmentSource } from './log-writer.js';

export const CLEANER_POLICIES = ['cost-benefit', 'greedy'] as const;
export type CleanerPolicy = (typeof CLEANER_POLICIES)[number];

/** Counters of the cleaner. */
export interface CleanerCounters {
  /** Segments cleaned (live blocks moved out, then freed). */
  segmentsCleaned: number;
  /** Segments freed with nothing to move (every block had died). */
  segmentsEmptied: number;
  /** Live blocks moved. */
  blocksMoved: number;
  /** Live blocks that could not be read back and were dropped from the map. */
  blocksLost: number;
}

/**
 * The garbage collector of the log. It picks victims by LFS's cost-benefit rule: the segment
 * that maximises (1 - u) * age / (1 + u), where u is its fraction of live blocks and age the log
 * time since it was last written. Freeing it gains 1 - u of a segment for the cost of reading it
 * (1) and writing its live part (u); the age term prefers cold segments, whose live blocks are
 * unlikely to die soon if left alone, over hot ones that are still emptying by themselves. A
 * segment with no live block costs nothing and goes first.
 *
 * Live blocks move as stored (data and protection information, checked on the way) to the
 * cleaner's own log head, so cold data collects in segments of its own.
 */
export class Cleaner implements SegmentSource {
  readonly counters: CleanerCounters = { segmentsCleaned: 0, segmentsEmptied: 0, blocksMoved: 0, blocksLost: 0 };

  constructor(
    private readonly geo: Geometry,
    private readonly map: BlockMap,
    private readonly writer: LogWriter,
    private readonly reader: BlockReader,
    /** 'greedy' (fewest live blocks first, ages ignored) is kept as the baseline the benchmark compares with. */
    readonly policy: CleanerPolicy = 'cost-benefit',
  ) {}

  /** The segment to clean next, or -1 when none is worth anything (every sealed segment full). */
  pickVictim(): number {
    const { map, geo } = this;
    const now = this.writer.clock;
    let best = -1;
    let bestScore = 0;
    for (let s = 0; s < geo.segments; s++) {
      if (map.state[s] !== SegmentState.Sealed) continue;
      const live = map.live[s]!;
      if (live === 0) return s;
      if (live >= geo.segmentBlocks) continue;
      const u = live / geo.segmentBlocks;
      const score = this.policy === 'greedy' ? 1 - u : ((1 - u) * (now - map.age[s]! + 1)) / (1 + u);
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  }

  /** Moves the live blocks out of segment `seg` and lets it drain; false if the cleaner's head ran out of room. */
  clean(seg: number): boolean {
    const { map, geo, writer, reader } = this;
    if (map.live[seg] === 0) {
      writer.drain(seg);
      this.counters.segmentsEmptied++;
      return true;
    }
    const age = map.age[seg]!;
    const first = seg * geo.segmentBlocks;
    for (let pba = first; pba < first + geo.segmentBlocks && map.live[seg]! > 0; pba++) {
      const owner = map.rev[pba]!;
      if (owner === 0) continue;
      const lba = owner - 1;
      const slot = writer.movedSlot();
      if (slot < 0) return false;
      if (!reader.readUnitTo(pba, lba, slot)) {
        // Unreadable even from parity: the block is gone. Unmapping it turns later reads into
        // zeros; counted so that inspect and scrub report it.
        writer.trim(lba, 1);
        this.counters.blocksLost++;
        continue;
      }
      writer.placeMoved(lba, age);
      this.counters.blocksMoved++;
    }
    writer.drain(seg);
    this.counters.segmentsCleaned++;
    return true;
  }

  /** Cleans until `wantFree` segments are free (or draining), or nothing is left worth cleaning. */
  cleanUntil(wantFree: number): boolean {
    let freed = false;
    while (this.map.freeCount + this.writer.drainingCount < wantFree) {
      const v = this.pickVictim();
      if (v < 0 || !this.clean(v)) break;
      freed = true;
    }
    return freed;
  }
}
