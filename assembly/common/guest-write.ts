// The one way a kernel writes guest RAM. Received packets, data read from a volume, vsock
// payloads, used-ring entries and indices: every byte a device puts into a guest goes through
// these helpers, which also log the pages written when the guest's dirty log is on (live
// migration is correct only if no write bypasses them). With logging off, the cost is one load
// of the map's GMAP_DIRTY_LOG word and a branch per call.
//
// `dst` is a host address the caller translated through `map` (gpaToHost, or a segment a pop
// produced) and bounds-checked for the whole length; these helpers check nothing again.
//
// Order: data first, then the mark. A migration that clears a page's bit and copies the page
// between the two sees the new bytes or finds the bit set again; never a mark without the data.

import { dirtyMark } from './dirty-log';
import { GMAP_DIRTY_LOG } from './gpa';

/** True while the guest behind `map` logs its dirty pages. */
@inline export function guestLogging(map: usize): bool {
  return load<u32>(map, GMAP_DIRTY_LOG) != 0;
}

/** Logs [dst, dst + len) after the caller wrote it with its own stores (a batch logged once). */
@inline export function guestWrote(map: usize, dst: usize, len: usize): void {
  if (load<u32>(map, GMAP_DIRTY_LOG) != 0) dirtyMark(map, dst, len);
}

/** Copies `len` bytes from host `src` into guest RAM at `dst`. */
@inline export function guestCopy(map: usize, dst: usize, src: usize, len: usize): void {
  memory.copy(dst, src, len);
  if (load<u32>(map, GMAP_DIRTY_LOG) != 0) dirtyMark(map, dst, len);
}

/** Fills `len` bytes of guest RAM at `dst` with `value`. */
@inline export function guestFill(map: usize, dst: usize, value: u8, len: usize): void {
  memory.fill(dst, value, len);
  if (load<u32>(map, GMAP_DIRTY_LOG) != 0) dirtyMark(map, dst, len);
}

/** One plain store into guest RAM at `dst + offset`. */
@inline export function guestStore<T>(map: usize, dst: usize, value: T, offset: usize = 0): void {
  store<T>(dst + offset, value);
  if (load<u32>(map, GMAP_DIRTY_LOG) != 0) dirtyMark(map, dst + offset, sizeof<T>());
}

/** One atomic (sequentially consistent) store into guest RAM: a publishing index or flag. */
@inline export function guestAtomicStore<T>(map: usize, dst: usize, value: T, offset: usize = 0): void {
  atomic.store<T>(dst + offset, value);
  if (load<u32>(map, GMAP_DIRTY_LOG) != 0) dirtyMark(map, dst + offset, sizeof<T>());
}
