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
// IPv4 lookups do not read the top table: each copy also holds a compact image of it (a direct
// table of 2^16 entries and Poptrie-style nodes, lpm4-nodes.ts; the reader is lpm4-lookup.ts)
// that the apply path brings up to date after each batch, for the /16s the batch covered. The
// state region layout is in lpm-layout.ts.
//
// Update ops (LPM_OP_BYTES each, written by the facade): +0 kind (1 add, 2 delete) +4 length
//   +8 next hop (add) or the covering route's next hop (delete) +12 covering length, or
//   0xffffffff when no route covers the deleted one +16 four address words, most significant
//   first (IPv4: word 0 only).

import { headerOk } from '../common/header';
import { rangeOk } from './hash';
import {
  LR_ACTIVE,
  LR_COPY0,
  LR_COPY_BYTES,
  LR_SYNC_NEEDED,
  lrBegin,
  lrCopyAt,
  lrFlip,
  lrPin,
  lrUnpin,
} from './left-right';
import {
  C_FREE,
  C_LIVE,
  C_TOP,
  C_USED,
  EXT,
  GROUP_CAP,
  LPM_CTRL_BYTES,
  LPM_E_BUSY,
  LPM_E_RANGE,
  LPM_E_STATE,
  LPM_LAYOUT,
  LPM_MAGIC,
  LPM_NODE_MAX_UNITS,
  LPM_NODE_MIN_UNITS,
  LPM_NO_COVER,
  LPM_OP_ADD,
  LPM_OP_ADDR,
  LPM_OP_BYTES,
  LPM_OP_COVER_LENGTH,
  LPM_OP_DELETE,
  LPM_OP_KIND,
  LPM_OP_LENGTH,
  LPM_OP_NEXT_HOP,
  LPM_STOP_BAD_OP,
  LPM_STOP_GROUPS,
  LPM_STOP_NODES,
  LPM_STOP_NONE,
  NODE_UNITS,
  SCRATCH_BYTES,
  STOP,
  TOP_BITS,
  VALID,
  VAL_MASK,
  copyBytes,
  groupAt,
} from './lpm-layout';
import {
  nodeCloneDirty,
  nodeCompactions,
  nodeHeapInit,
  nodeUnitsLive,
  nodeMarkDirty,
  nodeRebuildDirty,
} from './lpm4-nodes';

export {
  LPM_MAGIC,
  LPM_LAYOUT,
  LPM_CTRL_BYTES,
  LPM_OP_BYTES,
  LPM_OP_KIND,
  LPM_OP_LENGTH,
  LPM_OP_NEXT_HOP,
  LPM_OP_COVER_LENGTH,
  LPM_OP_ADDR,
  LPM_MAX_NEXT_HOP,
  LPM_OP_ADD,
  LPM_OP_DELETE,
  LPM_NO_COVER,
  LPM_E_STATE,
  LPM_E_RANGE,
  LPM_E_BUSY,
  LPM_STOP_NONE,
  LPM_STOP_GROUPS,
  LPM_STOP_NODES,
  LPM_STOP_BAD_OP,
  LPM_NODE_MIN_UNITS,
  LPM_NODE_MAX_UNITS,
  LPM_NODE_MAX_UNITS_PER_NODE,
} from './lpm-layout';
export { flow_lpm4_lookup } from './lpm4-lookup';

@inline function depthOf(e: u32): u32 {
  return (e >> 22) & 0xff;
}

/**
 * Bytes of a route table state region; 0 when the sizes are out of range. `nodeUnits`: the IPv4
 * node heap, in 8-byte units per copy, in [LPM_NODE_MIN_UNITS, LPM_NODE_MAX_UNITS]; 0 for IPv6.
 */
export function flow_lpm_bytes(topBits: u32, groupCap: u32, nodeUnits: u32): f64 {
  if ((topBits != 24 && topBits != 16) || groupCap > VAL_MASK + 1) return 0;
  if (topBits == 24 ? nodeUnits < LPM_NODE_MIN_UNITS || nodeUnits > LPM_NODE_MAX_UNITS : nodeUnits != 0) return 0;
  const total =
    <u64>LPM_CTRL_BYTES + 2 * copyBytes(topBits, groupCap, nodeUnits) + (nodeUnits != 0 ? <u64>SCRATCH_BYTES : 0);
  // Offsets inside the region are u32.
  return total > 0xffffffff ? 0 : <f64>total;
}

export function flow_lpm_init(state: usize, topBits: u32, groupCap: u32, nodeUnits: u32): i32 {
  const need = flow_lpm_bytes(topBits, groupCap, nodeUnits);
  if (need == 0 || !headerOk(state, LPM_MAGIC, LPM_LAYOUT, <u32>need) || !rangeOk(state, <u64>need)) return LPM_E_STATE;
  const cb = copyBytes(topBits, groupCap, nodeUnits);
  store<u32>(state, 0, LR_ACTIVE);
  store<u32>(state, topBits, TOP_BITS);
  store<u32>(state, groupCap, GROUP_CAP);
  store<u32>(state, <u32>cb, LR_COPY_BYTES);
  store<u32>(state, LPM_CTRL_BYTES, LR_COPY0);
  store<u32>(state, <u32>(LPM_CTRL_BYTES + cb), LR_COPY0 + 4);
  store<u32>(state, 0, LR_SYNC_NEEDED);
  store<u32>(state, nodeUnits, NODE_UNITS);
  store<u32>(state, LPM_STOP_NONE, STOP);
  // The region is zeroed: empty top tables, groups and direct tables (every /16 a leaf, no route).
  if (nodeUnits != 0) for (let c: u32 = 0; c < 2; c++) nodeHeapInit(copyAt(state, c), groupCap);
  return 0;
}

@inline function copyAt(state: usize, c: u32): usize {
  return lrCopyAt(state, c);
}

// ---- readers (IPv4: flow_lpm4_lookup in lpm4-nodes.ts) ---------------------------------------------

/** IPv6 lookups: `count` addresses (4 u32 words each, most significant first) → next hop or -1. */
export function flow_lpm6_lookup(state: usize, addrs: usize, count: i32, out: usize): i32 {
  if (!headerOk(state, LPM_MAGIC, LPM_LAYOUT, LPM_CTRL_BYTES) || load<u32>(state, TOP_BITS) != 16) return LPM_E_STATE;
  if (count < 0 || !rangeOk(addrs, (<u64>count) << 4) || !rangeOk(out, (<u64>count) << 2)) return LPM_E_RANGE;
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
      const byte = (load<u32>(a + (((<usize>bi) >> 2) << 2)) >> (24 - ((bi & 3) << 3))) & 0xff;
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
  const word = load<u32>(w + (((<usize>start) >> 5) << 2));
  const off = start & 31;
  return (<u32>(((<u64>word) << (<u64>off)) >> (<u64>(32 - width)))) & ((1 << width) - 1);
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
  } else if (del ? (e & VALID) != 0 && depthOf(e) == len : (e & VALID) == 0 || depthOf(e) <= len) {
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
function update(
  copy: usize,
  topBits: u32,
  groupCap: u32,
  table: usize,
  start: u32,
  width: u32,
  w: usize,
  len: u32,
  ne: u32,
  del: bool,
): i32 {
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
    e = EXT | (<u32>g);
    store<u32>(p, e);
  }
  const st = update(copy, topBits, groupCap, groupAt(copy, topBits, e & VAL_MASK), end, 8, w, len, ne, del);
  if (del) collapse(copy, topBits, p, end);
  return st;
}

@inline function opValid(op: usize, maxLen: u32): bool {
  const kind = load<u32>(op, LPM_OP_KIND);
  return (
    load<u32>(op, LPM_OP_LENGTH) <= maxLen &&
    load<u32>(op, LPM_OP_NEXT_HOP) <= VAL_MASK &&
    (kind == LPM_OP_ADD || kind == LPM_OP_DELETE)
  );
}

/**
 * Ops [0, n) on one copy; returns how many succeeded (stops at the first that failed). IPv4:
 * marks the /16s each op covers for nodeRebuildDirty.
 */
function applyOps(state: usize, copy: usize, ops: usize, n: u32): u32 {
  const topBits = load<u32>(state, TOP_BITS);
  const groupCap = load<u32>(state, GROUP_CAP);
  const nodes = load<u32>(state, NODE_UNITS) != 0;
  const maxLen: u32 = topBits == 24 ? 32 : 128;
  for (let i: u32 = 0; i < n; i++) {
    const op = ops + <usize>i * LPM_OP_BYTES;
    if (!opValid(op, maxLen)) return i;
    const len = load<u32>(op, LPM_OP_LENGTH);
    const nh = load<u32>(op, LPM_OP_NEXT_HOP);
    const coverLen = load<u32>(op, LPM_OP_COVER_LENGTH);
    const del = load<u32>(op, LPM_OP_KIND) == LPM_OP_DELETE;
    const ne: u32 = del
      ? coverLen == LPM_NO_COVER
        ? 0
        : VALID | ((coverLen & 0xff) << 22) | nh
      : VALID | (len << 22) | nh;
    // A route longer than /24 changes the nodes only when its top entry starts or stops being
    // extended (a group's contents are read by lookups directly).
    const topEntry = copy + C_TOP + ((<usize>(load<u32>(op, LPM_OP_ADDR) >> 8)) << 2);
    const wasExt = nodes && len > 24 && (load<u32>(topEntry) & EXT) != 0;
    if (update(copy, topBits, groupCap, copy + C_TOP, 0, topBits, op + LPM_OP_ADDR, len, ne, del) < 0) return i;
    if (nodes && !(wasExt && (load<u32>(topEntry) & EXT) != 0))
      nodeMarkDirty(copy, groupCap, load<u32>(op, LPM_OP_ADDR), len);
  }
  return n;
}

/**
 * The idle copy's nodes for a whole batch do not fit: finds the first op after which the live
 * nodes exceed the heap, and leaves the idle copy holding exactly the ops before it. The active
 * copy is the state before the batch (lrBegin levelled the copies; only the idle one changed).
 * Runs only when the heap is full, so two whole-copy clones are an acceptable price.
 */
function keepOpsThatFit(state: usize, idle: u32, ops: usize, limit: u32): u32 {
  const copy = copyAt(state, idle);
  const before = copyAt(state, idle ^ 1);
  const bytes = <usize>load<u32>(state, LR_COPY_BYTES);
  memory.copy(copy, before, bytes);
  let k: u32 = 0;
  while (k < limit) {
    applyOps(state, copy, ops + <usize>k * LPM_OP_BYTES, 1);
    if (!nodeRebuildDirty(state, copy)) break;
    k++;
  }
  // Ops [0, k) again, as one batch: the same top table and groups as above, hence the same live
  // nodes, which fitted; a compaction, if one is needed, therefore succeeds.
  memory.copy(copy, before, bytes);
  applyOps(state, copy, ops, k);
  nodeRebuildDirty(state, copy);
  return k;
}

/**
 * Applies `n` ops (Left-Right: inactive copy, flip, drain, other copy). Returns how many were
 * applied, or LPM_E_BUSY when a reader never left the idle copy (nothing applied). When the
 * readers of the old copy do not leave after the flip, the batch is in (the active copy has it,
 * and the count is returned) and the next call brings the old copy level before its own. Ops
 * after the first failing one are not applied; flow_lpm_stop says why it failed: no group left,
 * a bad field, or (IPv4) the nodes of the ops up to it do not fit in the node heap even
 * compacted. A failed op changes nothing.
 */
export function flow_lpm_apply(state: usize, ops: usize, n: i32): i32 {
  if (!headerOk(state, LPM_MAGIC, LPM_LAYOUT, LPM_CTRL_BYTES)) return LPM_E_STATE;
  if (n < 0 || !rangeOk(ops, <u64>n * LPM_OP_BYTES)) return LPM_E_RANGE;
  const idle = lrBegin(state);
  if (idle < 0) return LPM_E_BUSY;
  const nodes = load<u32>(state, NODE_UNITS) != 0;
  let done = applyOps(state, copyAt(state, <u32>idle), ops, <u32>n);
  // The same ops, including a failing one (it fails at the same point), keep the copies equal.
  let replay = done < <u32>n ? done + 1 : done;
  let stop =
    done == <u32>n
      ? LPM_STOP_NONE
      : opValid(ops + <usize>done * LPM_OP_BYTES, load<u32>(state, TOP_BITS) == 24 ? 32 : 128)
        ? LPM_STOP_GROUPS
        : LPM_STOP_BAD_OP;
  if (nodes && !nodeRebuildDirty(state, copyAt(state, <u32>idle))) {
    done = keepOpsThatFit(state, <u32>idle, ops, done);
    replay = done;
    stop = LPM_STOP_NODES;
  }
  store<u32>(state, stop, STOP);
  // Readers still on the old copy: it stays as it was, marked for a whole copy by the next write.
  if (!lrFlip(state, <u32>idle)) return <i32>done;
  // The other copy was equal to the idle one before the batch: the same ops give the same top
  // table and groups, and the same allocator steps the same heap, so its nodes can be copied.
  const other = copyAt(state, (<u32>idle) ^ 1);
  applyOps(state, other, ops, replay);
  if (nodes) nodeCloneDirty(state, other, copyAt(state, <u32>idle));
  return <i32>done;
}

/** Why the last flow_lpm_apply stopped before the end of its batch (LPM_STOP_*). */
export function flow_lpm_stop(state: usize): i32 {
  return <i32>load<u32>(state, STOP);
}

/** Groups in use in the active copy (figure of merit for memory). */
export function flow_lpm_groups_used(state: usize): i32 {
  const copy = copyAt(state, atomic.load<u32>(state, LR_ACTIVE));
  return <i32>load<u32>(copy, C_LIVE);
}

/** IPv4: node heap bytes in use in the active copy, the dummy node included; 0 for IPv6. */
export function flow_lpm_node_bytes(state: usize): f64 {
  if (load<u32>(state, NODE_UNITS) == 0) return 0;
  return <f64>nodeUnitsLive(copyAt(state, atomic.load<u32>(state, LR_ACTIVE))) * 8;
}

/** IPv4: how many times the active copy's node heap has been compacted. */
export function flow_lpm_compactions(state: usize): i32 {
  if (load<u32>(state, NODE_UNITS) == 0) return 0;
  return <i32>nodeCompactions(copyAt(state, atomic.load<u32>(state, LR_ACTIVE)));
}
