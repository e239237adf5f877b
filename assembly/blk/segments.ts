// A chain's buffers as two byte streams: the readable segments (header, then OUT data or
// DISCARD / WRITE_ZEROES ranges) and the writable ones (IN data or the GET_ID string, then the
// status byte). The device makes no assumption about how the driver cut them into descriptors
// (§2.7.4 message framing): a header may span two descriptors, data and status may share one.

import { guestCopy } from '../common/guest-write';
import { SEG_BYTES } from '../virtio/burst';

/**
 * Copies `len` bytes at byte `off` of the stream segs[seg, seg + count) to host memory at
 * `dst`. The caller checked that the stream holds off + len bytes.
 */
export function gather(segs: usize, seg: u32, count: u32, off: u32, dst: usize, len: u32): void {
  const end = seg + count;
  let i = seg;
  while (i < end) {
    const l = load<u32>(segs + <usize>i * SEG_BYTES, 4);
    if (off < l) break;
    off -= l;
    i++;
  }
  while (len != 0 && i < end) {
    const s = segs + <usize>i * SEG_BYTES;
    let take = load<u32>(s, 4) - off;
    if (take > len) take = len;
    // SAFETY: [addr + off, addr + off + take) lies inside a segment the pop translated and bounds-checked.
    memory.copy(dst, <usize>load<u32>(s) + off, take);
    dst += take;
    len -= take;
    off = 0;
    i++;
  }
}

/**
 * Copies `len` bytes from host memory at `src` into the stream segs[seg, seg + count) from its
 * first byte, through the guest-write path (dirty log). The caller checked the stream's length.
 */
export function scatter(map: usize, segs: usize, seg: u32, count: u32, src: usize, len: u32): void {
  const end = seg + count;
  let i = seg;
  while (len != 0 && i < end) {
    const s = segs + <usize>i * SEG_BYTES;
    let take = load<u32>(s, 4);
    if (take > len) take = len;
    // SAFETY: [addr, addr + take) lies inside a segment the pop translated and bounds-checked.
    guestCopy(map, <usize>load<u32>(s), src, take);
    src += take;
    len -= take;
    i++;
  }
}
