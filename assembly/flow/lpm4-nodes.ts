// The IPv4 lookup structure: a compact image of the DIR-24-8 top table that fits in cache, as
// Poptrie's leaf compression does (Asai & Ohara, SIGCOMM 2015). The top table has 2^24 entries
// (64 MiB): a lookup there is a TLB miss and a DRAM miss. Lookups read this instead:
//
//   direct table, 2^16 u32, indexed by addr >> 16:
//     bit 31 clear: a leaf, the lookup value of all 256 top entries under that /16
//     bit 31 set:   a node; bit 30 wide; bits 0..29 where the node starts in the heap (8-B units)
//   lookup value (u32): 0 no route | nh + 1 | bit 31 set: extended, bits 0..21 the group index
//
//   node, for one /16 whose 256 top entries differ, packed to 8 bytes (the whole structure must
//   stay in cache, so no padding to cache lines: at 900k BGP-like routes it is ~3.9 MiB):
//     +0  u64 bitmap[4]  bit j: a run of equal lookup values starts at top entry j (bit 0 is set)
//     +32 u8 count[4]    runs that start in the words before word w (0, then at most 192)
//     +36 runs           the run values in order: u16 when narrow, u32 when wide
//     narrow run: bit 15 extended, bits 0..14 the group index | else nh + 1 (so nh < 32767)
//     wide run: the lookup value itself. A node is wide when one of its values does not fit
//     narrow. Size 36 + 2 or 4 B per run: at most 69 units narrow, 133 wide.
//   run index of top entry j = count[j >> 6] + popcnt(bitmap[j >> 6] & bits 0..(j & 63)) - 1.
//
//   heap unit 0: the dummy node (one narrow run, value 0); a leaf's lookup walks it so that the
//   reader (lpm4-lookup.ts) has no branch on leaf/node (a mispredicted branch costs more than
//   the loads).
//
// Maintenance: the update engine marks the /16s an op covers in the copy's dirty bitmap; after a
// batch, nodeRebuildDirty recomputes each of them from the top table (the copy has no readers:
// Left-Right). A node keeps its place when its size is unchanged; otherwise the old block goes to
// the free list of its size (1..133 units, exact fit) and the new node is taken from the list of
// its size, or from the unused end of the heap. The heap is compacted (every node rebuilt, packed
// in /16 order) when neither has room, and when its free space passes a quarter of the live
// nodes: churn never leaks, fragmentation stays bounded, and the heap refuses a batch only when
// the live nodes alone exceed it (LPM_STOP_NODES; lpm.ts then keeps the ops before the first
// that overflows). The second copy takes the same allocator steps with the nodes' bytes copied
// from the first (nodeCloneDirty), so the copies stay byte for byte equal.

import {
  C_COMPACTIONS,
  C_DIRTY_BEGIN,
  C_DIRTY_END,
  C_FREE_UNITS,
  C_HEAP_BUMP,
  C_HEAP_LIVE,
  C_TOP,
  EXT,
  GROUP_CAP,
  LPM_NODE_DUMMY_UNITS,
  LPM_NODE_MAX_UNITS_PER_NODE,
  NODE_UNITS,
  VAL_MASK,
  directAt,
  dirtyAt,
  heapAt,
  scratchOf,
} from './lpm-layout';

// Direct entry and lookup value bits, node layout (shared with the reader, lpm4-lookup.ts).
export const NODE: u32 = 0x80000000;
export const WIDE: u32 = 0x40000000;
export const AT_MASK: u32 = 0x3fffffff;
export const V_EXT: u32 = 0x80000000;
export const N_RUNS: usize = 36;
/** Byte offset (in the heap) of the dummy node's run. */
export const DUMMY_RUN: u32 = 36;

@inline function nodeUnitsFor(runs: u32, wide: bool): u32 {
  return (<u32>N_RUNS + (runs << (wide ? 2 : 1)) + 7) >> 3;
}

/** Writes the dummy node into heap units 0..4 of a fresh copy. */
export function nodeHeapInit(copy: usize, groupCap: u32): void {
  const heap = heapAt(copy, groupCap);
  memory.fill(heap, 0, (<usize>LPM_NODE_DUMMY_UNITS) << 3);
  store<u64>(heap, 1); // bitmap word 0: one run, starting at entry 0
  store<u32>(heap + 32, 0x01010100); // count = 0, 1, 1, 1: every word sees that one run
  store<u32>(copy, LPM_NODE_DUMMY_UNITS, C_HEAP_BUMP);
  store<u32>(copy, LPM_NODE_DUMMY_UNITS, C_HEAP_LIVE);
}

// ---- the node heap -------------------------------------------------------------------------------

/** Takes a block of `units` (1..133): its free list, else the unused end; -1 when neither has room. */
function heapAlloc(copy: usize, heap: usize, nodeUnits: u32, units: u32): i32 {
  const list = copy + C_FREE_UNITS + ((<usize>units) << 2);
  const head = load<u32>(list);
  let at: u32;
  if (head != 0) {
    at = head - 1;
    store<u32>(list, load<u32>(heap + ((<usize>at) << 3)));
  } else {
    const bump = load<u32>(copy, C_HEAP_BUMP);
    if (bump + units > nodeUnits) return -1;
    at = bump;
    store<u32>(copy, bump + units, C_HEAP_BUMP);
  }
  store<u32>(copy, load<u32>(copy, C_HEAP_LIVE) + units, C_HEAP_LIVE);
  return <i32>at;
}

function heapFree(copy: usize, heap: usize, at: u32, units: u32): void {
  const list = copy + C_FREE_UNITS + ((<usize>units) << 2);
  store<u32>(heap + ((<usize>at) << 3), load<u32>(list));
  store<u32>(list, at + 1);
  store<u32>(copy, load<u32>(copy, C_HEAP_LIVE) - units, C_HEAP_LIVE);
}

/** Units of the node a direct entry points at (from its own bitmap and counts). */
@inline function unitsOf(heap: usize, d: u32): u32 {
  const node = heap + ((<usize>(d & AT_MASK)) << 3);
  const runs = <u32>load<u8>(node + 35) + <u32>popcnt<u64>(load<u64>(node + 24));
  return nodeUnitsFor(runs, (d & WIDE) != 0);
}

// ---- rebuilding ---------------------------------------------------------------------------------

/**
 * Lookup values of the 256 top entries under one /16 into `vals`, and where runs of equal
 * values start into `bitmap` (4 u64; bit 0 set). Returns the OR of all values (width check).
 * Four entries per step: a rebuild runs once per /16 a batch touched, on every copy.
 */
function scan16(top: usize, vals: usize, bitmap: usize): u32 {
  const mask = i32x4.splat(VAL_MASK);
  const ext = i32x4.splat(EXT);
  const one = i32x4.splat(1);
  const vext = i32x4.splat(V_EXT);
  let prev = i32x4.splat(0);
  let any = i32x4.splat(0);
  let word: u64 = 0;
  for (let k: usize = 0; k < 64; k++) {
    const e = v128.load(top + (k << 4));
    const low = v128.and(e, mask);
    const plain = v128.and(i32x4.add(low, one), i32x4.shr_s(e, 31)); // valid: nh + 1, else 0
    const v = v128.bitselect(v128.or(low, vext), plain, i32x4.ne(v128.and(e, ext), i32x4.splat(0)));
    v128.store(vals + (k << 4), v);
    // Lanes: the previous group's last value, then this group's first three.
    const before = i8x16.shuffle(prev, v, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27);
    word |= (<u64>i32x4.bitmask(i32x4.ne(v, before))) << u64((k & 15) << 2);
    any = v128.or(any, v);
    prev = v;
    if ((k & 15) == 15) {
      store<u64>(bitmap + ((k >> 4) << 3), word);
      word = 0;
    }
  }
  store<u64>(bitmap, load<u64>(bitmap) | 1);
  return (
    i32x4.extract_lane(any, 0) | i32x4.extract_lane(any, 1) | i32x4.extract_lane(any, 2) | i32x4.extract_lane(any, 3)
  );
}

/**
 * Recomputes the direct entry of /16 `h` from the top table. `fresh`: the heap was reset, the
 * old entry points nowhere. False when the heap has no room for the node (the old node is then
 * already freed: the caller compacts or discards the copy).
 */
function rebuild16(copy: usize, scratch: usize, groupCap: u32, nodeUnits: u32, h: u32, fresh: bool): bool {
  const direct = directAt(copy, groupCap) + ((<usize>h) << 2);
  const heap = heapAt(copy, groupCap);
  // The scratch: bitmap (32 B), then the 256 lookup values.
  const vals = scratch + 32;
  const any = scan16(copy + C_TOP + ((<usize>h) << 10), vals, scratch);
  let runs: u32 = 0;
  for (let w: usize = 0; w < 4; w++) runs += <u32>popcnt<u64>(load<u64>(scratch + (w << 3)));
  const old = fresh ? 0 : load<u32>(direct);
  const first = load<u32>(vals);
  if (runs == 1 && (first & V_EXT) == 0) {
    if ((old & NODE) != 0) heapFree(copy, heap, old & AT_MASK, unitsOf(heap, old));
    store<u32>(direct, first);
    return true;
  }
  const wide = (any & ~V_EXT) >= 0x8000; // some value does not fit narrow
  const units = nodeUnitsFor(runs, wide);
  let at: u32;
  if ((old & NODE) != 0 && unitsOf(heap, old) == units) {
    at = old & AT_MASK; // same size: rewrite in place (no reader sees this copy)
  } else {
    if ((old & NODE) != 0) heapFree(copy, heap, old & AT_MASK, unitsOf(heap, old));
    const got = heapAlloc(copy, heap, nodeUnits, units);
    if (got < 0) {
      store<u32>(direct, 0);
      return false;
    }
    at = <u32>got;
  }
  const node = heap + ((<usize>at) << 3);
  let count: u32 = 0;
  let counts: u32 = 0;
  let r: usize = 0;
  for (let w: usize = 0; w < 4; w++) {
    let bm = load<u64>(scratch + (w << 3));
    store<u64>(node + (w << 3), bm);
    counts |= count << ((<u32>w) << 3);
    count += <u32>popcnt<u64>(bm);
    while (bm != 0) {
      const v = load<u32>(vals + (((w << 6) | (<usize>ctz<u64>(bm))) << 2));
      bm &= bm - 1;
      if (wide) store<u32>(node + N_RUNS + (r << 2), v);
      else store<u16>(node + N_RUNS + (r << 1), <u16>((v & V_EXT) != 0 ? 0x8000 | (v & 0x7fff) : v));
      r++;
    }
  }
  store<u32>(node + 32, counts);
  store<u32>(direct, NODE | (wide ? WIDE : 0) | at);
  return true;
}

@inline function isDirty(dirty: usize, h: u32): bool {
  return ((<u32>load<u8>(dirty + <usize>(h >> 3))) & ((<u32>1) << (h & 7))) != 0;
}

/**
 * Packs the heap: rebuilds every node, and every dirty /16, into an emptied heap in /16 order
 * (leaves need no heap and are already up to date). False when the nodes do not fit.
 */
function nodeCompact(copy: usize, scratch: usize, groupCap: u32, nodeUnits: u32): bool {
  const direct = directAt(copy, groupCap);
  const dirty = dirtyAt(copy, groupCap);
  memory.fill(copy + C_FREE_UNITS, 0, (<usize>LPM_NODE_MAX_UNITS_PER_NODE + 1) << 2);
  store<u32>(copy, LPM_NODE_DUMMY_UNITS, C_HEAP_BUMP);
  store<u32>(copy, LPM_NODE_DUMMY_UNITS, C_HEAP_LIVE);
  store<u32>(copy, load<u32>(copy, C_COMPACTIONS) + 1, C_COMPACTIONS);
  for (let h: u32 = 0; h < 65536; h++) {
    if ((load<u32>(direct + ((<usize>h) << 2)) & NODE) == 0 && !isDirty(dirty, h)) continue;
    if (!rebuild16(copy, scratch, groupCap, nodeUnits, h, true)) return false;
  }
  return true;
}

@inline function markOne(dirty: usize, h: u32): void {
  const p = dirty + <usize>(h >> 3);
  store<u8>(p, <u8>((<u32>load<u8>(p)) | ((<u32>1) << (h & 7))));
}

/** Marks the /16s that a prefix of `len` bits at `addr` covers. */
export function nodeMarkDirty(copy: usize, groupCap: u32, addr: u32, len: u32): void {
  const dirty = dirtyAt(copy, groupCap);
  // 2^(16 - len) /16s from `first` (aligned on their number): whole bytes from 8 up.
  const span: u32 = len >= 16 ? 1 : 1 << (16 - len);
  const first = (addr >> 16) & ~(span - 1);
  if (span < 8) {
    for (let h = first; h < first + span; h++) markOne(dirty, h);
  } else {
    memory.fill(dirty + (first >> 3), 0xff, span >> 3);
  }
  // The words to scan: [begin, end) of the bitmap's u64 words.
  const lo = first >> 6;
  const hi = ((first + span - 1) >> 6) + 1;
  const end = load<u32>(copy, C_DIRTY_END);
  store<u32>(copy, end == 0 ? lo : min<u32>(lo, load<u32>(copy, C_DIRTY_BEGIN)), C_DIRTY_BEGIN);
  store<u32>(copy, max<u32>(hi, end), C_DIRTY_END);
}

/**
 * Rebuilds the dirty /16s of a copy and clears its dirty bitmap. Compacts the heap when it runs
 * out, or when the free space inside it exceeds a quarter of the live nodes (plus 32 KiB): lookups
 * then touch fewer cache lines, and at most a quarter of the rebuilds ever go to compacting.
 * False when the live nodes do not fit in the heap even compacted (the copy is then inconsistent
 * and must be resynchronised).
 */
export function nodeRebuildDirty(state: usize, copy: usize): bool {
  const groupCap = load<u32>(state, GROUP_CAP);
  const nodeUnits = load<u32>(state, NODE_UNITS);
  const scratch = scratchOf(state);
  const dirty = dirtyAt(copy, groupCap);
  const end = load<u32>(copy, C_DIRTY_END);
  let ok = true;
  for (let wi = load<u32>(copy, C_DIRTY_BEGIN); ok && wi < end; wi++) {
    let word = load<u64>(dirty + ((<usize>wi) << 3));
    while (ok && word != 0) {
      const h = (wi << 6) | (<u32>ctz<u64>(word));
      // The failed /16 stays marked: the compaction below rebuilds it with the rest still dirty.
      ok = rebuild16(copy, scratch, groupCap, nodeUnits, h, false);
      if (ok) word &= word - 1;
    }
    store<u64>(dirty + ((<usize>wi) << 3), word);
  }
  const live = load<u32>(copy, C_HEAP_LIVE);
  if (ok && load<u32>(copy, C_HEAP_BUMP) - live <= (live >> 2) + 4096) {
    clearDirty(copy, dirty);
    return true;
  }
  ok = nodeCompact(copy, scratch, groupCap, nodeUnits);
  clearDirty(copy, dirty);
  return ok;
}

// ---- the second copy ------------------------------------------------------------------------------

/** Clears a copy's dirty bitmap and range. */
function clearDirty(copy: usize, dirty: usize): void {
  const begin = load<u32>(copy, C_DIRTY_BEGIN);
  const end = load<u32>(copy, C_DIRTY_END);
  if (end > begin) memory.fill(dirty + ((<usize>begin) << 3), 0, (<usize>(end - begin)) << 3);
  store<u32>(copy, 0, C_DIRTY_BEGIN);
  store<u32>(copy, 0, C_DIRTY_END);
}

/**
 * Brings the nodes of copy `dst` level with copy `src` for the /16s dirty in `dst`, where `src`
 * went through the same batch from the same state (Left-Right's second copy): the same
 * allocator steps as src's rebuild, with each node's bytes copied from src instead of computed
 * from the top table (which is cold; src's nodes were just written). When src compacted, or if
 * a node lands anywhere else than in src, the whole structure is copied instead.
 */
export function nodeCloneDirty(state: usize, dst: usize, src: usize): void {
  const groupCap = load<u32>(state, GROUP_CAP);
  const nodeUnits = load<u32>(state, NODE_UNITS);
  const dirty = dirtyAt(dst, groupCap);
  const dHeap = heapAt(dst, groupCap);
  const sHeap = heapAt(src, groupCap);
  const dDirect = directAt(dst, groupCap);
  const sDirect = directAt(src, groupCap);
  let same = load<u32>(dst, C_COMPACTIONS) == load<u32>(src, C_COMPACTIONS);
  const end = load<u32>(dst, C_DIRTY_END);
  for (let wi = load<u32>(dst, C_DIRTY_BEGIN); same && wi < end; wi++) {
    let word = load<u64>(dirty + ((<usize>wi) << 3));
    while (same && word != 0) {
      const h = (wi << 6) | (<u32>ctz<u64>(word));
      word &= word - 1;
      const d = load<u32>(sDirect + ((<usize>h) << 2));
      const old = load<u32>(dDirect + ((<usize>h) << 2));
      if ((d & NODE) == 0) {
        if ((old & NODE) != 0) heapFree(dst, dHeap, old & AT_MASK, unitsOf(dHeap, old));
      } else {
        const units = unitsOf(sHeap, d);
        let at: i32;
        if ((old & NODE) != 0 && unitsOf(dHeap, old) == units) {
          at = <i32>(old & AT_MASK);
        } else {
          if ((old & NODE) != 0) heapFree(dst, dHeap, old & AT_MASK, unitsOf(dHeap, old));
          at = heapAlloc(dst, dHeap, nodeUnits, units);
        }
        same = at == <i32>(d & AT_MASK);
        if (same) memory.copy(dHeap + ((<usize>at) << 3), sHeap + ((<usize>at) << 3), (<usize>units) << 3);
      }
      store<u32>(dDirect + ((<usize>h) << 2), d);
    }
  }
  clearDirty(dst, dirty);
  if (same) return;
  // Everything: allocator words, direct table, the heap up to src's bump.
  memory.copy(dst + C_HEAP_BUMP, src + C_HEAP_BUMP, C_DIRTY_BEGIN - C_HEAP_BUMP);
  memory.copy(dst + C_FREE_UNITS, src + C_FREE_UNITS, (<usize>LPM_NODE_MAX_UNITS_PER_NODE + 1) << 2);
  memory.copy(dDirect, sDirect, 4 << 16);
  memory.copy(dHeap, sHeap, (<usize>load<u32>(src, C_HEAP_BUMP)) << 3);
}

// ---- figures ----------------------------------------------------------------------------------------

/** Node heap units (8 B) in use in a copy, the dummy included. */
export function nodeUnitsLive(copy: usize): u32 {
  return load<u32>(copy, C_HEAP_LIVE);
}

/** Compactions of a copy's node heap so far. */
export function nodeCompactions(copy: usize): u32 {
  return load<u32>(copy, C_COMPACTIONS);
}
