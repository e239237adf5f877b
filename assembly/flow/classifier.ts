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
// Beside the chain head a bucket keeps its head's priority and an 8-bit bloom filter of the
// chain's (table, key) hashes, so most probes of a chain that cannot hold the packet's key, or
// cannot beat the best match so far, end without reading a rule.
//
// Rank = priority << 32 | ruleId (lower wins): ties in priority go to the lower rule id.
// The state region's layout is in cls-layout.ts; table management in cls-tables.ts; the updates
// of one copy in cls-update.ts.
//
// Concurrency: Left-Right (Ramalhete & Correia, 2015; left-right.ts) over two identical copies.
// A lookup burst arrives on a reader indicator, reads which copy is active and uses it; it never
// loops and never looks at the other copy, so a writer stopped anywhere (even preempted for a
// whole scheduler quantum in the middle of relinking a chain) neither delays nor misleads it.
// The writer applies an update to the idle copy, switches, waits for readers to leave the old
// copy, and applies the same update there. The copies start identical and every update is
// deterministic, so the second application lands in the same slot and keeps them identical.
// Writers wait for readers (bounded), never the other way round.

import { headerOk } from '../common/header';
import {
  BUCKETS_OFF,
  BUCKET_MASK,
  CLS_CTRL_BYTES,
  CLS_E_BUSY,
  CLS_E_STATE,
  CLS_E_RANGE,
  CLS_LAYOUT,
  CLS_MAGIC,
  CLS_RULE_BYTES,
  CLS_TABLE_BYTES,
  HEAD_MASK,
  MULT,
  ORDER_COUNT,
  ORDER_OFF,
  RANK_NONE,
  RULES_OFF,
  RULE_CAP,
  RULE_COUNT,
  R_DP,
  R_DV,
  R_ID,
  R_META,
  R_NEXT,
  R_SP,
  R_SV,
  TABLES_OFF,
  TABLE_CAP,
  T_BEST,
  T_DMASK,
  T_PMASK,
  T_PRMASK,
  T_SMASK,
  bloomBit,
  keyHash,
  lenMask,
  rankOf,
} from './cls-layout';
import { CHOOSE_TABLE, NO_NEW_TABLE, clsInsertInto, clsInsertReplay, clsRemoveFrom } from './cls-update';
import { rangeOk } from './hash';
import { LR_SYNC_NEEDED, lrArrive, lrCopyAt, lrDepart, lrPublish, lrWriteBegin } from './left-right';

// ---- lookup ---------------------------------------------------------------------------------

/** Walks one chain from slot+1 `r`: the slot+1 of its first rule that matches and beats `best`, or 0. */
@inline function walk(rules: usize, ruleCap: u32, r: u32, best: u64, s: u32, d: u32, sp: u32, dp: u32, pr: u32): u32 {
  let hops: u32 = 0;
  // SAFETY: slots come from a copy no writer touches while it is pinned, but the region is
  // plain shared memory: each slot is bounds-checked and the walk is bounded by ruleCap hops,
  // so even a corrupted chain ends, never reading outside the rule array.
  while (r != 0 && r <= ruleCap && hops < ruleCap) {
    const rec = rules + <usize>(r - 1) * CLS_RULE_BYTES;
    if (rankOf(rec) >= best) return 0;
    const spr = load<u32>(rec, R_SP);
    const dpr = load<u32>(rec, R_DP);
    const meta = load<u32>(rec, R_META);
    // All five tests evaluated without short-circuit: one well-predicted branch instead of five.
    if (
      ((<i32>((s & lenMask(meta & 63)) == load<u32>(rec, R_SV))) &
        (<i32>((d & lenMask((meta >> 8) & 63)) == load<u32>(rec, R_DV))) &
        (<i32>(sp - (spr & 0xffff) <= (spr >> 16) - (spr & 0xffff))) &
        (<i32>(dp - (dpr & 0xffff) <= (dpr >> 16) - (dpr & 0xffff))) &
        (<i32>((pr & (meta >> 24)) == ((meta >> 16) & 0xff)))) !=
      0
    )
      return r;
    r = load<u32>(rec, R_NEXT);
    hops++;
  }
  return 0;
}

/**
 * Rule slot + 1 of the best rule matching one header, 0 for none. The copy's constants come in
 * as arguments, read once a burst (V8 does not hoist loads out of the header loop).
 */
@inline function lookupOne(
  rules: usize,
  buckets: usize,
  tables: usize,
  order: usize,
  mask: u32,
  ruleCap: u32,
  tableCap: u32,
  orderCount: u32,
  m0: u64,
  m1: u64,
  m2: u64,
  m3: u64,
  s: u32,
  d: u32,
  sp: u32,
  dp: u32,
  pr: u32,
): u32 {
  const ports = sp | (dp << 16);
  let best: u64 = RANK_NONE;
  let bestSlot: u32 = 0;
  for (let k: u32 = 0; k < orderCount; k++) {
    const t = load<u32>(order + ((<usize>k) << 2));
    // SAFETY: an order entry is a table index from shared memory: keep it inside the table array.
    if (t >= tableCap) break;
    const tb = tables + <usize>t * CLS_TABLE_BYTES;
    if (load<u64>(tb, T_BEST) >= best) break;
    const h = keyHash(
      m0,
      m1,
      m2,
      m3,
      t,
      s & load<u32>(tb, T_SMASK),
      d & load<u32>(tb, T_DMASK),
      ports & load<u32>(tb, T_PMASK),
      pr & load<u32>(tb, T_PRMASK),
    );
    const bp = buckets + ((<usize>(h & mask)) << 3);
    const word = load<u32>(bp);
    const r = word & HEAD_MASK;
    // The head's priority sits next to it, and the word holds a bloom filter of the chain's
    // keys: a chain that cannot beat the best so far, or that holds no rule with this key (all
    // but one in eight of the chains of other keys), is skipped without touching its first rule.
    // Most probes end here, on a branch that is rarely taken.
    if (((<i32>(r != 0)) & (<i32>(<u64>load<u32>(bp, 4) <= best >> 32)) & (<i32>((word & bloomBit(h)) != 0))) != 0) {
      const w = walk(rules, ruleCap, r, best, s, d, sp, dp, pr);
      if (w != 0) {
        bestSlot = w;
        best = rankOf(rules + <usize>(w - 1) * CLS_RULE_BYTES);
      }
    }
  }
  return bestSlot;
}

/**
 * Classifies `count` headers (5 u32 words each: src, dst, sport, dport, proto) into `out` (one
 * i32 each: the winning rule's id, or -1). Returns `count` or a negative status. Each burst of
 * 32 pins the active copy (Left-Right): it sees one whole version of the rule set and never
 * waits for, or retries because of, a writer.
 */
export function flow_cls_classify(state: usize, headers: usize, count: i32, out: usize): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  if (count < 0 || !rangeOk(headers, <u64>count * 20) || !rangeOk(out, <u64>count * 4)) return CLS_E_RANGE;
  for (let base: i32 = 0; base < count; base += 32) {
    const n = min(32, count - base);
    // One pin per burst, not per call: a long call then holds a writer back by one burst at most.
    const pin = lrArrive(state);
    const cls = lrCopyAt(state, pin);
    const mask = load<u32>(cls, BUCKET_MASK);
    const ruleCap = load<u32>(cls, RULE_CAP);
    const tableCap = load<u32>(cls, TABLE_CAP);
    const rules = cls + load<u32>(cls, RULES_OFF);
    const buckets = cls + load<u32>(cls, BUCKETS_OFF);
    const tables = cls + load<u32>(cls, TABLES_OFF);
    const order = cls + load<u32>(cls, ORDER_OFF);
    const m0 = load<u64>(cls, MULT);
    const m1 = load<u64>(cls, MULT + 8);
    const m2 = load<u64>(cls, MULT + 16);
    const m3 = load<u64>(cls, MULT + 24);
    // SAFETY: order entries past tableCap are never read.
    const orderCount = min(load<u32>(cls, ORDER_COUNT), tableCap);
    for (let i: i32 = 0; i < n; i++) {
      // SAFETY: i < count, so the header and the output word lie inside the ranges checked above.
      const hp = headers + <usize>(base + i) * 20;
      const slot = lookupOne(
        rules,
        buckets,
        tables,
        order,
        mask,
        ruleCap,
        tableCap,
        orderCount,
        m0,
        m1,
        m2,
        m3,
        load<u32>(hp, 0),
        load<u32>(hp, 4),
        load<u32>(hp, 8) & 0xffff,
        load<u32>(hp, 12) & 0xffff,
        load<u32>(hp, 16) & 0xff,
      );
      store<i32>(
        out + ((<usize>(base + i)) << 2),
        slot == 0 ? -1 : <i32>load<u32>(rules + <usize>(slot - 1) * CLS_RULE_BYTES, R_ID),
      );
    }
    lrDepart(state, pin);
  }
  return count;
}

// ---- updates (one writer at a time): Left-Right over the two copies --------------------------------

/**
 * Inserts a rule (see clsInsertInto for the fields). Returns the rule's slot (>= 0) or a
 * negative status: CLS_E_BUSY when a reader never left the idle copy (nothing changed).
 */
export function flow_cls_insert(
  state: usize,
  sv: u32,
  sm: u32,
  dv: u32,
  dm: u32,
  sports: u32,
  dports: u32,
  pv: u32,
  pm: u32,
  priority: u32,
  ruleId: u32,
): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  const idle = lrWriteBegin(state);
  if (idle < 0) return CLS_E_BUSY;
  const first = lrCopyAt(state, <u32>idle);
  const slot = clsInsertInto(
    first,
    sv,
    sm,
    dv,
    dm,
    sports,
    dports,
    pv,
    pm,
    priority,
    ruleId,
    CHOOSE_TABLE,
    NO_NEW_TABLE,
  );
  if (slot < 0) return slot;
  // When the readers of the old copy do not leave in time, the rule is in (the active copy has
  // it) and the next write brings the old copy level by a whole copy.
  if (lrPublish(state, <u32>idle)) {
    // The old copy is what the idle one was, so the same insert lands in the same slot.
    const again = clsInsertReplay(
      lrCopyAt(state, (<u32>idle) ^ 1),
      first,
      <u32>slot,
      sv,
      sm,
      dv,
      dm,
      sports,
      dports,
      pv,
      pm,
      priority,
      ruleId,
    );
    if (again != slot) store<u32>(state, 1, LR_SYNC_NEEDED);
  }
  return slot;
}

/** Removes the rule in `slot`. Returns 0 or a negative status (CLS_E_SLOT: not a live rule). */
export function flow_cls_remove(state: usize, slot: u32): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  const idle = lrWriteBegin(state);
  if (idle < 0) return CLS_E_BUSY;
  const st = clsRemoveFrom(lrCopyAt(state, <u32>idle), slot);
  if (st != 0) return st;
  if (lrPublish(state, <u32>idle)) {
    if (clsRemoveFrom(lrCopyAt(state, (<u32>idle) ^ 1), slot) != 0) store<u32>(state, 1, LR_SYNC_NEEDED);
  }
  return 0;
}

/** Live rules (in the active copy). */
export function flow_cls_rule_count(state: usize): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  const pin = lrArrive(state);
  const n = load<u32>(lrCopyAt(state, pin), RULE_COUNT);
  lrDepart(state, pin);
  return <i32>n;
}

/** Non-empty tables (what a lookup may probe) in the active copy. */
export function flow_cls_table_count(state: usize): i32 {
  if (!headerOk(state, CLS_MAGIC, CLS_LAYOUT, CLS_CTRL_BYTES)) return CLS_E_STATE;
  const pin = lrArrive(state);
  const n = load<u32>(lrCopyAt(state, pin), ORDER_COUNT);
  lrDepart(state, pin);
  return <i32>n;
}
