// A chain's buffers as one byte stream: its segment records (the burst's seg[], SEG_BYTES each,
// or a driver's own list laid out the same way) concatenated. Devices make no assumption about
// how the driver cut a message into descriptors (virtio 1.x §2.7.4): a header may span two
// segments, data and status may share one, so every copy walks the records.

import { guestCopy } from '../common/guest-write';
import { SEG_BYTES, SEG_HOST, SEG_LEN } from './burst';

/**
 * Copies `len` bytes, from byte `skip` of the stream segs[0, count), to host memory at `dst`.
 * The caller checked that the stream holds skip + len bytes.
 */
export function segGather(segs: usize, count: u32, skip: u32, dst: usize, len: u32): void {
  let i: u32 = 0;
  while (len != 0 && i < count) {
    const s = segs + <usize>i * SEG_BYTES;
    const sl = load<u32>(s, SEG_LEN);
    i++;
    if (skip >= sl) {
      skip -= sl;
      continue;
    }
    let take = sl - skip;
    if (take > len) take = len;
    // SAFETY: [host + skip, host + skip + take) lies inside a segment its producer translated and bounds-checked.
    memory.copy(dst, <usize>load<u32>(s, SEG_HOST) + skip, take);
    dst += take;
    len -= take;
    skip = 0;
  }
}

/**
 * Copies `len` bytes from host memory at `src` into the stream segs[0, count) from byte `skip`.
 * With a guest memory map (a device writing guest RAM) the bytes go through the guest-write path
 * and its dirty log; with map 0 (a driver filling its own buffers) they are plain copies.
 */
export function segScatter(map: usize, segs: usize, count: u32, skip: u32, src: usize, len: u32): void {
  let i: u32 = 0;
  while (len != 0 && i < count) {
    const s = segs + <usize>i * SEG_BYTES;
    const sl = load<u32>(s, SEG_LEN);
    i++;
    if (skip >= sl) {
      skip -= sl;
      continue;
    }
    let take = sl - skip;
    if (take > len) take = len;
    const dst = <usize>load<u32>(s, SEG_HOST) + skip;
    // SAFETY: [dst, dst + take) lies inside a segment its producer translated and bounds-checked.
    if (map != 0) guestCopy(map, dst, src, take);
    else memory.copy(dst, src, take);
    src += take;
    len -= take;
    skip = 0;
  }
}
