import type { ReedSolomon } from '../../ec/reed-solomon.js';
import type { DiskSet } from './disk-set.js';
import { UNIT_BYTES, type Geometry } from './geometry.js';

/**
 * The queue of stripe writes a volume hands to its stripe writer thread, in a SharedArrayBuffer
 * both threads see. A job is "encode the parity of rows [r0, rows) of the stripe buffered at
 * `buffer` (n columns of chunkBytes) and write every shard's rows to its disk". Either thread
 * runs a job: each claims the next one with a compare-and-swap on the claim cursor, so that the
 * owner, when it must wait for a buffer or a drain, does queued work itself instead of sleeping
 * (and everything still works, only slower, if the writer thread is starved of CPU or absent).
 *
 *   words: +0 posted (jobs posted, owner)  +1 claimed (jobs claimed)  +2 done (jobs finished)
 *          +3 disk generation (bumped by the owner, drained, when disk files change)  +4 stop
 *          +5 alive (1 the writer thread started, 2 it failed and left)  +8..+8+32 disk states of the generation
 *   slot (16 of them, job seq & 15), 8 words: seq, state, stripe, buffer, r0, rows, failed mask, units
 */
export const JOB_SLOTS = 16;
export const W_POSTED = 0;
export const W_CLAIMED = 1;
export const W_DONE = 2;
export const W_GEN = 3;
export const W_STOP = 4;
export const W_ALIVE = 5;
export const W_STATES = 8;
const SLOT_BASE = 64;
const SLOT_WORDS = 8;
export const JOB_RING_BYTES = (SLOT_BASE + JOB_SLOTS * SLOT_WORDS) * 4;

/** Orphaned: the thread that claimed it failed before finishing; the owner runs it. */
export const JobState = { Empty: 0, Posted: 1, Claimed: 2, Done: 3, Orphaned: 4 } as const;

/** Disk states as the ring carries them. */
export const DISK_STATE_CODES = ['ok', 'lost', 'rebuilding'] as const;

/** Word index of field `f` of job slot `seq`. */
export function slotWord(seq: number, f: number): number {
  return SLOT_BASE + (seq & (JOB_SLOTS - 1)) * SLOT_WORDS + f;
}
export const F_SEQ = 0;
export const F_STATE = 1;
export const F_STRIPE = 2;
export const F_BUFFER = 3;
export const F_R0 = 4;
export const F_ROWS = 5;
export const F_FAILED = 6;
export const F_UNITS = 7;

/** Claims the next posted job; its seq, or -1 when none is waiting. */
export function claimJob(w: Int32Array): number {
  for (;;) {
    const c = Atomics.load(w, W_CLAIMED);
    if (c === Atomics.load(w, W_POSTED)) return -1;
    if (Atomics.compareExchange(w, W_CLAIMED, c, (c + 1) | 0) === c) return c;
  }
}

/** Runs claimed job `seq` with this thread's disks and coder, then publishes it as done. */
export function runJob(w: Int32Array, seq: number, writer: RowWriter): void {
  const r = writer.write(
    Atomics.load(w, slotWord(seq, F_STRIPE)),
    Atomics.load(w, slotWord(seq, F_BUFFER)) >>> 0,
    Atomics.load(w, slotWord(seq, F_R0)),
    Atomics.load(w, slotWord(seq, F_ROWS)),
  );
  Atomics.store(w, slotWord(seq, F_FAILED), r.failed | 0);
  Atomics.store(w, slotWord(seq, F_UNITS), r.units);
  Atomics.store(w, slotWord(seq, F_STATE), JobState.Done);
  Atomics.add(w, W_DONE, 1);
  Atomics.notify(w, W_DONE);
}

/**
 * Encodes and writes rows of a buffered stripe (the part of a log head's flush that touches
 * the disks). One per thread: it holds that thread's disk files and erasure coder.
 */
export class RowWriter {
  private readonly data: number[];
  private readonly parity: number[];
  private readonly result = { failed: 0, units: 0 };

  constructor(
    private readonly geo: Geometry,
    private readonly u8: Uint8Array,
    public disks: DiskSet,
    private readonly rs: ReedSolomon,
  ) {
    this.data = new Array<number>(geo.dataDisks).fill(0);
    this.parity = new Array<number>(geo.parityDisks).fill(0);
  }

  /**
   * Rows [r0, rows) of stripe g, buffered at `buffer`: parity encoded, each shard written to
   * its disk (disks out of service skipped). `failed`: disks whose write failed (they are taken
   * out of this thread's set); `units`: units written.
   */
  write(g: number, buffer: number, r0: number, rows: number): { failed: number; units: number } {
    const { geo, disks } = this;
    const k = geo.dataDisks;
    const off = r0 * UNIT_BYTES;
    const len = (rows - r0) * UNIT_BYTES;
    for (let s = 0; s < geo.disks; s++) {
      const a = buffer + s * geo.chunkBytes + off;
      if (s < k) this.data[s] = a;
      else this.parity[s - k] = a;
    }
    this.rs.encodeAt(this.data, this.parity, len);
    const pos = geo.rowOffset(g, r0);
    let failed = 0;
    let units = 0;
    for (let s = 0; s < geo.disks; s++) {
      const d = geo.diskOf(g, s);
      if (!disks.present(d)) continue;
      if (disks.write(d, this.u8, buffer + s * geo.chunkBytes + off, len, pos)) units += rows - r0;
      else failed |= 1 << d;
    }
    this.result.failed = failed;
    this.result.units = units;
    return this.result;
  }
}
