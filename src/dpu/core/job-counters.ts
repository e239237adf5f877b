import { MAX_JOBS_PER_CORE } from './core-protocol.js';

/**
 * Out-of-band per-job counters of one core: what each job did and what share of the core it got,
 * read by any thread without messaging the core. Double-buffered like the core's own counters
 * (core-counters.ts): the core writes the block that is not live, then publishes it with one
 * store of the version; a reader never waits.
 *
 *   +0   u32 version                        bumped by the core after each flush
 *   +8   block 0: u32 count, u32 reserved, then slot[MAX_JOBS_PER_CORE]
 *   +8 + JOB_BLOCK_BYTES   block 1: the same
 *
 * Slot, JOB_SLOT_BYTES (the core's jobs in attach order; a reader matches them by id):
 *
 *   +0  i32 jobId     +4  i32 weight
 *   +8  u64 work      work units charged (the job's work counter, or one quantum per busy call)
 *   +16 u64 items     what its entry returned, summed
 *   +24 u64 turns     calls that did work
 *   +32 u64 deferred  passes it sat out because it had used its share of the round
 *   +40 u64 busyNs    time inside calls that did work (cores started with `trace` only, else 0)
 *   +48 u64 maxTurnNs the longest single call (`trace` only)
 *   +56 u64 maxTurnWork  the most work units a single call did: what one turn of this job can
 *                    hold the core for, in the job's own units (its turn budget bounds it)
 */
export const JOB_COUNTER_NAMES = ['work', 'items', 'turns', 'deferred', 'busyNs', 'maxTurnNs', 'maxTurnWork'] as const;
/** The name of one per-job counter. */
export type JobCounterName = (typeof JOB_COUNTER_NAMES)[number];

/** One job's counters as read out of band. */
export type JobCounters = { jobId: number; weight: number } & Record<JobCounterName, number>;

export const JOB_SLOT_BYTES = 64;
if (8 + 8 * JOB_COUNTER_NAMES.length > JOB_SLOT_BYTES) throw new Error('job-counters: a slot cannot hold the counters');
export const JOB_BLOCK_BYTES = 8 + MAX_JOBS_PER_CORE * JOB_SLOT_BYTES;
export const JOB_COUNTERS_BYTES = 8 + 2 * JOB_BLOCK_BYTES;

/**
 * The core's per-job numbers, one Float64Array per job: the counters above in JOB_COUNTER_NAMES
 * order, then the fair-share state. Typed-array slots, so updating them in the reactor's loop
 * allocates nothing.
 */
export const JS_WORK = 0;
export const JS_ITEMS = 1;
export const JS_TURNS = 2;
export const JS_DEFERRED = 3;
export const JS_BUSY_NS = 4;
export const JS_MAX_TURN_NS = 5;
export const JS_MAX_TURN_WORK = 6;
/** Work units the job may still do in this round (deficit round robin; fair-share.ts). */
export const JS_DEFICIT = 7;
/** Low 32 bits of the job's work counter when last read. */
export const JS_LAST_WORK = 8;
/** 1 when its last call did work (it is backlogged), 0 when it found nothing to do. */
export const JS_ACTIVE = 9;
export const JS_LENGTH = 10;

const TWO32 = 2 ** 32;

/** What the writer needs of a job. */
export interface CountedJob {
  id: number;
  weight: number;
  stats: Float64Array;
}

/** Core side: writes the jobs' numbers into the inactive block and publishes it. */
export class JobCounterWriter {
  private readonly versionIdx: number;
  private version: number;

  constructor(
    private readonly i32: Int32Array,
    base: number,
  ) {
    this.versionIdx = base >> 2;
    this.version = Atomics.load(i32, this.versionIdx);
  }

  flush(jobs: readonly CountedJob[]): void {
    const i32 = this.i32;
    const next = (this.version + 1) | 0;
    const block = this.versionIdx + 2 + (next & 1) * (JOB_BLOCK_BYTES >> 2);
    i32[block] = jobs.length;
    let w = block + 2;
    for (let j = 0; j < jobs.length; j++, w += JOB_SLOT_BYTES >> 2) {
      const job = jobs[j]!;
      const s = job.stats;
      i32[w] = job.id;
      i32[w + 1] = job.weight;
      for (let k = 0; k < JOB_COUNTER_NAMES.length; k++) {
        const x = s[k]!;
        i32[w + 2 + 2 * k] = (x % TWO32) | 0;
        i32[w + 3 + 2 * k] = (x / TWO32) | 0;
      }
    }
    Atomics.store(i32, this.versionIdx, next); // publishes the block just written
    this.version = next;
  }
}

/** Any thread: a consistent snapshot of the live block. Retries only if a flush completed during the read. */
export function readJobCounters(i32: Int32Array, base: number): JobCounters[] {
  const versionIdx = base >> 2;
  for (;;) {
    const v1 = Atomics.load(i32, versionIdx);
    const block = versionIdx + 2 + (v1 & 1) * (JOB_BLOCK_BYTES >> 2);
    const count = Math.min(Math.max(i32[block]!, 0), MAX_JOBS_PER_CORE);
    const out: JobCounters[] = [];
    let w = block + 2;
    for (let j = 0; j < count; j++, w += JOB_SLOT_BYTES >> 2) {
      const c = { jobId: i32[w]!, weight: i32[w + 1]! } as JobCounters;
      JOB_COUNTER_NAMES.forEach((name, k) => {
        c[name] = (i32[w + 2 + 2 * k]! >>> 0) + (i32[w + 3 + 2 * k]! >>> 0) * TWO32;
      });
      out.push(c);
    }
    if (Atomics.load(i32, versionIdx) === v1) return out;
  }
}
