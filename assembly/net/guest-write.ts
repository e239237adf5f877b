// Every byte the net kernels put into guest RAM (received frames, virtio-net headers, control
// acks) goes through here: the copy, then the guest-write path's dirty-log mark
// (assembly/common/guest-write.ts), which live migration reads.

import { guestWrote } from '../common/guest-write';

/**
 * Copies `len` bytes from host address `src` into guest RAM at host address `dst`, translated
 * through `map`. Short copies (most frames' headers and small frames) move 16 bytes at a time
 * with SIMD: V8 runs memory.copy as a call into the runtime, whose fixed cost dominated a 64-byte
 * frame's delivery.
 */
@inline export function toGuest(map: usize, dst: usize, src: usize, len: u32): void {
  if (len >= 16 && len <= 256) copySimd(dst, src, len);
  else if (len < 16) copyTiny(dst, src, len);
  else memory.copy(dst, src, len);
  guestWrote(map, dst, len);
}

/** len < 16 (a virtio-net header is 12): 8, 4, 2, 1 bytes at a time. */
export function copyTiny(dst: usize, src: usize, len: u32): void {
  let i: usize = 0;
  const n = <usize>len;
  if (n - i >= 8) {
    store<u64>(dst + i, load<u64>(src + i));
    i += 8;
  }
  if (n - i >= 4) {
    store<u32>(dst + i, load<u32>(src + i));
    i += 4;
  }
  if (n - i >= 2) {
    store<u16>(dst + i, load<u16>(src + i));
    i += 2;
  }
  if (n - i >= 1) store<u8>(dst + i, load<u8>(src + i));
}

/** 16 <= len: whole 16-byte chunks, then the last 16 bytes again (overlapping the previous chunk). */
export function copySimd(dst: usize, src: usize, len: u32): void {
  let i: u32 = 0;
  // SAFETY: i + 16 <= len in the loop; the tail chunk starts at len - 16 >= 0.
  for (; i + 16 <= len; i += 16) v128.store(dst + <usize>i, v128.load(src + <usize>i));
  if (i < len) v128.store(dst + <usize>(len - 16), v128.load(src + <usize>(len - 16)));
}

/** Stores one byte into guest RAM at host address `dst`, translated through `map`. */
@inline export function toGuestU8(map: usize, dst: usize, v: u32): void {
  store<u8>(dst, <u8>v);
  guestWrote(map, dst, 1);
}
