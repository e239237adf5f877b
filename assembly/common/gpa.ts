// Guest-physical address translation: the one implementation every kernel uses. The control
// plane's TS translation (src/common/gpa.ts) is held to this one by test/common/gpa.test.ts.
//
// A guest memory map is a state region (magic 'GMAP') written by the host, never by the guest:
//
//   +0   header (64 bytes)
//   +64  u32 slotCount              1 .. GMAP_MAX_SLOTS (larger values are clamped)
//   +68  u32 dirtyLog               host address of the guest's dirty bitmap, 0 while logging is
//                                   off (dirty-log.ts: one bit per 4 KiB guest page from GPA 0)
//   +72  u32 dirtyPages             pages the bitmap covers; writes above are not logged
//   +128 slot[0] .. slot[7], 32 bytes each:
//        +0 u64 gpaStart   +8 u64 sizeBytes   +16 u32 hostBase   +20..31 reserved
//
// A GPA range is valid when it lies wholly inside one slot. Zero-length ranges must still
// start inside a slot. All arithmetic is on u64 and written so that nothing can overflow:
// off = gpa - start wraps to a huge value when gpa < start, which then fails `off < size`;
// `len <= size - off` cannot overflow because off < size.

export const GMAP_MAGIC: u32 = 0x50414d47; // 'GMAP'
export const GMAP_LAYOUT: u32 = 2;
export const GMAP_COUNT: usize = 64;
export const GMAP_DIRTY_LOG: usize = 68;
export const GMAP_DIRTY_PAGES: usize = 72;
export const GMAP_SLOTS: usize = 128;
export const GMAP_SLOT_BYTES: usize = 32;
export const GMAP_MAX_SLOTS: u32 = 8;
export const GMAP_SLOT_GPA: usize = 0;
export const GMAP_SLOT_SIZE: usize = 8;
export const GMAP_SLOT_HOST: usize = 16;
/** Bytes from the start of a map region to the end of its last slot. */
export const GMAP_BYTES: usize = GMAP_SLOTS + <usize>GMAP_MAX_SLOTS * GMAP_SLOT_BYTES;

/** Host address of guest range [gpa, gpa + len), or 0 when it is not wholly inside one slot. */
@inline export function gpaToHost(map: usize, gpa: u64, len: u64): usize {
  let n = load<u32>(map, GMAP_COUNT);
  if (n > GMAP_MAX_SLOTS) n = GMAP_MAX_SLOTS;
  for (let i: u32 = 0; i < n; i++) {
    const slot = map + GMAP_SLOTS + <usize>i * GMAP_SLOT_BYTES;
    const off = gpa - load<u64>(slot, GMAP_SLOT_GPA);
    const size = load<u64>(slot, GMAP_SLOT_SIZE);
    if (off < size && len <= size - off) {
      // The host checked hostBase + size <= memory size when it wrote the slot, and off < size.
      return <usize>(load<u32>(slot, GMAP_SLOT_HOST) + <u32>off);
    }
  }
  return 0;
}

/**
 * Host address of `gpa` together with the number of bytes from it to the end of its slot
 * (capped at 2^32 - 1), packed as (bytes << 32) | host; 0 when `gpa` lies in no slot. Used to
 * split a buffer that straddles two adjacent slots into two segments.
 */
@inline export function gpaContig(map: usize, gpa: u64): u64 {
  let n = load<u32>(map, GMAP_COUNT);
  if (n > GMAP_MAX_SLOTS) n = GMAP_MAX_SLOTS;
  for (let i: u32 = 0; i < n; i++) {
    const slot = map + GMAP_SLOTS + <usize>i * GMAP_SLOT_BYTES;
    const off = gpa - load<u64>(slot, GMAP_SLOT_GPA);
    const size = load<u64>(slot, GMAP_SLOT_SIZE);
    if (off < size) {
      let rest = size - off;
      if (rest > 0xffffffff) rest = 0xffffffff;
      return (rest << 32) | (<u64>(load<u32>(slot, GMAP_SLOT_HOST) + <u32>off));
    }
  }
  return 0;
}
