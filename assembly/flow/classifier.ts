// Priority packet classifier on (src IPv4, dst IPv4, src port, dst port, protocol): TupleMerge
// (Daly, Bruschi, Linguaglossa, Pontarelli, Rossi, Tollet, Torng, Yourstone, IEEE/ACM ToN 2019).
//
// Rules are grouped into a few hash tables. A table has a tuple (how many leading bits of each
// field it hashes: src length, dst length, src/dst port prefix lengths, protocol mask); a rule
// may go into any table whose tuple is no longer than its own in every field, as long as the
// table holds fewer than `collisionLimit` rules with that rule's masked key. That relaxation is
// what makes TupleMerge beat tuple-space search: far fewer tables than distinct tuples. A lookup
// probes tables in order of the best rule they hold and stops as soon as the best match found
// so far beats every remaining table. Updates are one hash insert or unlink: no rebuild.
//
// All tables share ONE bucket array; the bucket of (table, masked key) holds a chain of rule
// records sorted by rank, so a chain walk stops at its first match. Chains may mix tables: any
// rule in any chain that matches the packet is a real match, so mixing never breaks correctness.
//
// Rank = priority << 32 | ruleId (lower wins): ties in priority go to the lower rule id.
//
// State region 'FCLS' (layout 1):
//   +0    header (64 B)
//   +64   u32 seq          seqlock: odd while a writer is inside; readers retry a burst when it moved
//   +68   u32 ruleCap      +72 u32 bucketMask   +76 u32 tableCap    +80 u32 tableCount (ever used)
//   +84   u32 ruleCount    +88 u32 freeHead     +92 u32 highWater   +96 u32 collisionLimit
//   +100  u32 seed         +104 u32 rulesOff    +108 u32 bucketsOff +112 u32 tablesOff
//   +116  u32 orderOff     +120 u32 relaxStep   +124 u32 orderCount   +128 4 × u64 hash multipliers
//   +160  u32 auxOff
//   tables:  tableCap × 32 B   +0 srcMask +4 dstMask +8 portMask (sport | dport << 16) +12 protoMask
//                              +16 u64 bestRank (conservative bound; MAX when empty) +24 count +28 tuple
//   order:   tableCap × u32    non-empty tables sorted by bestRank
//   buckets: (bucketMask + 1) × 8 B: u32 chain head = rule slot + 1 (0 = empty), u32 head's priority
//   rules:   ruleCap × 32 B    +0 srcValue +4 dstValue +8 sport lo|hi<<16 +12 dport lo|hi<<16
//                              +16 srcLen | dstLen << 8 | protoValue << 16 | protoMask << 24
//                              +20 priority +24 next (slot + 1) +28 ruleId
//            (half a cache line: what a lookup touches, nothing else)
//   aux:     ruleCap × 16 B    +0 table +4 bucket +8 live +12 free-list link (writers only)
//
// Tuple packing: srcLen | dstLen << 6 | sportLen << 12 | dportLen << 17 | protoLen << 22.

import { headerOk } from '../common/header';
import { finish64, rangeOk } from './hash';

export const CLS_MAGIC: u32 = 0x534c4346; // 'FCLS'
export const CLS_LAYOUT: u32 = 1;
export const CLS_CTRL_BYTES: u32 = 192;
export const CLS_RULE_BYTES: u32 = 32;
export const CLS_AUX_BYTES: u32 = 16;
export const CLS_TABLE_BYTES: u32 = 32;
export const CLS_HEADER_WORDS: u32 = 5;

// Status codes (negative), shared with the TS facade through these exports.
export const CLS_E_STATE: i32 = -1;
export const CLS_E_RANGE: i32 = -2;
export const CLS_E_FULL: i32 = -3;
export const CLS_E_TABLES: i32 = -4;
export const CLS_E_SLOT: i32 = -5;
export const CLS_E_BUSY: i32 = -6;

const SEQ: usize = 64;
const RULE_CAP: usize = 68;
const BUCKET_MASK: usize = 72;
const TABLE_CAP: usize = 76;
const TABLE_COUNT: usize = 80;
const RULE_COUNT: usize = 84;
const FREE_HEAD: usize = 88;
const HIGH_WATER: usize = 92;
const COLL_LIMIT: usize = 96;
const SEED: usize = 100;
const RULES_OFF: usize = 104;
const BUCKETS_OFF: usize = 108;
const TABLES_OFF: usize = 112;
const ORDER_OFF: usize = 116;
const RELAX: usize = 120;
const ORDER_COUNT: usize = 124;
const AUX_OFF: usize = 160;
const MULT: usize = 128; // 4 × u64 hash multipliers, derived from the seed at init

const T_SMASK: usize = 0;
const T_DMASK: usize = 4;
const T_PMASK: usize = 8;
const T_PRMASK: usize = 12;
const T_BEST: usize = 16;
const T_COUNT: usize = 24;
const T_TUPLE: usize = 28;

const R_SV: usize = 0;
const R_DV: usize = 4;
const R_SP: usize = 8;
const R_DP: usize = 12;
const R_META: usize = 16;
const R_PRIO: usize = 20;
const R_NEXT: usize = 24;
const R_ID: usize = 28;

const A_TABLE: usize = 0;
const A_BUCKET: usize = 4;
const A_LIVE: usize = 8;
const A_FREE: usize = 12;

const RANK_NONE: u64 = 0xffffffffffffffff;
const MAX_SPINS: i32 = 1 << 22;

@inline function align64(x: u64): u64 {
  return (x + 63) & ~(<u64>63);
}

/** Bytes a classifier state region needs (header included); 0 when the sizes are out of range. */
export function flow_cls_bytes(ruleCap: u32, tableCap: u32, bucketCount: u32): f64 {
  if (ruleCap == 0 || tableCap == 0 || tableCap > 1024 || bucketCount == 0 || (bucketCount & (bucketCount - 1)) != 0) return 0;
  let n: u64 = CLS_CTRL_BYTES;
  n += align64(<u64>tableCap * CLS_TABLE_BYTES);
  n += align64(<u64>tableCap * 4);
  n += align64(<u64>bucketCount * 8);
  n += align64(<u64>ruleCap * CLS_RULE_BYTES);
  n += <u64>ruleCap * CLS_AUX_BYTES;
  return <f64>n;
}

/** Lays out a zeroed state region (header already written by the host). */
export function flow_cls_init(state: usize, ruleCap: u32, tableCap: u32, bucketCount: u32, seed: u32, collisionLimit: u32, relaxStep: u32): i32 {
  const need = flow_cls_bytes(ruleCap, tableCap, bucketCount);
  if (need == 0 || !headerOk(state, CLS_MAGIC, CLS_LAYOUT, <u32>need) || !rangeOk(state, <u64>need)) return CLS_E_STATE;
  if (collisionLimit == 0 || relaxStep == 0 || relaxStep > 32) return CLS_E_STATE;
  let off: u64 = CLS_CTRL_BYTES;
  const tablesOff = off;
  off += align64(<u64>tableCap * CLS_TABLE_BYTES);
  const orderOff = off;
  off += align64(<u64>tableCap * 4);
  const bucketsOff = off;
  off += align64(<u64>bucketCount * 8);
  store<u32>(state, 0, SEQ);
  store<u32>(state, ruleCap, RULE_CAP);
  store<u32>(state, bucketCount - 1, BUCKET_MASK);
  store<u32>(state, tableCap, TABLE_CAP);
  store<u32>(state, 0, TABLE_COUNT);
  store<u32>(state, 0, RULE_COUNT);
  store<u32>(state, 0, FREE_HEAD);
  store<u32>(state, 0, HIGH_WATER);
  store<u32>(state, collisionLimit, COLL_LIMIT);
  store<u32>(state, seed, SEED);
  store<u32>(state, <u32>off, RULES_OFF);
  store<u32>(state, <u32>(off + align64(<u64>ruleCap * CLS_RULE_BYTES)), AUX_OFF);
  store<u32>(state, <u32>bucketsOff, BUCKETS_OFF);
  store<u32>(state, <u32>tablesOff, TABLES_OFF);
  store<u32>(state, <u32>orderOff, ORDER_OFF);
  store<u32>(state, relaxStep, RELAX);
  store<u32>(state, 0, ORDER_COUNT);
  let x: u64 = <u64>seed;
  for (let i: usize = 0; i < 4; i++) {
    x = finish64(x + 0x9e3779b97f4a7c15);
    store<u64>(state + MULT + (i << 3), x | 1);
  }
  for (let t: u32 = 0; t < tableCap; t++) store<u64>(tableAt(state, t), RANK_NONE, T_BEST);
  return 0;
}

@inline function tableAt(state: usize, t: u32): usize {
  return state + load<u32>(state, TABLES_OFF) + (<usize>t) * CLS_TABLE_BYTES;
}

@inline function ruleAt(state: usize, slot: u32): usize {
  return state + load<u32>(state, RULES_OFF) + (<usize>slot) * CLS_RULE_BYTES;
}

@inline function auxAt(state: usize, slot: u32): usize {
  return state + load<u32>(state, AUX_OFF) + (<usize>slot) * CLS_AUX_BYTES;
}

/** Mask of a prefix length 0..32 (shift counts wrap in Wasm, so go through 64 bits). */
@inline function lenMask(len: u32): u32 {
  return <u32>(<u64>0xffffffff00000000 >> (<u64>len & 63));
}

@inline function rankOf(rec: usize): u64 {
  return ((<u64>load<u32>(rec, R_PRIO)) << 32) | <u64>load<u32>(rec, R_ID);
}

@inline function bucketAt(state: usize, b: u32): usize {
  return state + load<u32>(state, BUCKETS_OFF) + (<usize>b << 3);
}

@inline function orderAt(state: usize, k: u32): usize {
  return state + load<u32>(state, ORDER_OFF) + (<usize>k << 2);
}

// Vector multiply-shift hashing (Dietzfelbinger): sum of 32-bit words times odd 64-bit
// multipliers drawn from the seed, top 32 bits. Universal, and five independent multiplies
// instead of a serial mixing chain: this runs once per table per lookup.
@inline function keyHash(m0: u64, m1: u64, m2: u64, m3: u64, t: u32, s: u32, d: u32, ports: u32, proto: u32): u32 {
  return <u32>(((<u64>s) * m0 + (<u64>d) * m1 + (<u64>ports) * m2 + (<u64>(proto | (t << 8))) * m3) >> 32);
}

@inline function prefixMask32(len: u32): u32 {
  return len == 0 ? 0 : <u32>(0xffffffff << (32 - len));
}

@inline function prefixMask16(len: u32): u32 {
  return len == 0 ? 0 : (<u32>0xffff << (16 - len)) & 0xffff;
}

/** Length of the longest run of leading one bits of a mask (its prefix length when it is one). */
@inline function leadingOnes32(m: u32): u32 {
  return clz<u32>(~m);
}

/** Prefix length (0..16) shared by every value of the inclusive range lo..hi. */
@inline function coverLen16(lo: u32, hi: u32): u32 {
  const x = (lo ^ hi) & 0xffff;
  return x == 0 ? 16 : clz<u32>(x) - 16;
}

@inline function packTuple(s: u32, d: u32, sp: u32, dp: u32, pr: u32): u32 {
  return s | (d << 6) | (sp << 12) | (dp << 17) | (pr << 22);
}

/** Every field of table tuple `t` is no longer than the same field of rule tuple `r`. */
@inline function tupleFits(t: u32, r: u32): bool {
  return (t & 63) <= (r & 63) && ((t >> 6) & 63) <= ((r >> 6) & 63) && ((t >> 12) & 31) <= ((r >> 12) & 31)
    && ((t >> 17) & 31) <= ((r >> 17) & 31) && ((t >> 22) & 15) <= ((r >> 22) & 15);
}

// ---- lookup ---------------------------------------------------------------------------------

/** Walks one chain from slot+1 `r`: the slot+1 of its first rule that matches and beats `best`, or 0. */
@inline function walk(rules: usize, ruleCap: u32, r: u32, best: u64, s: u32, d: u32, sp: u32, dp: u32, pr: u32): u32 {
  let hops: u32 = 0;
  // SAFETY: slots come from chains a writer may be relinking; each is bounds-checked and the
  // walk is bounded by ruleCap hops, so a torn chain costs a retry, never a stray read.
  while (r != 0 && r <= ruleCap && hops < ruleCap) {
    const rec = rules + (<usize>(r - 1)) * CLS_RULE_BYTES;
    if (rankOf(rec) >= best) return 0;
    const spr = load<u32>(rec, R_SP);
    const dpr = load<u32>(rec, R_DP);
    const meta = load<u32>(rec, R_META);
    // All five tests evaluated without short-circuit: one well-predicted branch instead of five.
    if ((<i32>((s & lenMask(meta & 63)) == load<u32>(rec, R_SV))
      & <i32>((d & lenMask((meta >> 8) & 63)) == load<u32>(rec, R_DV))
      & <i32>(sp - (spr & 0xffff) <= (spr >> 16) - (spr & 0xffff))
      & <i32>(dp - (dpr & 0xffff) <= (dpr >> 16) - (dpr & 0xffff))
      & <i32>((pr & (meta >> 24)) == ((meta >> 16) & 0xff))) != 0) return r;
    r = load<u32>(rec, R_NEXT);
    hops++;
  }
  return 0;
}

/** Rule slot + 1 of the best rule matching one header, 0 for none. */
@inline function lookupOne(state: usize, s: u32, d: u32, sp: u32, dp: u32, pr: u32): u32 {
  const mask = load<u32>(state, BUCKET_MASK);
  const ruleCap = load<u32>(state, RULE_CAP);
  const tableCap = load<u32>(state, TABLE_CAP);
  const rules = state + load<u32>(state, RULES_OFF);
  const buckets = state + load<u32>(state, BUCKETS_OFF);
  const tables = state + load<u32>(state, TABLES_OFF);
  const order = state + load<u32>(state, ORDER_OFF);
  const m0 = load<u64>(state, MULT);
  const m1 = load<u64>(state, MULT + 8);
  const m2 = load<u64>(state, MULT + 16);
  const m3 = load<u64>(state, MULT + 24);
  let orderCount = load<u32>(state, ORDER_COUNT);
  if (orderCount > tableCap) orderCount = tableCap;
  const ports = sp | (dp << 16);
  let best: u64 = RANK_NONE;
  let bestSlot: u32 = 0;
  for (let k: u32 = 0; k < orderCount; k++) {
    const t = load<u32>(order + (<usize>k << 2));
    // SAFETY: a table index read while a writer runs may be stale; clamp it into the table array.
    if (t >= tableCap) break;
    const tb = tables + (<usize>t) * CLS_TABLE_BYTES;
    if (load<u64>(tb, T_BEST) >= best) break;
    const h = keyHash(m0, m1, m2, m3, t, s & load<u32>(tb, T_SMASK), d & load<u32>(tb, T_DMASK), ports & load<u32>(tb, T_PMASK), pr & load<u32>(tb, T_PRMASK));
    const bp = buckets + (<usize>(h & mask) << 3);
    const r = load<u32>(bp);
    // The head's priority sits next to it: a chain that cannot beat the best so far is skipped
    // without touching its first rule (most probes end here).
    if (r != 0 && <u64>load<u32>(bp, 4) <= (best >> 32)) {
      const w = walk(rules, ruleCap, r, best, s, d, sp, dp, pr);
      if (w != 0) {
        bestSlot = w;
        best = rankOf(rules + (<usize>(w - 1)) * CLS_RULE_BYTES);
      }
    }
  }
  return bestSlot;
}

/**
 * Classifies `count` headers (5 u32 words each: src, dst, sport, dport, proto) into `out` (one
 * i32 each: the winning rule's id, or -1). Returns `count` or a negative status. Bursts of 32
 * are re-run when a writer changed the classifier under them (seqlock), so a reader on another
 * thread never returns a result mixed from two versions.
 */
export function flow_cls_classify(state: usize, headers: usize, count: i32, out: usize): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  if (count < 0 || !rangeOk(headers, <u64>count * 20) || !rangeOk(out, <u64>count * 4)) return CLS_E_RANGE;
  for (let base: i32 = 0; base < count; base += 32) {
    const n = min(32, count - base);
    let spins: i32 = 0;
    while (true) {
      const s0 = atomic.load<u32>(state, SEQ);
      if ((s0 & 1) == 0) {
        for (let i: i32 = 0; i < n; i++) {
          // SAFETY: i < count, so the header and the output word lie inside the ranges checked above.
          const hp = headers + <usize>(base + i) * 20;
          const slot = lookupOne(state, load<u32>(hp, 0), load<u32>(hp, 4), load<u32>(hp, 8) & 0xffff, load<u32>(hp, 12) & 0xffff, load<u32>(hp, 16) & 0xff);
          store<i32>(out + (<usize>(base + i) << 2), slot == 0 ? -1 : <i32>load<u32>(ruleAt(state, slot - 1), R_ID));
        }
        if (atomic.load<u32>(state, SEQ) == s0) break;
      }
      if (++spins > MAX_SPINS) return CLS_E_BUSY;
    }
  }
  return count;
}

// ---- updates (one writer at a time; readers on other threads are kept safe by the seqlock) ----

@inline function writeBegin(state: usize): void {
  atomic.add<u32>(state, 1, SEQ);
}

@inline function writeEnd(state: usize): void {
  atomic.add<u32>(state, 1, SEQ);
}

/** Rules of table `t` in the chain of bucket `b` whose key under t's masks equals the given one. */
function collisions(state: usize, t: u32, b: u32, ks: u32, kd: u32, kp: u32, kpr: u32): u32 {
  const tb = tableAt(state, t);
  const sm = load<u32>(tb, T_SMASK);
  const dm = load<u32>(tb, T_DMASK);
  const pm = load<u32>(tb, T_PMASK);
  const prm = load<u32>(tb, T_PRMASK);
  let n: u32 = 0;
  let r = load<u32>(bucketAt(state, b));
  while (r != 0) {
    const rec = ruleAt(state, r - 1);
    if (load<u32>(auxAt(state, r - 1), A_TABLE) == t && (load<u32>(rec, R_SV) & sm) == ks && (load<u32>(rec, R_DV) & dm) == kd
      && (((load<u32>(rec, R_SP) & 0xffff) | (load<u32>(rec, R_DP) << 16)) & pm) == kp && ((load<u32>(rec, R_META) >> 16) & prm) == kpr) n++;
    r = load<u32>(rec, R_NEXT);
  }
  return n;
}

@inline function ruleBucket(state: usize, t: u32, sv: u32, dv: u32, plo: u32, pv: u32): u32 {
  const tb = tableAt(state, t);
  const h = keyHash(load<u64>(state, MULT), load<u64>(state, MULT + 8), load<u64>(state, MULT + 16), load<u64>(state, MULT + 24),
    t, sv & load<u32>(tb, T_SMASK), dv & load<u32>(tb, T_DMASK), plo & load<u32>(tb, T_PMASK), pv & load<u32>(tb, T_PRMASK));
  return h & load<u32>(state, BUCKET_MASK);
}

@inline function roomIn(state: usize, t: u32, sv: u32, dv: u32, plo: u32, pv: u32, limit: u32): bool {
  const tb = tableAt(state, t);
  const b = ruleBucket(state, t, sv, dv, plo, pv);
  return collisions(state, t, b, sv & load<u32>(tb, T_SMASK), dv & load<u32>(tb, T_DMASK), plo & load<u32>(tb, T_PMASK), pv & load<u32>(tb, T_PRMASK)) < limit;
}

/** A live table with exactly this tuple, or -1. */
function tableWithTuple(state: usize, tuple: u32): i32 {
  const n = load<u32>(state, TABLE_COUNT);
  for (let t: u32 = 0; t < n; t++) {
    const tb = tableAt(state, t);
    if (load<u32>(tb, T_COUNT) != 0 && load<u32>(tb, T_TUPLE) == tuple) return <i32>t;
  }
  return -1;
}

/** Creates (or recycles an empty) table with this tuple; -1 when the table array is full. */
function newTable(state: usize, tuple: u32): i32 {
  let t: i32 = -1;
  const n = load<u32>(state, TABLE_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(tableAt(state, i), T_COUNT) == 0) {
      t = <i32>i;
      break;
    }
  }
  if (t < 0) {
    if (n >= load<u32>(state, TABLE_CAP)) return -1;
    t = <i32>n;
    store<u32>(state, n + 1, TABLE_COUNT);
  }
  const tb = tableAt(state, <u32>t);
  store<u32>(tb, prefixMask32(tuple & 63), T_SMASK);
  store<u32>(tb, prefixMask32((tuple >> 6) & 63), T_DMASK);
  store<u32>(tb, prefixMask16((tuple >> 12) & 31) | (prefixMask16((tuple >> 17) & 31) << 16), T_PMASK);
  const prLen = (tuple >> 22) & 15;
  store<u32>(tb, prLen == 0 ? 0 : (<u32>0xff << (8 - prLen)) & 0xff, T_PRMASK);
  store<u64>(tb, RANK_NONE, T_BEST);
  store<u32>(tb, 0, T_COUNT);
  store<u32>(tb, tuple, T_TUPLE);
  return t;
}

/** Picks the table for a rule: first fitting table with room, else a new relaxed one. */
function chooseTable(state: usize, tuple: u32, sv: u32, dv: u32, plo: u32, pv: u32): i32 {
  const limit = load<u32>(state, COLL_LIMIT);
  const n = load<u32>(state, TABLE_COUNT);
  let fallback: i32 = -1;
  // Tables in lookup order (best rule first): a rule joins the earliest table that can take it,
  // which keeps high-priority rules together and lets lookups stop early.
  const oc = load<u32>(state, ORDER_COUNT);
  for (let k: u32 = 0; k < oc; k++) {
    const t = load<u32>(orderAt(state, k));
    const tb = tableAt(state, t);
    if (load<u32>(tb, T_COUNT) == 0 || !tupleFits(load<u32>(tb, T_TUPLE), tuple)) continue;
    if (roomIn(state, t, sv, dv, plo, pv, limit)) return <i32>t;
    if (load<u32>(tb, T_TUPLE) == tuple) fallback = <i32>t;
  }
  // Relax: shorten each address length to a multiple of relaxStep; ports keep only an exact
  // match (a range's covering prefix rarely separates rules); the protocol stays as it is.
  const step = load<u32>(state, RELAX);
  const s = tuple & 63;
  const d = (tuple >> 6) & 63;
  const sp = (tuple >> 12) & 31;
  const dp = (tuple >> 17) & 31;
  const relaxed = packTuple(s - s % step, d - d % step, sp == 16 ? 16 : 0, dp == 16 ? 16 : 0, (tuple >> 22) & 15);
  if (tableWithTuple(state, relaxed) < 0) {
    const t = newTable(state, relaxed);
    if (t >= 0) return t;
  } else if (tableWithTuple(state, tuple) < 0) {
    const t = newTable(state, tuple);
    if (t >= 0) return t;
  }
  // Rules alike in every hashed field: no table can separate them, so exceed the limit.
  if (fallback >= 0) return fallback;
  for (let t: u32 = 0; t < n; t++) {
    const tb = tableAt(state, t);
    if (load<u32>(tb, T_COUNT) != 0 && tupleFits(load<u32>(tb, T_TUPLE), tuple)) return <i32>t;
  }
  return -1;
}

/** Moves table `t` to its place in the order array (sorted by bestRank), adding it if absent. */
function reorder(state: usize, t: u32): void {
  let n = load<u32>(state, ORDER_COUNT);
  let at: u32 = n;
  for (let k: u32 = 0; k < n; k++) {
    if (load<u32>(orderAt(state, k)) == t) {
      at = k;
      break;
    }
  }
  if (at == n) {
    store<u32>(orderAt(state, n), t);
    store<u32>(state, n + 1, ORDER_COUNT);
    n++;
  }
  const best = load<u64>(tableAt(state, t), T_BEST);
  while (at > 0 && load<u64>(tableAt(state, load<u32>(orderAt(state, at - 1))), T_BEST) > best) {
    store<u32>(orderAt(state, at), load<u32>(orderAt(state, at - 1)));
    at--;
  }
  while (at + 1 < n && load<u64>(tableAt(state, load<u32>(orderAt(state, at + 1))), T_BEST) < best) {
    store<u32>(orderAt(state, at), load<u32>(orderAt(state, at + 1)));
    at++;
  }
  store<u32>(orderAt(state, at), t);
}

function dropFromOrder(state: usize, t: u32): void {
  const n = load<u32>(state, ORDER_COUNT);
  let k: u32 = 0;
  while (k < n && load<u32>(orderAt(state, k)) != t) k++;
  if (k == n) return;
  for (; k + 1 < n; k++) store<u32>(orderAt(state, k), load<u32>(orderAt(state, k + 1)));
  store<u32>(state, n - 1, ORDER_COUNT);
}

/**
 * Inserts a rule. Values are masked here (bits outside a mask never matter). Port fields are
 * lo | hi << 16 with lo <= hi (checked by the facade, re-checked here). Returns the rule's slot
 * (>= 0) or a negative status.
 */
export function flow_cls_insert(state: usize, sv: u32, sm: u32, dv: u32, dm: u32, sports: u32, dports: u32, pv: u32, pm: u32, priority: u32, ruleId: u32): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  if ((sports & 0xffff) > (sports >> 16) || (dports & 0xffff) > (dports >> 16)) return CLS_E_RANGE;
  sv &= sm;
  dv &= dm;
  pm &= 0xff;
  pv &= pm;
  // Slot: from the free list, else the next never-used one.
  let slot: u32;
  const free = load<u32>(state, FREE_HEAD);
  if (free != 0) {
    slot = free - 1;
  } else {
    slot = load<u32>(state, HIGH_WATER);
    if (slot >= load<u32>(state, RULE_CAP)) return CLS_E_FULL;
  }
  const tuple = packTuple(leadingOnes32(sm), leadingOnes32(dm), coverLen16(sports & 0xffff, sports >> 16), coverLen16(dports & 0xffff, dports >> 16), leadingOnes32(pm << 24) > 8 ? 8 : leadingOnes32(pm << 24));
  const plo = (sports & 0xffff) | ((dports & 0xffff) << 16);

  writeBegin(state);
  const t = chooseTable(state, tuple, sv, dv, plo, pv);
  if (t < 0) {
    writeEnd(state);
    return CLS_E_TABLES;
  }
  if (free != 0) store<u32>(state, load<u32>(auxAt(state, slot), A_FREE), FREE_HEAD);
  else store<u32>(state, slot + 1, HIGH_WATER);
  const rank = ((<u64>priority) << 32) | <u64>ruleId;
  const b = ruleBucket(state, <u32>t, sv, dv, plo, pv);
  const rec = ruleAt(state, slot);
  store<u32>(rec, sv, R_SV);
  store<u32>(rec, dv, R_DV);
  store<u32>(rec, sports, R_SP);
  store<u32>(rec, dports, R_DP);
  store<u32>(rec, (tuple & 63) | (((tuple >> 6) & 63) << 8) | (pv << 16) | (pm << 24), R_META);
  store<u32>(rec, priority, R_PRIO);
  store<u32>(rec, ruleId, R_ID);
  const aux = auxAt(state, slot);
  store<u32>(aux, <u32>t, A_TABLE);
  store<u32>(aux, b, A_BUCKET);
  store<u32>(aux, 1, A_LIVE);
  // Link into the chain, sorted by rank.
  let prev: usize = bucketAt(state, b);
  let prevOff: usize = 0;
  let r = load<u32>(prev);
  while (r != 0 && rankOf(ruleAt(state, r - 1)) < rank) {
    prev = ruleAt(state, r - 1);
    prevOff = R_NEXT;
    r = load<u32>(prev, R_NEXT);
  }
  store<u32>(rec, r, R_NEXT);
  store<u32>(prev + prevOff, slot + 1);
  if (prevOff == 0) store<u32>(prev, priority, 4); // new head: its priority goes beside it
  const tb = tableAt(state, <u32>t);
  store<u32>(tb, load<u32>(tb, T_COUNT) + 1, T_COUNT);
  if (rank < load<u64>(tb, T_BEST)) store<u64>(tb, rank, T_BEST);
  reorder(state, <u32>t);
  store<u32>(state, load<u32>(state, RULE_COUNT) + 1, RULE_COUNT);
  writeEnd(state);
  return <i32>slot;
}

/** Removes the rule in `slot`. Returns 0 or a negative status (CLS_E_SLOT: not a live rule). */
export function flow_cls_remove(state: usize, slot: u32): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  if (slot >= load<u32>(state, HIGH_WATER)) return CLS_E_SLOT;
  const rec = ruleAt(state, slot);
  const aux = auxAt(state, slot);
  if (load<u32>(aux, A_LIVE) == 0) return CLS_E_SLOT;
  writeBegin(state);
  let prev: usize = bucketAt(state, load<u32>(aux, A_BUCKET));
  let prevOff: usize = 0;
  let r = load<u32>(prev);
  while (r != 0 && r != slot + 1) {
    prev = ruleAt(state, r - 1);
    prevOff = R_NEXT;
    r = load<u32>(prev, R_NEXT);
  }
  // The record keeps its `next` so a reader standing on it still reaches the chain's end; it is
  // reused only by a later insert, after which readers that saw it retry (seq moved).
  const next = load<u32>(rec, R_NEXT);
  store<u32>(prev + prevOff, next);
  if (prevOff == 0) store<u32>(prev, next != 0 ? load<u32>(ruleAt(state, next - 1), R_PRIO) : 0, 4);
  store<u32>(aux, 0, A_LIVE);
  const t = load<u32>(aux, A_TABLE);
  const tb = tableAt(state, t);
  const left = load<u32>(tb, T_COUNT) - 1;
  store<u32>(tb, left, T_COUNT);
  if (left == 0) {
    store<u64>(tb, RANK_NONE, T_BEST);
    dropFromOrder(state, t);
  }
  // Otherwise bestRank stays as it was: a conservative bound (never worse than the truth).
  store<u32>(aux, load<u32>(state, FREE_HEAD), A_FREE);
  store<u32>(state, slot + 1, FREE_HEAD);
  store<u32>(state, load<u32>(state, RULE_COUNT) - 1, RULE_COUNT);
  writeEnd(state);
  return 0;
}

/** Live rules. */
export function flow_cls_rule_count(state: usize): i32 {
  return <i32>load<u32>(state, RULE_COUNT);
}

/** Non-empty tables (what a lookup may probe). */
export function flow_cls_table_count(state: usize): i32 {
  return <i32>load<u32>(state, ORDER_COUNT);
}

