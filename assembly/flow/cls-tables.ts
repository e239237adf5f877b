// TupleMerge's table management (see classifier.ts): which table a rule joins, the relaxed
// tables it creates, and the lookup order of tables. Writers only, on the copy no reader uses;
// `cls` is that copy's base (cls-layout.ts).

import {
  A_TABLE,
  BUCKET_MASK,
  COLL_LIMIT,
  HEAD_MASK,
  MULT,
  ORDER_COUNT,
  RANK_NONE,
  RELAX,
  R_DP,
  R_DV,
  R_META,
  R_NEXT,
  R_SP,
  R_SV,
  TABLE_CAP,
  TABLE_COUNT,
  T_BEST,
  T_COUNT,
  T_DMASK,
  T_PMASK,
  T_PRMASK,
  T_SMASK,
  T_TUPLE,
  auxAt,
  bucketAt,
  keyHash,
  orderAt,
  packTuple,
  prefixMask16,
  prefixMask32,
  ruleAt,
  tableAt,
  tupleFits,
} from './cls-layout';

/** Rules of table `t` in the chain of bucket `b` whose key under t's masks equals the given one. */
export function collisions(cls: usize, t: u32, b: u32, ks: u32, kd: u32, kp: u32, kpr: u32): u32 {
  const tb = tableAt(cls, t);
  const sm = load<u32>(tb, T_SMASK);
  const dm = load<u32>(tb, T_DMASK);
  const pm = load<u32>(tb, T_PMASK);
  const prm = load<u32>(tb, T_PRMASK);
  let n: u32 = 0;
  let r = load<u32>(bucketAt(cls, b)) & HEAD_MASK;
  while (r != 0) {
    const rec = ruleAt(cls, r - 1);
    if (
      load<u32>(auxAt(cls, r - 1), A_TABLE) == t &&
      (load<u32>(rec, R_SV) & sm) == ks &&
      (load<u32>(rec, R_DV) & dm) == kd &&
      (((load<u32>(rec, R_SP) & 0xffff) | (load<u32>(rec, R_DP) << 16)) & pm) == kp &&
      ((load<u32>(rec, R_META) >> 16) & prm) == kpr
    )
      n++;
    r = load<u32>(rec, R_NEXT);
  }
  return n;
}

/** keyHash of a rule's key in table `t` (its bucket is this & bucketMask). */
@inline export function ruleHash(cls: usize, t: u32, sv: u32, dv: u32, plo: u32, pv: u32): u32 {
  const tb = tableAt(cls, t);
  return keyHash(
    load<u64>(cls, MULT),
    load<u64>(cls, MULT + 8),
    load<u64>(cls, MULT + 16),
    load<u64>(cls, MULT + 24),
    t,
    sv & load<u32>(tb, T_SMASK),
    dv & load<u32>(tb, T_DMASK),
    plo & load<u32>(tb, T_PMASK),
    pv & load<u32>(tb, T_PRMASK),
  );
}

@inline export function ruleBucket(cls: usize, t: u32, sv: u32, dv: u32, plo: u32, pv: u32): u32 {
  return ruleHash(cls, t, sv, dv, plo, pv) & load<u32>(cls, BUCKET_MASK);
}

@inline function roomIn(cls: usize, t: u32, sv: u32, dv: u32, plo: u32, pv: u32, limit: u32): bool {
  const tb = tableAt(cls, t);
  const b = ruleBucket(cls, t, sv, dv, plo, pv);
  return (
    collisions(
      cls,
      t,
      b,
      sv & load<u32>(tb, T_SMASK),
      dv & load<u32>(tb, T_DMASK),
      plo & load<u32>(tb, T_PMASK),
      pv & load<u32>(tb, T_PRMASK),
    ) < limit
  );
}

/** A live table with exactly this tuple, or -1. */
export function tableWithTuple(cls: usize, tuple: u32): i32 {
  const n = load<u32>(cls, TABLE_COUNT);
  for (let t: u32 = 0; t < n; t++) {
    const tb = tableAt(cls, t);
    if (load<u32>(tb, T_COUNT) != 0 && load<u32>(tb, T_TUPLE) == tuple) return <i32>t;
  }
  return -1;
}

/** Creates (or recycles an empty) table with this tuple; -1 when the table array is full. */
export function newTable(cls: usize, tuple: u32): i32 {
  let t: i32 = -1;
  const n = load<u32>(cls, TABLE_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(tableAt(cls, i), T_COUNT) == 0) {
      t = <i32>i;
      break;
    }
  }
  if (t < 0) {
    if (n >= load<u32>(cls, TABLE_CAP)) return -1;
    t = <i32>n;
    store<u32>(cls, n + 1, TABLE_COUNT);
  }
  const tb = tableAt(cls, <u32>t);
  store<u32>(tb, prefixMask32(tuple & 63), T_SMASK);
  store<u32>(tb, prefixMask32((tuple >> 6) & 63), T_DMASK);
  store<u32>(tb, prefixMask16((tuple >> 12) & 31) | (prefixMask16((tuple >> 17) & 31) << 16), T_PMASK);
  const prLen = (tuple >> 22) & 15;
  store<u32>(tb, prLen == 0 ? 0 : ((<u32>0xff) << (8 - prLen)) & 0xff, T_PRMASK);
  store<u64>(tb, RANK_NONE, T_BEST);
  store<u32>(tb, 0, T_COUNT);
  store<u32>(tb, tuple, T_TUPLE);
  return t;
}

/** Picks the table for a rule: first fitting table with room, else a new relaxed one. */
export function chooseTable(cls: usize, tuple: u32, sv: u32, dv: u32, plo: u32, pv: u32): i32 {
  const limit = load<u32>(cls, COLL_LIMIT);
  const n = load<u32>(cls, TABLE_COUNT);
  let fallback: i32 = -1;
  // Tables in lookup order (best rule first): a rule joins the earliest table that can take it,
  // which keeps high-priority rules together and lets lookups stop early.
  const oc = load<u32>(cls, ORDER_COUNT);
  for (let k: u32 = 0; k < oc; k++) {
    const t = load<u32>(orderAt(cls, k));
    const tb = tableAt(cls, t);
    if (load<u32>(tb, T_COUNT) == 0 || !tupleFits(load<u32>(tb, T_TUPLE), tuple)) continue;
    if (roomIn(cls, t, sv, dv, plo, pv, limit)) return <i32>t;
    if (load<u32>(tb, T_TUPLE) == tuple) fallback = <i32>t;
  }
  // Relax: shorten each address length to a multiple of relaxStep; ports keep only an exact
  // match (a range's covering prefix rarely separates rules); the protocol stays as it is.
  const step = load<u32>(cls, RELAX);
  const s = tuple & 63;
  const d = (tuple >> 6) & 63;
  const sp = (tuple >> 12) & 31;
  const dp = (tuple >> 17) & 31;
  const relaxed = packTuple(s - (s % step), d - (d % step), sp == 16 ? 16 : 0, dp == 16 ? 16 : 0, (tuple >> 22) & 15);
  if (tableWithTuple(cls, relaxed) < 0) {
    const t = newTable(cls, relaxed);
    if (t >= 0) return t;
  } else if (tableWithTuple(cls, tuple) < 0) {
    const t = newTable(cls, tuple);
    if (t >= 0) return t;
  }
  // Rules alike in every hashed field: no table can separate them, so exceed the limit.
  if (fallback >= 0) return fallback;
  for (let t: u32 = 0; t < n; t++) {
    const tb = tableAt(cls, t);
    if (load<u32>(tb, T_COUNT) != 0 && tupleFits(load<u32>(tb, T_TUPLE), tuple)) return <i32>t;
  }
  return -1;
}

/** Moves table `t` to its place in the order array (sorted by bestRank), adding it if absent. */
export function reorder(cls: usize, t: u32): void {
  let n = load<u32>(cls, ORDER_COUNT);
  let at: u32 = n;
  for (let k: u32 = 0; k < n; k++) {
    if (load<u32>(orderAt(cls, k)) == t) {
      at = k;
      break;
    }
  }
  if (at == n) {
    store<u32>(orderAt(cls, n), t);
    store<u32>(cls, n + 1, ORDER_COUNT);
    n++;
  }
  const best = load<u64>(tableAt(cls, t), T_BEST);
  while (at > 0 && load<u64>(tableAt(cls, load<u32>(orderAt(cls, at - 1))), T_BEST) > best) {
    store<u32>(orderAt(cls, at), load<u32>(orderAt(cls, at - 1)));
    at--;
  }
  while (at + 1 < n && load<u64>(tableAt(cls, load<u32>(orderAt(cls, at + 1))), T_BEST) < best) {
    store<u32>(orderAt(cls, at), load<u32>(orderAt(cls, at + 1)));
    at++;
  }
  store<u32>(orderAt(cls, at), t);
}

export function dropFromOrder(cls: usize, t: u32): void {
  const n = load<u32>(cls, ORDER_COUNT);
  let k: u32 = 0;
  while (k < n && load<u32>(orderAt(cls, k)) != t) k++;
  if (k == n) return;
  for (; k + 1 < n; k++) store<u32>(orderAt(cls, k), load<u32>(orderAt(cls, k + 1)));
  store<u32>(cls, n - 1, ORDER_COUNT);
}
