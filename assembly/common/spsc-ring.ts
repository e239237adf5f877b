// Single-producer / single-consumer ring of fixed-size records in shared memory: the kernel's
// end of the same rings src/dpu/core/spsc-ring.ts drives from TypeScript (one layout, one
// ordering, these constants for both).
//
//   ring +0    i32 head   written only by the producer (own cache line)
//   ring +64   i32 tail   written only by the consumer (own cache line)
//   ring +128  record[capacity], recordBytes each (capacity a power of two)
//
// head and tail run free; head - tail (wrapping i32) is the fill level. The producer writes its
// records with plain stores, then publishes them with one atomic store of head (sequentially
// consistent, so it also releases them); the consumer loads head atomically before reading, and
// frees slots with one atomic store of tail once it is done with them. Whole bursts move with
// one store each way.

export const RING_HEAD: u32 = 0;
export const RING_TAIL: u32 = 64;
export const RING_RECORDS: u32 = 128;

/** Bytes of a ring of `capacity` records of `recordBytes`. */
@inline export function ringBytes(capacity: u32, recordBytes: u32): u32 {
  return RING_RECORDS + capacity * recordBytes;
}

/** Producer: records the consumer has not freed yet (the producer's own head, the consumer's tail). */
@inline export function ringFill(ring: usize): u32 {
  return <u32>(load<i32>(ring, RING_HEAD) - atomic.load<i32>(ring, RING_TAIL));
}

/** Producer: address of the k-th record after head (the caller checked there is room). */
@inline export function ringProduceAt(ring: usize, capacity: u32, recordBytes: u32, k: u32): usize {
  const slot = (<u32>load<i32>(ring, RING_HEAD) + k) & (capacity - 1);
  return ring + RING_RECORDS + <usize>slot * recordBytes;
}

/** Producer: makes the next `k` records visible to the consumer (one release store). */
@inline export function ringPublish(ring: usize, k: u32): void {
  atomic.store<i32>(ring, load<i32>(ring, RING_HEAD) + <i32>k, RING_HEAD);
}

/** Consumer: records published and not yet freed. */
@inline export function ringAvailable(ring: usize): u32 {
  return <u32>(atomic.load<i32>(ring, RING_HEAD) - load<i32>(ring, RING_TAIL));
}

/** Consumer: address of the k-th record after tail (the caller checked it is available). */
@inline export function ringConsumeAt(ring: usize, capacity: u32, recordBytes: u32, k: u32): usize {
  const slot = (<u32>load<i32>(ring, RING_TAIL) + k) & (capacity - 1);
  return ring + RING_RECORDS + <usize>slot * recordBytes;
}

/** Consumer: frees the next `k` records (one store, after the caller is done reading them). */
@inline export function ringRelease(ring: usize, k: u32): void {
  atomic.store<i32>(ring, load<i32>(ring, RING_TAIL) + <i32>k, RING_TAIL);
}
