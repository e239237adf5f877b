/**
 * Out-of-band per-core counters: 64-bit values in shared memory, written only by the core and
 * read by anyone without messaging it.
 *
 *   +0  u32 seq            odd while the core is writing
 *   +8  (u32 lo, u32 hi) × COUNTER_NAMES.length
 *
 * A seqlock: the writer bumps seq to odd, stores the words, bumps seq to even; a reader takes
 * seq, the words, seq again and retries if the two differ or are odd. 32-bit plain accesses are
 * tear-free in the JS memory model (BigInt64 and Float64 ones are not), so each half is read
 * whole and the seq check makes the pair consistent.
 */
export const COUNTER_NAMES = ['passes', 'bursts', 'items', 'idlePolls', 'sleeps', 'wakeups', 'errors', 'commands', 'eventsDropped'] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type CoreCounters = Record<CounterName, number>;
export const COUNTER_BLOCK_BYTES = 8 + 8 * COUNTER_NAMES.length;

const TWO32 = 2 ** 32;

/** Core side. Keeps the values as JS numbers (exact to 2^53) and flushes them on demand. */
export class CounterWriter {
  readonly values: Float64Array;
  private readonly seqIdx: number;

  constructor(
    private readonly i32: Int32Array,
    base: number,
  ) {
    this.seqIdx = base >> 2;
    const current = readCounters(i32, base);
    this.values = new Float64Array(COUNTER_NAMES.map((n) => current[n]));
  }

  flush(): void {
    const i32 = this.i32;
    const v = this.values;
    Atomics.add(i32, this.seqIdx, 1);
    let w = this.seqIdx + 2;
    for (let i = 0; i < v.length; i++, w += 2) {
      const x = v[i]!;
      i32[w] = x % TWO32 | 0;
      i32[w + 1] = (x / TWO32) | 0;
    }
    Atomics.add(i32, this.seqIdx, 1);
  }
}

/** Any thread: a consistent snapshot (bounded retries; a writer's critical section is ~10 stores). */
export function readCounters(i32: Int32Array, base: number): CoreCounters {
  const seqIdx = base >> 2;
  const out = {} as CoreCounters;
  for (let attempt = 0; attempt < 10000; attempt++) {
    const s1 = Atomics.load(i32, seqIdx);
    if (s1 & 1) continue;
    let w = seqIdx + 2;
    for (const name of COUNTER_NAMES) {
      out[name] = (i32[w]! >>> 0) + (i32[w + 1]! >>> 0) * TWO32;
      w += 2;
    }
    if (Atomics.load(i32, seqIdx) === s1) return out;
  }
  return out;
}
