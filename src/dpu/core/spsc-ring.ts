import { RING_HEAD, RING_RECORDS, RING_TAIL } from '../../generated/common.js';

/**
 * Single-producer / single-consumer ring of fixed-size records in shared memory. Used for each
 * core's control mailbox (main → core) and event ring (core → main), and for I/O channels
 * (src/dpu/io/), whose kernel end is assembly/common/spsc-ring.ts: the same layout and ordering,
 * one set of RING_* offsets (src/generated/common.ts).
 *
 *   base +0    i32 head   written only by the producer (own cache line)
 *   base +64   i32 tail   written only by the consumer (own cache line)
 *   base +128  record[capacity], recordBytes each (capacity a power of two)
 *
 * head and tail are free-running counters; (head - tail) | 0 is the fill level, which stays
 * right across i32 wrap-around. Ordering: the producer writes a record with plain stores, then
 * publishes it with Atomics.store(head) (sequentially consistent, so it also releases the
 * record); the consumer reads head with Atomics.load before reading the record, and frees the
 * slot with Atomics.store(tail) after it is done with it.
 */

export class SpscRing {
  readonly headIdx: number;
  readonly tailIdx: number;
  private readonly recordsIdx: number;
  private readonly recordWords: number;
  private readonly mask: number;

  static bytes(capacity: number, recordBytes: number): number {
    return RING_RECORDS + capacity * recordBytes;
  }

  constructor(
    readonly i32: Int32Array,
    readonly base: number,
    readonly capacity: number,
    readonly recordBytes: number,
  ) {
    if ((capacity & (capacity - 1)) !== 0 || capacity <= 0 || recordBytes % 4 !== 0 || base % 64 !== 0) {
      throw new RangeError(
        `SpscRing: capacity ${capacity} must be a power of two, recordBytes ${recordBytes} a multiple of 4, base 0x${base.toString(16)} 64-aligned`,
      );
    }
    this.headIdx = (base + RING_HEAD) >> 2;
    this.tailIdx = (base + RING_TAIL) >> 2;
    this.recordsIdx = (base + RING_RECORDS) >> 2;
    this.recordWords = recordBytes >> 2;
    this.mask = capacity - 1;
  }

  /** Records waiting for the consumer. */
  size(): number {
    return (Atomics.load(this.i32, this.headIdx) - Atomics.load(this.i32, this.tailIdx)) | 0;
  }

  /**
   * Producer: writes one record through `write(wordIndex)` and publishes it. Returns false when
   * the ring is full (nothing written).
   */
  push(write: (wordIndex: number) => void): boolean {
    const head = this.i32[this.headIdx]!; // only this side writes head
    if (((head - Atomics.load(this.i32, this.tailIdx)) | 0) >= this.capacity) return false;
    write(this.recordsIdx + (head & this.mask) * this.recordWords);
    Atomics.store(this.i32, this.headIdx, (head + 1) | 0);
    return true;
  }

  /** Consumer: hands the oldest record to `read(wordIndex)` and frees it. False when empty. */
  pop(read: (wordIndex: number) => void): boolean {
    const tail = this.i32[this.tailIdx]!; // only this side writes tail
    if (Atomics.load(this.i32, this.headIdx) === tail) return false;
    read(this.recordsIdx + (tail & this.mask) * this.recordWords);
    Atomics.store(this.i32, this.tailIdx, (tail + 1) | 0);
    return true;
  }

  /**
   * Consumer: copies the oldest record's words into `into` (at least recordBytes / 4 long) and
   * frees it; false when empty. Allocates nothing, unlike pop with a closure.
   */
  popInto(into: Int32Array): boolean {
    const tail = this.i32[this.tailIdx]!; // only this side writes tail
    if (Atomics.load(this.i32, this.headIdx) === tail) return false;
    const from = this.recordsIdx + (tail & this.mask) * this.recordWords;
    for (let k = 0; k < this.recordWords; k++) into[k] = this.i32[from + k]!;
    Atomics.store(this.i32, this.tailIdx, (tail + 1) | 0);
    return true;
  }

  /** Consumer: true when a record is waiting. One atomic load: cheap enough for every poll. */
  hasData(): boolean {
    return Atomics.load(this.i32, this.headIdx) !== this.i32[this.tailIdx];
  }

  /** Empties the ring. Only while neither side is running. */
  reset(): void {
    Atomics.store(this.i32, this.headIdx, 0);
    Atomics.store(this.i32, this.tailIdx, 0);
  }
}
