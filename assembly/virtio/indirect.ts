// Reading indirect descriptor tables (§2.7.5.3, §2.8.7). A table normally lies in one guest
// slot (fast path: one translation for the whole table); when it does not (D6a: a table that
// is not contiguous in host memory) each entry is translated on its own, and an entry that
// itself straddles two slots is assembled in a scratch line.

import { gpaContig, gpaToHost } from '../common/gpa';

/** Host address of the whole table, or 0 when it is not contiguous (use entryPtr's slow path). */
@inline export function tableHost(map: usize, gpa: u64, len: u32): usize {
  return gpaToHost(map, gpa, <u64>len);
}

/**
 * D6: the table's whole declared extent [gpa, gpa + len) lies in guest RAM, in one slot or in
 * adjacent ones (D6a). Checked before any entry is read, so a table that leaves RAM is rejected
 * even when the chain would only use entries inside it. At most GMAP_MAX_SLOTS steps.
 */
export function tableInRam(map: usize, gpa: u64, len: u32): bool {
  if (gpaToHost(map, gpa, <u64>len) != 0) return true;
  if (gpa > 0xffffffffffffffff - <u64>len) return false;
  let at = gpa;
  let rest = <u64>len;
  while (rest != 0) {
    const c = gpaContig(map, at);
    if (c == 0) return false;
    const take = c >>> 32 < rest ? c >>> 32 : rest;
    at += take;
    rest -= take;
  }
  return true;
}

/**
 * Where to read table entry j (16 bytes): inside the table when it is contiguous, else the
 * entry's own translation, else a 16-byte copy in `scratch`. 0 when the entry is not in guest RAM.
 */
export function entryPtr(map: usize, tblHost: usize, tblGpa: u64, j: u32, scratch: usize): usize {
  if (tblHost != 0) return tblHost + ((<usize>j) << 4);
  const gpa = tblGpa + ((<u64>j) << 4);
  const c = gpaContig(map, gpa);
  if (c == 0) return 0;
  const first = <u32>(c >>> 32);
  if (first >= 16) return <usize>(<u32>c);
  // SAFETY: `first` bytes at <u32>c are inside the slot gpaContig found; scratch is 16 bytes the caller owns.
  memory.copy(scratch, <usize>(<u32>c), first);
  const c2 = gpaContig(map, gpa + first);
  if (c2 == 0 || <u32>(c2 >>> 32) < 16 - first) return 0;
  memory.copy(scratch + first, <usize>(<u32>c2), 16 - first);
  return scratch;
}
