// The guest dirty log: one bit per 4 KiB guest page, bit (gpa >> 12) of a bitmap of u32 words,
// the way vhost keeps its log. The host allocates the bitmap (a 'bitmap' region) and turns
// logging on by writing its address into the guest memory map (GMAP_DIRTY_LOG); 0 means off,
// the default. Kernels never call dirtyMark directly: they write guest RAM through
// guest-write.ts, which checks that one word and marks the pages written. The TS side
// (src/hypervisor/guest/dirty-log.ts) reads and clears the words with an atomic exchange, so a
// bit set by a core is never lost between the read and the clear.

import {
  GMAP_COUNT,
  GMAP_DIRTY_LOG,
  GMAP_DIRTY_PAGES,
  GMAP_MAX_SLOTS,
  GMAP_SLOTS,
  GMAP_SLOT_BYTES,
  GMAP_SLOT_GPA,
  GMAP_SLOT_HOST,
  GMAP_SLOT_SIZE,
} from './gpa';

export const DIRTY_PAGE_SHIFT: u32 = 12;

/**
 * Marks dirty the guest pages under host range [host, host + len), which the caller has just
 * written and which lies inside one slot of `map` (it was translated through it). The GPA is
 * found again through the slot holding `host`; pages past the bitmap's end are not logged.
 * Several cores may mark one bitmap at once: each word is updated with an atomic or.
 */
export function dirtyMark(map: usize, host: usize, len: usize): void {
  const log = <usize>load<u32>(map, GMAP_DIRTY_LOG);
  if (log == 0 || len == 0) return;
  let n = load<u32>(map, GMAP_COUNT);
  if (n > GMAP_MAX_SLOTS) n = GMAP_MAX_SLOTS;
  for (let i: u32 = 0; i < n; i++) {
    const slot = map + GMAP_SLOTS + <usize>i * GMAP_SLOT_BYTES;
    // host - base wraps to a huge value when host < base, which then fails `< size`.
    const off = <u64>(<u32>(host - <usize>load<u32>(slot, GMAP_SLOT_HOST)));
    if (off >= load<u64>(slot, GMAP_SLOT_SIZE)) continue;
    const gpa = load<u64>(slot, GMAP_SLOT_GPA) + off;
    const pages = <u64>load<u32>(map, GMAP_DIRTY_PAGES);
    const first = gpa >> DIRTY_PAGE_SHIFT;
    let last = (gpa + <u64>len - 1) >> DIRTY_PAGE_SHIFT;
    if (first >= pages) return;
    if (last >= pages) last = pages - 1;
    markPages(log, <u32>first, <u32>last);
    return;
  }
}

/** Sets bits first..last (inclusive), one atomic or per 32-page word. */
function markPages(log: usize, first: u32, last: u32): void {
  let p = first;
  while (p <= last) {
    const word = p >> 5;
    const end = (word << 5) + 31 < last ? (word << 5) + 31 : last;
    const mask = (0xffffffff >>> (31 - (end & 31))) & (0xffffffff << (p & 31));
    // SAFETY: p <= last < dirtyPages, and the host sized the bitmap for dirtyPages bits.
    atomic.or<u32>(log + ((<usize>word) << 2), mask);
    if (end == 0xffffffff) return;
    p = end + 1;
  }
}
