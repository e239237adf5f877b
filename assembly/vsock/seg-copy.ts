// Copies between a packet's segment list and a connection's byte ring. A segment list is the
// burst buffer's form (assembly/virtio/segments.ts): each segment already translated and
// bounds-checked against guest RAM by the queue's pop (device side) or laid out by the driver in
// its own RAM (driver side). A packet's header and payload may be split over segments anywhere.
//
// Rings are power-of-two byte arrays indexed by free-running u32 counters: byte k lives at
// ring[k & (size - 1)]; a copy that crosses the end continues at the start.

import { segGather, segScatter } from '../virtio/segments';

/** Copies `len` bytes from the segments (offset `skip`) into a ring at free-running index `pos`. */
export function segsToRing(ring: usize, ringBytes: u32, pos: u32, segs: usize, nsegs: u32, skip: u32, len: u32): void {
  const mask = ringBytes - 1;
  while (len != 0) {
    const at = pos & mask;
    let take = ringBytes - at;
    if (take > len) take = len;
    segGather(segs, nsegs, skip, ring + at, take);
    skip += take;
    pos += take;
    len -= take;
  }
}

/**
 * Copies `len` bytes from a ring at free-running index `pos` into the segments at offset `skip`,
 * through the guest-write path of `map` (0 on the driver side: its own buffers).
 */
export function ringToSegs(
  map: usize,
  segs: usize,
  nsegs: u32,
  skip: u32,
  ring: usize,
  ringBytes: u32,
  pos: u32,
  len: u32,
): void {
  const mask = ringBytes - 1;
  while (len != 0) {
    const at = pos & mask;
    let take = ringBytes - at;
    if (take > len) take = len;
    segScatter(map, segs, nsegs, skip, ring + at, take);
    skip += take;
    pos += take;
    len -= take;
  }
}
