// Longest-prefix-match route tables: DIR-24-8 for IPv4 (Gupta, Lin, McKeown, INFOCOM 1998, as
// in DPDK's rte_lpm) and the same multibit trie with a 16-bit first level and 8-bit strides
// for IPv6. One update engine serves both; lookups are specialised.
//
// Entry (u32):  bit 31 valid | bit 30 extended | bits 22..29 depth (prefix length) | bits 0..21
//               next hop, or the group index when extended. A group is 256 entries (8 bits).
// Invariant: a non-extended entry at a level ending at bit E has depth <= E, so a prefix longer
// than E always lives in a group below it.
//
// Concurrency: Left-Right (Ramalhete & Correia). The table is kept twice. A reader pins the
// active copy for one burst (a counter per copy). A writer applies a batch to the inactive copy,
// flips `active` (readers arriving after it see the new copy whole), waits until the readers of
// the old copy have left, and applies the same batch to it. Readers never wait and always see
// one whole version; an update costs twice its incremental work, never a rebuild.
//
// State region 'FLPM' (layout 1):
//   +64  u32 active (0/1)   +68 u32 topBits (24 or 16)   +72 u32 groupCap   +76 u32 copyBytes
//   +80  u32 copy0Off       +84 u32 copy1Off             +88 u32 syncNeeded
//   +128 u32 readers of copy 0 (own cache line)          +192 u32 readers of copy 1
//   +256 copy 0, then copy 1. A copy:
//        +0 u32 groupsUsed (high water)  +4 u32 freeHead (group + 1)  +8 u32 groups live
//        +64 top table (4 << topBits bytes)
//        then groupCap groups of 256 entries (1 KiB each)
//
// Update ops (32 B each, written by the facade): +0 kind (1 add, 2 delete) +4 length
//   +8 next hop (add) or the covering route's next hop (delete) +12 covering length, or
//   0xffffffff when no route covers the deleted one +16 four address words, most significant
//   first (IPv4: word 0 only).

import { headerOk } from '../common/header';
import { rangeOk } from './hash';
import { LR_ACTIVE, LR_COPY0, LR_COPY_BYTES, LR_SYNC_NEEDED, lrBegin, lrCopyAt, lrFlip, lrPin, lrUnpin } from './left-right';

export const LPM_MAGIC: u32 = 0x4d504c46; // 'FLPM'
export const LPM_LAYOUT: u32 = 1;
export const LPM_CTRL_BYTES: u32 = 256;
export const LPM_OP_BYTES: u32 = 32;
export const LPM_MAX_NEXT_HOP: u32 = 0x3fffff;
export const LPM_OP_ADD: u32 = 1;
export const LPM_OP_DELETE: u32 = 2;
export const LPM_NO_COVER: u32 = 0xffffffff;
export const LPM_E_STATE: i32 = -1;
export const LPM_E_RANGE: i32 = -2;
export const LPM_E_BUSY: i32 = -3;

const TOP_BITS: usize = 68;
const GROUP_CAP: usize = 72;

const C_USED: usize = 0;
const C_FREE: usize = 4;
const C_LIVE: usize = 8;
const C_TOP: usize = 64;

const VALID: u32 = 0x80000000;
const EXT: u32 = 0x40000000;
const VAL_MASK: u32 = 0x3fffff;

@inline function depthOf(e: u32): u32 {
  return (e >> 22) & 0xff;
}

@inline function align64(x: u64): u64 {
  return (x + 63) & ~(<u64>63);
}

@inline function copyBytes(topBits: u32, groupCap: u32): u64 {
  return align64(<u64>C_TOP + ((<u64>4) << topBits) + (<u64>groupCap << 10));
}

/** Bytes of a route table state region; 0 when the sizes are out of range. */
export function flow_lpm_bytes(topBits: u32, groupCap: u32): f64 {
  if ((topBits != 24 && topBits != 16) || groupCap > VAL_MASK + 1) return 0;
  return <f64>(<u64>LPM_CTRL_BYTES + 2 * copyBytes(topBits, groupCap));
}

export function flow_lpm_init(state: usize, topBits: u32, groupCap: u32): i32 {
  const need = flow_lpm_bytes(topBits, groupCap);
  if (need == 0 || !headerOk(state, LPM_MAGIC, LPM_LAYOUT, <u32>min<f64>(need, 4294967295)) || !rangeOk(state, <u64>need)) return LPM_E_STATE;
  const cb = copyBytes(topBits, groupCap);
  store<u32>(state, 0, LR_ACTIVE);
  store<u32>(state, topBits, TOP_BITS);
  store<u32>(state, groupCap, GROUP_CAP);
  store<u32>(state, <u32>cb, LR_COPY_BYTES);
  store<u32>(state, LPM_CTRL_BYTES, LR_COPY0);
  store<u32>(state, <u32>(LPM_CTRL_BYTES + cb), LR_COPY0 + 4);
  store<u32>(state, 0, LR_SYNC_NEEDED);
  return 0;
}

@inline function copyAt(state: usize, c: u32): usize {
  return lrCopyAt(state, c);
}

@inline function groupAt(copy: usize, topBits: u32, g: u32): usize {
  return copy + C_TOP + ((<usize>4) << topBits) + ((<usize>g) << 10);
}

// ---- readers ----------------------------------------------------------------------------------

/**
 * IPv4 lookups: `count` addresses (u32 each) → next hop or -1 (i32 each). Two stages over the
 * whole burst: every first-level load is issued before any second-level one, so their misses
 * overlap. Returns count or a negative status.
 */
export function flow_lpm4_lookup(state: usize, addrs: usize, count: i32, out: usize): i32 {
  if (!headerOk(state, LPM_MAGIC, LPM_LAYOUT, LPM_CTRL_BYTES) || load<u32>(state, TOP_BITS) != 24) return LPM_E_STATE;
  if (count < 0 || !rangeOk(addrs, <u64>count << 2) || !rangeOk(out, <u64>count << 2)) return LPM_E_RANGE;
  const c = lrPin(state);
  const copy = copyAt(state, c);
  const top = copy + C_TOP;
  const groups = top + ((<usize>4) << 24);
  const groupCap = load<u32>(state, GROUP_CAP);
  const n = <usize>count;
  // SAFETY: i < count: both arrays were range-checked above; a >> 8 < 2^24 indexes the top table.
  for (let i: usize = 0; i < n; i++) {
    store<u32>(out + (i << 2), load<u32>(top + ((<usize>(load<u32>(addrs + (i << 2)) >> 8)) << 2)));
  }
  for (let i: usize = 0; i < n; i++) {
    let e = load<u32>(out + (i << 2));
    if ((e & EXT) != 0) {
      const g = e & VAL_MASK;
      // SAFETY: the pinned copy is not written while pinned; g < groupCap is checked anyway.
      e = g < groupCap ? load<u32>(groups + ((<usize>g) << 10) + ((<usize>(load<u32>(addrs + (i << 2)) & 0xff)) << 2)) : 0;
    }
    store<i32>(out + (i << 2), (e & VALID) != 0 ? <i32>(e & VAL_MASK) : -1);
  }
  lrUnpin(state, c);
  return count;
}

/** IPv6 lookups: `count` addresses (4 u32 words each, most significant first) → next hop or -1. */
export function flow_lpm6_lookup(state: usize, addrs: usize, count: i32, out: usize): i32 {
  if (!headerOk(state, LPM_MAGIC, LPM_LAYOUT, LPM_CTRL_BYTES) || load<u32>(state, TOP_BITS) != 16) return LPM_E_STATE;
  if (count < 0 || !rangeOk(addrs, <u64>count << 4) || !rangeOk(out, <u64>count << 2)) return LPM_E_RANGE;
  const c = lrPin(state);
  const copy = copyAt(state, c);
  const top = copy + C_TOP;
  const groups = top + ((<usize>4) << 16);
  const groupCap = load<u32>(state, GROUP_CAP);
  const n = <usize>count;
  for (let i: usize = 0; i < n; i++) {
    // SAFETY: i < count, inside the range checked above.
    const a = addrs + (i << 4);
    let e = load<u32>(top + ((<usize>(load<u32>(a) >> 16)) << 2));
    let bi: u32 = 2;
    while ((e & EXT) != 0 && bi < 16) {
      const g = e & VAL_MASK;
      if (g >= groupCap) {
        e = 0;
        break;
      }
      const byte = (load<u32>(a + ((<usize>bi >> 2) << 2)) >> (24 - ((bi & 3) << 3))) & 0xff;
      e = load<u32>(groups + ((<usize>g) << 10) + ((<usize>byte) << 2));
      bi++;
    }
    store<i32>(out + (i << 2), (e & VALID) != 0 && (e & EXT) == 0 ? <i32>(e & VAL_MASK) : -1);
  }
  lrUnpin(state, c);
  return count;
}

// ---- the update engine (one writer) -------------------------------------------------------------

/** `width` bits of the address starting at bit `start` (bit 0 = most significant). */
@inline function bitsAt(w: usize, start: u32, width: u32): u32 {
  // Fields never straddle two words: levels start at bit 0, 16 or 24, then every 8 bits.
  const word = load<u32>(w + ((<usize>start >> 5) << 2));
  const off = start & 31;
  return <u32>((<u64>word << (<u64>off)) >> (<u64>(32 - width))) & ((1 << width) - 1);
}

function allocGroup(copy: usize, topBits: u32, groupCap: u32): i32 {
  const free = load<u32>(copy, C_FREE);
  if (free != 0 || load<u32>(copy, C_USED) < groupCap) store<u32>(copy, load<u32>(copy, C_LIVE) + 1, C_LIVE);
  if (free != 0) {
    store<u32>(copy, load<u32>(groupAt(copy, topBits, free - 1)), C_FREE);
    return <i32>(free - 1);
  }
  const used = load<u32>(copy, C_USED);
  if (used >= groupCap) return -1;
  store<u32>(copy, used + 1, C_USED);
  return <i32>used;
}

function freeGroup(copy: usize, topBits: u32, g: u32): void {
  store<u32>(groupAt(copy, topBits, g), load<u32>(copy, C_FREE));
  store<u32>(copy, g + 1, C_FREE);
  store<u32>(copy, load<u32>(copy, C_LIVE) - 1, C_LIVE);
}

/**
 * Applies one op to the entry at `p` and, when it is extended, to its whole subtree. Add: every
 * entry that is invalid or no more specific than `len` takes `ne`. Delete: every entry that
 * belongs to the deleted route (depth == len) takes the covering route `ne`; groups left uniform
 * collapse into their parent entry. `levelEnd` is the bit where p's level ends.
 */
function fill(copy: usize, topBits: u32, p: usize, levelEnd: u32, len: u32, ne: u32, del: bool): void {
  const e = load<u32>(p);
  if ((e & EXT) != 0) {
    const gp = groupAt(copy, topBits, e & VAL_MASK);
    for (let j: usize = 0; j < 256; j++) fill(copy, topBits, gp + (j << 2), levelEnd + 8, len, ne, del);
    if (del) collapse(copy, topBits, p, levelEnd);
  } else if (del ? ((e & VALID) != 0 && depthOf(e) == len) : ((e & VALID) == 0 || depthOf(e) <= len)) {
    store<u32>(p, ne);
  }
}

/** Folds the group under entry `p` back into `p` when all its entries are one plain entry. */
function collapse(copy: usize, topBits: u32, p: usize, levelEnd: u32): void {
  const g = load<u32>(p) & VAL_MASK;
  const gp = groupAt(copy, topBits, g);
  const first = load<u32>(gp);
  if ((first & EXT) != 0 || depthOf(first) > levelEnd) return;
  for (let j: usize = 1; j < 256; j++) if (load<u32>(gp + (j << 2)) != first) return;
  store<u32>(p, first);
  freeGroup(copy, topBits, g);
}

/** One op on one copy; 0, or -1 when a group was needed and none was left. */
function update(copy: usize, topBits: u32, groupCap: u32, table: usize, start: u32, width: u32, w: usize, len: u32, ne: u32, del: bool): i32 {
  const end = start + width;
  const idx = bitsAt(w, start, width);
  if (len <= end) {
    const span: u32 = 1 << (end - len);
    const first = idx & ~(span - 1);
    for (let i: u32 = 0; i < span; i++) fill(copy, topBits, table + ((<usize>(first + i)) << 2), end, len, ne, del);
    return 0;
  }
  const p = table + ((<usize>idx) << 2);
  let e = load<u32>(p);
  if ((e & EXT) == 0) {
    if (del) return 0; // by the invariant, nothing longer than `end` lives here
    const g = allocGroup(copy, topBits, groupCap);
    if (g < 0) return -1;
    const gp = groupAt(copy, topBits, <u32>g);
    for (let j: usize = 0; j < 256; j++) store<u32>(gp + (j << 2), e);
    e = EXT | <u32>g;
    store<u32>(p, e);
  }
  const st = update(copy, topBits, groupCap, groupAt(copy, topBits, e & VAL_MASK), end, 8, w, len, ne, del);
  if (del) collapse(copy, topBits, p, end);
  return st;
}

/** Ops [0, n) on one copy; returns how many succeeded (stops at the first that failed). */
function applyOps(state: usize, copy: usize, ops: usize, n: u32): u32 {
  const topBits = load<u32>(state, TOP_BITS);
  const groupCap = load<u32>(state, GROUP_CAP);
  const maxLen: u32 = topBits == 24 ? 32 : 128;
  for (let i: u32 = 0; i < n; i++) {
    const op = ops + (<usize>i) * LPM_OP_BYTES;
    const kind = load<u32>(op, 0);
    const len = load<u32>(op, 4);
    const nh = load<u32>(op, 8);
    const coverLen = load<u32>(op, 12);
    if (len > maxLen || nh > VAL_MASK || (kind != LPM_OP_ADD && kind != LPM_OP_DELETE)) return i;
    const del = kind == LPM_OP_DELETE;
    const ne: u32 = del ? (coverLen == LPM_NO_COVER ? 0 : VALID | ((coverLen & 0xff) << 22) | nh) : VALID | (len << 22) | nh;
    if (update(copy, topBits, groupCap, copy + C_TOP, 0, topBits, op + 16, len, ne, del) < 0) return i;
  }
  return n;
}

/**
 * Applies `n` ops (Left-Right: inactive copy, flip, drain, other copy). Returns how many were
 * applied (ops after the first failing one are not applied; it failed for want of groups or a
 * bad field), or LPM_E_BUSY when a reader never left a copy (the next call resynchronises).
 */
export function flow_lpm_apply(state: usize, ops: usize, n: i32): i32 {
  if (!headerOk(state, LPM_MAGIC, LPM_LAYOUT, LPM_CTRL_BYTES)) return LPM_E_STATE;
  if (n < 0 || !rangeOk(ops, <u64>n * LPM_OP_BYTES)) return LPM_E_RANGE;
  const idle = lrBegin(state);
  if (idle < 0) return LPM_E_BUSY;
  const done = applyOps(state, copyAt(state, <u32>idle), ops, <u32>n);
  if (!lrFlip(state, <u32>idle)) return LPM_E_BUSY;
  // The same ops, including a failing one (it fails at the same point), keep the copies equal.
  applyOps(state, copyAt(state, <u32>idle ^ 1), ops, done < <u32>n ? done + 1 : done);
  return <i32>done;
}

/** Groups in use in the active copy (figure of merit for memory). */
export function flow_lpm_groups_used(state: usize): i32 {
  const copy = copyAt(state, atomic.load<u32>(state, LR_ACTIVE));
  return <i32>load<u32>(copy, C_LIVE);
}
