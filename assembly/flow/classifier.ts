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
// The state region's layout is in cls-layout.ts; table management in cls-tables.ts.

import { headerOk } from '../common/header';
import {
  A_BUCKET, A_FREE, A_LIVE, A_TABLE, BUCKETS_OFF, BUCKET_MASK, CLS_CTRL_BYTES, CLS_E_BUSY, CLS_E_FULL,
  CLS_E_RANGE, CLS_E_SLOT, CLS_E_STATE, CLS_E_TABLES, CLS_LAYOUT, CLS_MAGIC, CLS_RULE_BYTES, CLS_TABLE_BYTES,
  FREE_HEAD, HIGH_WATER, MULT, ORDER_COUNT, ORDER_OFF, RANK_NONE, RULES_OFF, RULE_CAP, RULE_COUNT, R_DP,
  R_DV, R_ID, R_META, R_NEXT, R_PRIO, R_SP, R_SV, SEQ, TABLES_OFF, TABLE_CAP, T_BEST, T_COUNT, T_DMASK,
  T_PMASK, T_PRMASK, T_SMASK, auxAt, bucketAt, coverLen16, keyHash, leadingOnes32, lenMask, packTuple,
  rankOf, ruleAt, tableAt,
} from './cls-layout';
import { chooseTable, dropFromOrder, reorder, ruleBucket } from './cls-tables';
import { rangeOk } from './hash';

const MAX_SPINS: i32 = 1 << 22;

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
