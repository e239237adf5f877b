/**
 * Out-of-band per-core counters: 64-bit values in shared memory, written only by the core and
 * read by anyone without messaging it.
 *
 *   +0   u32 version                                 bumped by the writer after each flush
 *   +8   block 0: (u32 lo, u32 hi) × COUNTER_NAMES.length
 *   +8 + B  block 1: the same
 *
 * Double-buffered: the live block is `version & 1`. A flush writes every value into the *other*
 * block, then publishes it with one atomic store of version + 1. A reader takes version, reads
 * the live block, and takes version again: if it did not change, the block was not being
 * written (the writer only ever writes the block that is not live). So a reader never waits
 * for the writer — not even when the core's thread is preempted in the middle of a flush, which
 * on a busy machine can last a whole scheduler quantum (a plain seqlock would spin that long).
 * 32-bit plain accesses are tear-free in the JS memory model, so each half is read whole.
 */
/** One core's counters since its start, read out of band (`DpuCore.counters()`); each up to 2^53. */
export interface CoreCounters {
  /** Reactor loop passes (each drains the mailbox, then polls every job once). */
  passes: number;
  /** Job entry calls that handled at least one item. */
  bursts: number;
  /** Items handled, the sum of the job entries' results. */
  items: number;
  /** Passes in which no job handled anything. */
  idlePolls: number;
  /** Times the core went to sleep on its doorbell (interrupt and adaptive modes). */
  sleeps: number;
  /** Sleeps ended by a doorbell rather than by the wait's timeout. */
  wakeups: number;
  /** Jobs failed: a trap, or a negative status from their entry or arm function. */
  errors: number;
  /** Control commands executed (attach, detach, quiesce, load, swap, ...). */
  commands: number;
  /** Events (acks, job failures) lost because the event ring was full. */
  eventsDropped: number;
}

/** The name of one counter. */
export type CounterName = keyof CoreCounters;

/** The counters in block order: the layout below depends on it. */
export const COUNTER_NAMES = [
  'passes',
  'bursts',
  'items',
  'idlePolls',
  'sleeps',
  'wakeups',
  'errors',
  'commands',
  'eventsDropped',
] as const satisfies readonly CounterName[];
// Every counter has a slot: a name added to CoreCounters and not here fails to compile.
const _everyCounter: Exclude<CounterName, (typeof COUNTER_NAMES)[number]> extends never ? true : never = true;
void _everyCounter;
const BLOCK_WORDS = 2 * COUNTER_NAMES.length;
export const COUNTER_BLOCK_BYTES = 8 + 2 * 4 * BLOCK_WORDS;

const TWO32 = 2 ** 32;

/** Core side. Keeps the values as JS numbers (exact to 2^53) and flushes them on demand. */
export class CounterWriter {
  readonly values: Float64Array;
  private readonly versionIdx: number;
  private version: number;

  constructor(
    private readonly i32: Int32Array,
    base: number,
  ) {
    this.versionIdx = base >> 2;
    this.version = Atomics.load(i32, this.versionIdx);
    const current = readCounters(i32, base);
    this.values = new Float64Array(COUNTER_NAMES.map((n) => current[n]));
  }

  flush(): void {
    const i32 = this.i32;
    const v = this.values;
    const next = (this.version + 1) | 0;
    let w = this.versionIdx + 2 + (next & 1) * BLOCK_WORDS;
    for (let i = 0; i < v.length; i++, w += 2) {
      const x = v[i]!;
      i32[w] = (x % TWO32) | 0;
      i32[w + 1] = (x / TWO32) | 0;
    }
    Atomics.store(i32, this.versionIdx, next); // publishes the block just written
    this.version = next;
  }
}

/** Any thread: a consistent snapshot of the live block. Retries only if a flush completed during the read. */
export function readCounters(i32: Int32Array, base: number): CoreCounters {
  const versionIdx = base >> 2;
  const out = {} as CoreCounters;
  for (;;) {
    const v1 = Atomics.load(i32, versionIdx);
    let w = versionIdx + 2 + (v1 & 1) * BLOCK_WORDS;
    for (const name of COUNTER_NAMES) {
      out[name] = (i32[w]! >>> 0) + (i32[w + 1]! >>> 0) * TWO32;
      w += 2;
    }
    if (Atomics.load(i32, versionIdx) === v1) return out;
  }
}
