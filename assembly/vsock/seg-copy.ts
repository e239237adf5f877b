// Copies between a packet's segment list and a connection's byte ring. A segment list is the
// burst buffer's form: records of { u32 hostAddr, u32 len }, each segment already translated
// and bounds-checked against guest RAM by the queue's pop (device side) or laid out by the
// driver in its own RAM (driver side). A packet's header and payload may be split over
// segments anywhere (virtio 1.x makes no framing assumptions, §2.7.4), so every copy walks them.
//
// Rings are power-of-two byte arrays indexed by free-running u32 counters: byte k lives at
// ring[k & (size - 1)]; a copy that crosses the end continues at the start.

const SEG: usize = 8;

/**
 * The one place the vsock code writes bytes into a peer's buffers: guest RAM on the device side
 * (RX packets), the driver's own buffers on the driver side.
 */
@inline function writeOut(dst: usize, src: usize, len: usize): void {
  memory.copy(dst, src, len);
}

/**
 * Copies `len` bytes from segment offset `skip` (over the concatenated segments) to `dst`.
 * The caller checked that skip + len <= the segments' total length.
 */
export function gather(dst: usize, segs: usize, nsegs: u32, skip: u32, len: u32): void {
  let i: u32 = 0;
  let off = skip;
  while (len != 0 && i < nsegs) {
    const s = segs + <usize>i * SEG;
    const sl = load<u32>(s, 4);
    if (off >= sl) {
      off -= sl;
      i++;
      continue;
    }
    let take = sl - off;
    if (take > len) take = len;
    // SAFETY: [addr + off, addr + off + take) lies inside the segment, checked when it was popped.
    memory.copy(dst, <usize>load<u32>(s) + off, take);
    dst += take;
    len -= take;
    off = 0;
    i++;
  }
}

/** Copies `len` bytes from `src` into the segments, starting at segment offset `skip`. */
export function scatter(segs: usize, nsegs: u32, skip: u32, src: usize, len: u32): void {
  let i: u32 = 0;
  let off = skip;
  while (len != 0 && i < nsegs) {
    const s = segs + <usize>i * SEG;
    const sl = load<u32>(s, 4);
    if (off >= sl) {
      off -= sl;
      i++;
      continue;
    }
    let take = sl - off;
    if (take > len) take = len;
    // SAFETY: [addr + off, addr + off + take) lies inside the segment, checked when it was popped.
    writeOut(<usize>load<u32>(s) + off, src, take);
    src += take;
    len -= take;
    off = 0;
    i++;
  }
}

/** Copies `len` bytes from the segments (offset `skip`) into a ring at free-running index `pos`. */
export function segsToRing(ring: usize, ringBytes: u32, pos: u32, segs: usize, nsegs: u32, skip: u32, len: u32): void {
  const mask = ringBytes - 1;
  while (len != 0) {
    const at = pos & mask;
    let take = ringBytes - at;
    if (take > len) take = len;
    gather(ring + at, segs, nsegs, skip, take);
    skip += take;
    pos += take;
    len -= take;
  }
}

/** Copies `len` bytes from a ring at free-running index `pos` into the segments at offset `skip`. */
export function ringToSegs(segs: usize, nsegs: u32, skip: u32, ring: usize, ringBytes: u32, pos: u32, len: u32): void {
  const mask = ringBytes - 1;
  while (len != 0) {
    const at = pos & mask;
    let take = ringBytes - at;
    if (take > len) take = len;
    scatter(segs, nsegs, skip, ring + at, take);
    skip += take;
    pos += take;
    len -= take;
  }
}
