import { closeSync, constants, fdatasyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { crc32 } from './crc32.js';

/**
 * The map journal: every change of the LBA -> log map since the last checkpoint, appended in
 * batches. A batch is written only after the log rows its records point at are written, so a
 * record never names a block that is not on disk; a FLUSH also fdatasyncs the disks before the
 * batch and the journal after it.
 *
 *   batch  +0 u32 magic 'QTJB'  +4 u32 epoch  +8 u32 seq (0, 1, ... within the epoch)
 *          +12 u32 records  +16 u32 flags (1: the disks were synced before this batch)
 *          +20 u32 crc32(records)  +24 u32 0  +28 u32 crc32(bytes 0..27)
 *          then records of 16 bytes: u32 op (1 map, 2 trim), u32 lba, u32 pba, u32 count
 *
 * A map record maps lba.. lba+count-1 to pba.. pba+count-1; a trim record unmaps count blocks.
 * Each checkpoint starts a new epoch and empties the file; replay takes the batches of the
 * checkpoint's epoch in sequence and stops at the first that is torn, stale or of another epoch.
 */
export const JOURNAL_MAGIC = 0x424a5451; // 'QTJB'
export const JournalOp = { Map: 1, Trim: 2 } as const;
export const BATCH_SYNCED = 1;
const HEADER_BYTES = 32;
const RECORD_WORDS = 4;
const RECORD_BYTES = 16;
/** Records a batch holds at most (the volume commits when a batch fills). */
export const BATCH_RECORDS = 16384;

export interface ReplayRecord {
  op: number;
  lba: number;
  pba: number;
  count: number;
  /** The batch was written after the disks were synced (its blocks are durable). */
  synced: boolean;
}

export class Journal {
  private readonly fd: number;
  epoch = 0;
  private seq = 0;
  /** Bytes written in this epoch. */
  offset = 0;
  private readonly pending = new Uint32Array(BATCH_RECORDS * RECORD_WORDS);
  private count = 0;
  private readonly out = Buffer.alloc(HEADER_BYTES + BATCH_RECORDS * RECORD_BYTES);
  /** Records and batches written (statistics). */
  recordsWritten = 0;
  batchesWritten = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  }

  get pendingRecords(): number {
    return this.count;
  }

  /** A batch is full: the owner must write its rows and commit before appending more. */
  get full(): boolean {
    return this.count >= BATCH_RECORDS;
  }

  /** Records lba -> pba, extending the previous record when both runs continue. */
  appendMap(lba: number, pba: number): void {
    const p = this.pending;
    if (this.count > 0) {
      const w = (this.count - 1) * RECORD_WORDS;
      const n = p[w + 3]!;
      if (p[w] === JournalOp.Map && p[w + 1]! + n === lba && p[w + 2]! + n === pba) {
        p[w + 3] = n + 1;
        return;
      }
    }
    this.push(JournalOp.Map, lba, pba, 1);
  }

  /** Records that count blocks from lba were unmapped. */
  appendTrim(lba: number, count: number): void {
    const p = this.pending;
    if (this.count > 0) {
      const w = (this.count - 1) * RECORD_WORDS;
      if (p[w] === JournalOp.Trim && p[w + 1]! + p[w + 3]! === lba) {
        p[w + 3] = p[w + 3]! + count;
        return;
      }
    }
    this.push(JournalOp.Trim, lba, 0, count);
  }

  /** Writes the pending records as one batch; `synced` says the disks were fdatasynced first. */
  commit(synced: boolean): void {
    if (this.count === 0) return;
    const out = this.out;
    const body = this.count * RECORD_BYTES;
    const recs = new Uint8Array(this.pending.buffer, 0, body);
    out.set(recs, HEADER_BYTES);
    out.writeUInt32LE(JOURNAL_MAGIC, 0);
    out.writeUInt32LE(this.epoch >>> 0, 4);
    out.writeUInt32LE(this.seq >>> 0, 8);
    out.writeUInt32LE(this.count, 12);
    out.writeUInt32LE(synced ? BATCH_SYNCED : 0, 16);
    out.writeUInt32LE(crc32(recs), 20);
    out.writeUInt32LE(0, 24);
    out.writeUInt32LE(crc32(out.subarray(0, 28)), 28);
    const len = HEADER_BYTES + body;
    let done = 0;
    while (done < len) done += writeSync(this.fd, out, done, len - done, this.offset + done);
    this.offset += len;
    this.seq++;
    this.recordsWritten += this.count;
    this.batchesWritten++;
    this.count = 0;
  }

  sync(): void {
    fdatasyncSync(this.fd);
  }

  /** Starts `epoch`: the file is emptied (a checkpoint now holds everything it said). */
  reset(epoch: number): void {
    ftruncateSync(this.fd, 0);
    this.epoch = epoch;
    this.seq = 0;
    this.offset = 0;
    this.count = 0;
  }

  close(): void {
    closeSync(this.fd);
  }

  /**
   * Reads the batches of `epoch` in order and hands their records to `apply`. Returns where the
   * valid part ends, in bytes, and how many batches and records it held.
   */
  static replay(
    path: string,
    epoch: number,
    apply: (r: ReplayRecord) => void,
  ): { endOffset: number; batches: number; records: number } {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      return { endOffset: 0, batches: 0, records: 0 };
    }
    let off = 0;
    let seq = 0;
    let records = 0;
    const rec: ReplayRecord = { op: 0, lba: 0, pba: 0, count: 0, synced: false };
    while (off + HEADER_BYTES <= bytes.length) {
      if (bytes.readUInt32LE(off) !== JOURNAL_MAGIC) break;
      if (bytes.readUInt32LE(off + 28) !== crc32(bytes.subarray(off, off + 28))) break;
      if (bytes.readUInt32LE(off + 4) !== epoch >>> 0 || bytes.readUInt32LE(off + 8) !== seq) break;
      const n = bytes.readUInt32LE(off + 12);
      if (n === 0 || n > BATCH_RECORDS) break;
      const body = bytes.subarray(off + HEADER_BYTES, off + HEADER_BYTES + n * RECORD_BYTES);
      if (body.length !== n * RECORD_BYTES || crc32(body) !== bytes.readUInt32LE(off + 20)) break;
      rec.synced = (bytes.readUInt32LE(off + 16) & BATCH_SYNCED) !== 0;
      for (let i = 0; i < n; i++) {
        rec.op = body.readUInt32LE(i * RECORD_BYTES);
        rec.lba = body.readUInt32LE(i * RECORD_BYTES + 4);
        rec.pba = body.readUInt32LE(i * RECORD_BYTES + 8);
        rec.count = body.readUInt32LE(i * RECORD_BYTES + 12);
        apply(rec);
      }
      records += n;
      seq++;
      off += HEADER_BYTES + n * RECORD_BYTES;
    }
    return { endOffset: off, batches: seq, records };
  }

  private push(op: number, lba: number, pba: number, count: number): void {
    const w = this.count * RECORD_WORDS;
    const p = this.pending;
    p[w] = op;
    p[w + 1] = lba;
    p[w + 2] = pba;
    p[w + 3] = count;
    this.count++;
  }
}
