import type { BlockMap } from './block-map.js';
import type { BlockReader } from './block-reader.js';
import type { Geometry } from './geometry.js';
import { Journal, JournalOp } from './journal.js';

/** What reopening a volume found in its journal. */
export interface RecoveryReport {
  /** Checkpoint the map was loaded from. */
  checkpointSeq: number;
  /** Journal batches replayed. */
  journalBatches: number;
  /** Map records replayed. */
  journalRecords: number;
  /** Blocks of unsynced batches whose data did not check out on disk (not applied). */
  blocksDropped: number;
  /** Records naming blocks outside the volume or the log (not applied). */
  recordsRejected: number;
}

/**
 * Replays the journal of `epoch` over a map loaded from its checkpoint. Records are applied in
 * the order they were made. A batch written before its blocks were fdatasynced (a commit that
 * was not a FLUSH) may, after a power failure, name blocks that never reached the disk: each of
 * its blocks is read back and checked (guard and reference tag) before it is mapped. The journal
 * is untrusted input: records outside the volume or the log are refused, not applied.
 */
export function replayJournal(
  path: string,
  epoch: number,
  geo: Geometry,
  map: BlockMap,
  reader: BlockReader,
): Omit<RecoveryReport, 'checkpointSeq'> {
  let blocksDropped = 0;
  let recordsRejected = 0;
  const r = Journal.replay(path, epoch, (rec) => {
    if (rec.count === 0 || rec.lba + rec.count > geo.blockCount) {
      recordsRejected++;
      return;
    }
    if (rec.op === JournalOp.Trim) {
      for (let i = 0; i < rec.count; i++) map.unbind(rec.lba + i);
      return;
    }
    if (rec.op !== JournalOp.Map || rec.pba + rec.count > geo.logBlocks) {
      recordsRejected++;
      return;
    }
    for (let i = 0; i < rec.count; i++) {
      const lba = rec.lba + i;
      const pba = rec.pba + i;
      if (!rec.synced && reader.readUnit(pba, lba) < 0) {
        blocksDropped++;
        continue;
      }
      map.bind(lba, pba);
    }
  });
  return { journalBatches: r.batches, journalRecords: r.records, blocksDropped, recordsRejected };
}
