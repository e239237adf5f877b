import { Worker } from 'node:worker_threads';
import { distFile } from '../../../common/package-paths.js';
import type { HostMemoryApi, Region } from '../../../common/host-memory-api.js';
import type { DiskIoOption } from './disk-io.js';
import type { DiskSet } from './disk-set.js';
import type { ReedSolomon } from '../../ec/reed-solomon.js';
import type { Geometry, GeometryParams } from './geometry.js';
import {
  claimJob,
  DISK_STATE_CODES,
  F_BUFFER,
  F_FAILED,
  F_R0,
  F_ROWS,
  F_SEQ,
  F_STATE,
  F_STRIPE,
  F_UNITS,
  JOB_RING_BYTES,
  JOB_SLOTS,
  JobState,
  runJob,
  slotWord,
  W_ALIVE,
  W_DONE,
  W_GEN,
  W_POSTED,
  W_STATES,
  W_STOP,
  RowWriter,
} from './stripe-jobs.js';
import type { DiskState } from './volume-config.js';

/** Where a volume encodes and writes its full stripes: a thread of its own, or inline. */
export type StripeWriterChoice = 'thread' | 'inline';
/** Every StripeWriterChoice, for validation. */
export const STRIPE_WRITER_CHOICES = ['thread', 'inline'] as const satisfies readonly StripeWriterChoice[];

/** What the stripe writer thread is started with. */
export interface StripeWriterInit {
  memory: WebAssembly.Memory;
  ring: SharedArrayBuffer;
  arenaBase: number;
  arenaBytes: number;
  /** The region holding the stripe buffers, lent to the thread (its coder reads and writes them). */
  buffers: Region;
  geometry: GeometryParams;
  dir: string;
  files: string[];
  maxFileBytes: number;
  diskIo: DiskIoOption;
}

/** Host memory the writer thread's erasure coder (kernel image, tables, state) lives in. */
export const WRITER_ARENA_BYTES = 512 << 10;

const OWNER = 'volume';

/**
 * The owner's side of a volume's stripe writer: a worker thread that encodes the parity of
 * full stripes and writes them to the disk files while the owner goes on placing blocks into
 * the next stripe buffer (the log head keeps a few buffers; a stripe handed over stays readable
 * from its buffer until the buffer is reused). The owner waits for a job only when it needs
 * its buffer back, or drains them all before anything that must find the rows on disk (a
 * journal batch, an fdatasync, a scrub or rebuild step, a change of disk files); while it
 * waits it runs queued jobs itself (stripe-jobs.ts).
 */
export class StripeWriter {
  private readonly w: Int32Array;
  private readonly worker: Worker;
  private readonly arena: Region;
  private posted = 0;
  private reaped = 0;
  private readonly onDone: (((units: number) => void) | null)[] = Array.from({ length: JOB_SLOTS }, () => null);
  private closed = false;
  private readonly own: RowWriter;
  /** Jobs run by the owner itself (it needed them done and the thread had not taken them). */
  ranInline = 0;
  /** Jobs posted. */
  get jobsPosted(): number {
    return this.posted;
  }

  constructor(
    geometry: Geometry,
    private readonly memory: HostMemoryApi,
    dir: string,
    files: readonly string[],
    states: readonly DiskState[],
    maxFileBytes: number,
    diskIo: DiskIoOption,
    buffers: Region,
    /** The owner's disks and coder, for the jobs it runs itself. */
    private readonly disks: DiskSet,
    rs: ReedSolomon,
  ) {
    this.own = new RowWriter(geometry, memory.u8, disks, rs);
    const ring = new SharedArrayBuffer(JOB_RING_BYTES);
    this.w = new Int32Array(ring);
    this.setStates(states);
    this.arena = memory.alloc({
      name: `stripe writer ${dir}`,
      owner: OWNER,
      kind: 'core-scratch',
      sizeBytes: WRITER_ARENA_BYTES,
    });
    const init: StripeWriterInit = {
      memory: memory.memory,
      ring,
      arenaBase: this.arena.base,
      arenaBytes: this.arena.sizeBytes,
      buffers: { ...buffers },
      geometry: {
        blockCount: geometry.blockCount,
        dataDisks: geometry.dataDisks,
        parityDisks: geometry.parityDisks,
        chunkBlocks: geometry.chunkBlocks,
        stripesPerSegment: geometry.stripesPerSegment,
        segments: geometry.segments,
      },
      dir,
      files: [...files],
      maxFileBytes,
      diskIo,
    };
    this.worker = new Worker(distFile('src/dpu/blk/volume/stripe-writer-worker.js'), {
      workerData: init,
      name: 'stripe writer',
    });
    // The owner never depends on the thread (it runs jobs itself when it must): an error in it
    // leaves the volume working on one thread.
    this.worker.on('error', () => undefined);
    this.worker.unref();
  }

  /** The thread is running jobs (false while it starts, and if it failed: the owner runs them then). */
  get threadAlive(): boolean {
    return Atomics.load(this.w, W_ALIVE) === 1;
  }

  /** Hands rows [r0, rows) of stripe g, buffered at `buffer`, to the writer; the job's seq. */
  post(g: number, buffer: number, r0: number, rows: number, done: (units: number) => void): number {
    while (this.posted - this.reaped >= JOB_SLOTS) this.waitFor(this.reaped);
    const w = this.w;
    const seq = this.posted;
    Atomics.store(w, slotWord(seq, F_SEQ), seq);
    Atomics.store(w, slotWord(seq, F_STRIPE), g);
    Atomics.store(w, slotWord(seq, F_BUFFER), buffer | 0);
    Atomics.store(w, slotWord(seq, F_R0), r0);
    Atomics.store(w, slotWord(seq, F_ROWS), rows);
    Atomics.store(w, slotWord(seq, F_STATE), JobState.Posted);
    this.onDone[seq & (JOB_SLOTS - 1)] = done;
    this.posted = (seq + 1) | 0;
    Atomics.store(w, W_POSTED, this.posted);
    Atomics.notify(w, W_POSTED, 1);
    return seq;
  }

  /** Returns once job `seq` is done, running queued jobs meanwhile. */
  waitFor(seq: number): void {
    const w = this.w;
    while (((seq - this.reaped) | 0) >= 0) {
      const state = Atomics.load(w, slotWord(this.reaped, F_STATE));
      if (state === JobState.Done) {
        this.reap();
        continue;
      }
      if (state === JobState.Orphaned) {
        runJob(w, this.reaped, this.own);
        this.ranInline++;
        continue;
      }
      const c = claimJob(w);
      if (c >= 0) {
        runJob(w, c, this.own);
        this.ranInline++;
        continue;
      }
      // Every job left is being run by the thread: sleep until one finishes.
      const done = Atomics.load(w, W_DONE);
      if (Atomics.load(w, slotWord(this.reaped, F_STATE)) !== JobState.Done) Atomics.wait(w, W_DONE, done, 20);
    }
  }

  /** Every job posted is done (rows on disk). */
  drain(): void {
    if (this.posted !== this.reaped) this.waitFor((this.posted - 1) | 0);
  }

  /** Drains, then has the thread reopen the disk files in their new states before its next job. */
  disksChanged(states: readonly DiskState[]): void {
    this.drain();
    this.setStates(states);
    Atomics.add(this.w, W_GEN, 1);
  }

  /** Drains and stops the thread; its arena is freed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.drain();
    Atomics.store(this.w, W_STOP, 1);
    Atomics.notify(this.w, W_POSTED);
    // The thread leaves its loop within one wait; it runs no job after stop and touches no
    // memory of the arena once its loop is left.
    void this.worker.terminate().finally(() => {
      try {
        this.memory.free(this.arena, OWNER);
      } catch {
        // the host memory itself was closed first: nothing left to give back
      }
    });
  }

  private reap(): void {
    const w = this.w;
    const seq = this.reaped;
    const failed = Atomics.load(w, slotWord(seq, F_FAILED));
    const units = Atomics.load(w, slotWord(seq, F_UNITS));
    Atomics.store(w, slotWord(seq, F_STATE), JobState.Empty);
    const cb = this.onDone[seq & (JOB_SLOTS - 1)];
    this.onDone[seq & (JOB_SLOTS - 1)] = null;
    this.reaped = (seq + 1) | 0;
    for (let d = 0; failed !== 0 && d < 32; d++) if ((failed & (1 << d)) !== 0) this.disks.markFailed(d);
    cb?.(units);
  }

  private setStates(states: readonly DiskState[]): void {
    states.forEach((s, d) => Atomics.store(this.w, W_STATES + d, DISK_STATE_CODES.indexOf(s)));
  }
}
