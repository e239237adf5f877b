import { SegmentState, type BlockMap } from './block-map.js';
import type { BlockReader } from './block-reader.js';
import type { Geometry } from './geometry.js';

/** What a consistency check found. */
export interface CheckReport {
  /** No problem found. */
  ok: boolean;
  /** LBAs the map binds to a log block. */
  mappedBlocks: number;
  /** Blocks read back and checked (deep check only). */
  blocksVerified: number;
  /** The first problems found (at most 20), in words. */
  problems: string[];
  /** Every problem found (`problems` lists the first 20). */
  problemCount: number;
}

const MAX_LISTED = 20;

/**
 * fsck for a volume: the map and its reverse agree (every mapped LBA names a distinct log block
 * that names it back), every segment's live count is what the map says, no live block sits in
 * a free or draining segment, and (deep) every mapped block reads back and passes its DIF
 * check, from parity if need be.
 */
export function checkConsistency(geo: Geometry, map: BlockMap, reader: BlockReader, deep: boolean): CheckReport {
  const problems: string[] = [];
  let count = 0;
  const problem = (p: string): void => {
    if (problems.length < MAX_LISTED) problems.push(p);
    count++;
  };
  const live = new Uint32Array(geo.segments);
  let mapped = 0;
  for (let lba = 0; lba < geo.blockCount; lba++) {
    const e = map.map[lba]!;
    if (e === 0) continue;
    mapped++;
    const pba = e - 1;
    if (pba >= geo.logBlocks) {
      problem(`lba ${lba}: maps to log block ${pba}, past the log's ${geo.logBlocks}`);
      continue;
    }
    if (map.rev[pba] !== lba + 1) problem(`lba ${lba}: log block ${pba} names lba ${map.rev[pba]! - 1} back`);
    const seg = geo.segmentOf(pba);
    live[seg]!++;
    const st = map.state[seg]!;
    if (st === SegmentState.Free || st === SegmentState.Draining)
      problem(`lba ${lba}: live in segment ${seg}, which is ${st === SegmentState.Free ? 'free' : 'draining'}`);
  }
  for (let pba = 0; pba < geo.logBlocks; pba++) {
    const o = map.rev[pba]!;
    if (o !== 0 && map.map[o - 1] !== pba + 1) problem(`log block ${pba}: names lba ${o - 1}, which maps elsewhere`);
  }
  for (let s = 0; s < geo.segments; s++) {
    if (live[s] !== map.live[s]) problem(`segment ${s}: live count ${map.live[s]}, the map says ${live[s]}`);
  }
  if (mapped !== map.mapped) problem(`mapped count ${map.mapped}, the map says ${mapped}`);
  let verified = 0;
  if (deep) {
    for (let lba = 0; lba < geo.blockCount; lba++) {
      const e = map.map[lba]!;
      if (e === 0 || e > geo.logBlocks) continue;
      if (reader.readUnit(e - 1, lba) < 0) problem(`lba ${lba}: log block ${e - 1} does not read back (DIF)`);
      verified++;
    }
  }
  return { ok: count === 0, mappedBlocks: mapped, blocksVerified: verified, problems, problemCount: count };
}
