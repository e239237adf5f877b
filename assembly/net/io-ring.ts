// Rings between the fast path and everything that is not a DPU core (the slow path, the VXLAN
// socket worker, the pcap writer), and from the slow path back. A ring region is a state region
// around one single-producer/single-consumer ring with the layout of src/dpu/core/spsc-ring.ts,
// so the TS end is an SpscRing at base + NET_RING_SPSC:
//
// Region 'NRNG' (layout 1):
//   +64  u32 capacity (records, a power of two)   +68 u32 recordBytes (a multiple of 64)
//   +72  i32 bell       the consumer's doorbell: the producer adds 1 and notifies, at most once a
//                       burst, after publishing (a core never waits on it; a worker may)
//   +80  u64 full       records the producer could not write because the ring was full
//   +128 i32 head       written by the producer only (its own cache line)
//   +192 i32 tail       written by the consumer only
//   +256 record[capacity]
//
// head and tail are free-running; (head - tail) is the fill level across i32 wrap. The producer
// writes a record with plain stores, then publishes it with one atomic store of head (per burst:
// all records of a burst, then one store); the consumer reads head atomically before the records
// and frees slots with an atomic store of tail when it is done with them.

import { headerOk } from '../common/header';
import { rangeOk } from '../flow/hash';

export const NET_RING_MAGIC: u32 = 0x474e524e; // 'NRNG'
export const NET_RING_LAYOUT: u32 = 1;
export const NET_RING_CAPACITY: u32 = 64;
export const NET_RING_RECORD_BYTES: u32 = 68;
export const NET_RING_BELL: u32 = 72;
export const NET_RING_FULL: u32 = 80;
export const NET_RING_SPSC: u32 = 128;
export const NET_RING_HEAD: u32 = 128;
export const NET_RING_TAIL: u32 = 192;
export const NET_RING_RECORDS: u32 = 256;

/** Bytes of a ring region for `capacity` records of `recordBytes`. */
export function ringBytes(capacity: u32, recordBytes: u32): u64 {
  return <u64>NET_RING_RECORDS + <u64>capacity * <u64>recordBytes;
}

/**
 * True when `ring` is a well-formed ring region: header, capacity a power of two, record size a
 * non-zero multiple of 64, and the records inside the region and memory. Checked once per burst
 * before a ring is touched; every record address then follows from (index & (capacity - 1)).
 */
export function ringOk(ring: usize): bool {
  if (
    ring == 0 ||
    !rangeOk(ring, NET_RING_RECORDS) ||
    !headerOk(ring, NET_RING_MAGIC, NET_RING_LAYOUT, NET_RING_RECORDS)
  )
    return false;
  const cap = load<u32>(ring, NET_RING_CAPACITY);
  const rb = load<u32>(ring, NET_RING_RECORD_BYTES);
  if (cap == 0 || (cap & (cap - 1)) != 0 || rb == 0 || (rb & 63) != 0) return false;
  const need = ringBytes(cap, rb);
  return need <= <u64>load<u32>(ring, 8) && rangeOk(ring, need);
}

/** Producer: the address of the next free record, or 0 when the ring is full (counted). */
@inline export function ringReserve(ring: usize, pending: u32): usize {
  const head = <u32>load<i32>(ring, NET_RING_HEAD) + pending;
  const tail = <u32>atomic.load<i32>(ring, NET_RING_TAIL);
  const cap = load<u32>(ring, NET_RING_CAPACITY);
  if (head - tail >= cap) {
    store<u64>(ring, load<u64>(ring, NET_RING_FULL) + 1, NET_RING_FULL);
    return 0;
  }
  return ring + NET_RING_RECORDS + <usize>(head & (cap - 1)) * <usize>load<u32>(ring, NET_RING_RECORD_BYTES);
}

/** Producer: publishes `count` reserved records with one store of head. */
@inline export function ringPublish(ring: usize, count: u32): void {
  if (count == 0) return;
  atomic.store<i32>(ring, load<i32>(ring, NET_RING_HEAD) + <i32>count, NET_RING_HEAD);
}

/** Producer: rings the consumer's bell (after ringPublish; once per burst at most). */
@inline export function ringBell(ring: usize): void {
  atomic.add<i32>(ring, 1, NET_RING_BELL);
  atomic.notify(ring + NET_RING_BELL, -1);
}

/** Consumer: records waiting. */
@inline export function ringAvailable(ring: usize): u32 {
  return <u32>atomic.load<i32>(ring, NET_RING_HEAD) - <u32>load<i32>(ring, NET_RING_TAIL);
}

/** Consumer: the address of the record `i` places after the tail (i < ringAvailable). */
@inline export function ringPeek(ring: usize, i: u32): usize {
  const tail = <u32>load<i32>(ring, NET_RING_TAIL) + i;
  const cap = load<u32>(ring, NET_RING_CAPACITY);
  return ring + NET_RING_RECORDS + <usize>(tail & (cap - 1)) * <usize>load<u32>(ring, NET_RING_RECORD_BYTES);
}

/** Consumer: frees `count` records with one store of tail. */
@inline export function ringRelease(ring: usize, count: u32): void {
  if (count == 0) return;
  atomic.store<i32>(ring, load<i32>(ring, NET_RING_TAIL) + <i32>count, NET_RING_TAIL);
}
