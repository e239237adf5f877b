// The classifier's updates applied to ONE copy (see classifier.ts for the algorithm and for the
// Left-Right protocol that calls these twice, once per copy). `cls` is the copy's base; no
// reader looks at it while these run, so they need no ordering between their stores.

import {
  A_FREE,
  A_HASH,
  A_LIVE,
  A_TABLE,
  BUCKET_MASK,
  CLS_E_FULL,
  HEAD_MASK,
  CLS_E_RANGE,
  CLS_E_SLOT,
  CLS_E_STATE,
  CLS_E_TABLES,
  FREE_HEAD,
  HIGH_WATER,
  RANK_NONE,
  RULE_CAP,
  RULE_COUNT,
  R_DP,
  R_DV,
  R_ID,
  R_META,
  R_NEXT,
  R_PRIO,
  R_SP,
  R_SV,
  TABLE_COUNT,
  T_BEST,
  T_COUNT,
  T_TUPLE,
  auxAt,
  bucketAt,
  coverLen16,
  rebloom,
  leadingOnes32,
  packTuple,
  rankOf,
  ruleAt,
  tableAt,
} from './cls-layout';
import { chooseTable, dropFromOrder, newTable, reorder, ruleHash } from './cls-tables';

/** `tableHint` of clsInsertInto: choose the table here. */
export const CHOOSE_TABLE: i32 = -1;
/** `newTuple` of clsInsertInto: the hinted table already exists. */
export const NO_NEW_TABLE: u32 = 0xffffffff;

/**
 * Inserts a rule into copy `cls`. Values are masked here (bits outside a mask never matter).
 * Port fields are lo | hi << 16 with lo <= hi (checked by the facade, re-checked here). Returns
 * the rule's slot (>= 0) or a negative status; a failure leaves the copy unchanged.
 *
 * `tableHint` replays on the second copy the table chosen on the first (CHOOSE_TABLE: choose
 * here), and `newTuple` the tuple of the table the first created for it (NO_NEW_TABLE: none):
 * the copies are identical, so the choice would come out the same, and the search for it is
 * most of an insert's work. CLS_E_STATE when the replay does not fit this copy.
 */
export function clsInsertInto(
  cls: usize,
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
  tableHint: i32,
  newTuple: u32,
): i32 {
  if ((sports & 0xffff) > sports >> 16 || (dports & 0xffff) > dports >> 16) return CLS_E_RANGE;
  sv &= sm;
  dv &= dm;
  pm &= 0xff;
  pv &= pm;
  // Slot: from the free list, else the next never-used one.
  let slot: u32;
  const free = load<u32>(cls, FREE_HEAD);
  if (free != 0) {
    slot = free - 1;
  } else {
    slot = load<u32>(cls, HIGH_WATER);
    if (slot >= load<u32>(cls, RULE_CAP)) return CLS_E_FULL;
  }
  const tuple = packTuple(
    leadingOnes32(sm),
    leadingOnes32(dm),
    coverLen16(sports & 0xffff, sports >> 16),
    coverLen16(dports & 0xffff, dports >> 16),
    leadingOnes32(pm << 24) > 8 ? 8 : leadingOnes32(pm << 24),
  );
  const plo = (sports & 0xffff) | ((dports & 0xffff) << 16);
  let t: i32;
  if (tableHint < 0) {
    // chooseTable changes nothing when it fails.
    t = chooseTable(cls, tuple, sv, dv, plo, pv);
    if (t < 0) return CLS_E_TABLES;
  } else if (newTuple != NO_NEW_TABLE) {
    t = newTable(cls, newTuple);
    if (t != tableHint) return CLS_E_STATE;
  } else {
    if (<u32>tableHint >= load<u32>(cls, TABLE_COUNT) || load<u32>(tableAt(cls, <u32>tableHint), T_COUNT) == 0)
      return CLS_E_STATE;
    t = tableHint;
  }
  if (free != 0) store<u32>(cls, load<u32>(auxAt(cls, slot), A_FREE), FREE_HEAD);
  else store<u32>(cls, slot + 1, HIGH_WATER);
  const rank = ((<u64>priority) << 32) | (<u64>ruleId);
  const h = ruleHash(cls, <u32>t, sv, dv, plo, pv);
  const b = h & load<u32>(cls, BUCKET_MASK);
  const rec = ruleAt(cls, slot);
  store<u32>(rec, sv, R_SV);
  store<u32>(rec, dv, R_DV);
  store<u32>(rec, sports, R_SP);
  store<u32>(rec, dports, R_DP);
  store<u32>(rec, (tuple & 63) | (((tuple >> 6) & 63) << 8) | (pv << 16) | (pm << 24), R_META);
  store<u32>(rec, priority, R_PRIO);
  store<u32>(rec, ruleId, R_ID);
  const aux = auxAt(cls, slot);
  store<u32>(aux, <u32>t, A_TABLE);
  store<u32>(aux, h, A_HASH);
  store<u32>(aux, 1, A_LIVE);
  // Link into the chain, sorted by rank.
  let prev: usize = bucketAt(cls, b);
  let prevOff: usize = 0;
  let r = load<u32>(prev) & HEAD_MASK;
  while (r != 0 && rankOf(ruleAt(cls, r - 1)) < rank) {
    prev = ruleAt(cls, r - 1);
    prevOff = R_NEXT;
    r = load<u32>(prev, R_NEXT);
  }
  store<u32>(rec, r, R_NEXT);
  store<u32>(prev + prevOff, slot + 1);
  if (prevOff == 0) store<u32>(prev, priority, 4); // new head: its priority goes beside it
  rebloom(cls, b);
  const tb = tableAt(cls, <u32>t);
  store<u32>(tb, load<u32>(tb, T_COUNT) + 1, T_COUNT);
  if (rank < load<u64>(tb, T_BEST)) store<u64>(tb, rank, T_BEST);
  reorder(cls, <u32>t);
  store<u32>(cls, load<u32>(cls, RULE_COUNT) + 1, RULE_COUNT);
  return <i32>slot;
}

/**
 * Repeats on copy `cls` the insert that put a rule into `slot` of copy `from` (the copies were
 * identical before it), skipping the table search: the rule's table is read from `from`, and a
 * count of 1 there means the table was made for this rule (chooseTable only picks tables that
 * already hold rules), so it is made here too.
 */
export function clsInsertReplay(
  cls: usize,
  from: usize,
  slot: u32,
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
  const t = load<u32>(auxAt(from, slot), A_TABLE);
  const tb = tableAt(from, t);
  const newTuple = load<u32>(tb, T_COUNT) == 1 ? load<u32>(tb, T_TUPLE) : NO_NEW_TABLE;
  return clsInsertInto(cls, sv, sm, dv, dm, sports, dports, pv, pm, priority, ruleId, <i32>t, newTuple);
}

/** Removes the rule in `slot` from copy `cls`: 0, or CLS_E_SLOT (not a live rule; nothing changed). */
export function clsRemoveFrom(cls: usize, slot: u32): i32 {
  if (slot >= load<u32>(cls, HIGH_WATER)) return CLS_E_SLOT;
  const rec = ruleAt(cls, slot);
  const aux = auxAt(cls, slot);
  if (load<u32>(aux, A_LIVE) == 0) return CLS_E_SLOT;
  const b = load<u32>(aux, A_HASH) & load<u32>(cls, BUCKET_MASK);
  let prev: usize = bucketAt(cls, b);
  let prevOff: usize = 0;
  let r = load<u32>(prev) & HEAD_MASK;
  while (r != 0 && r != slot + 1) {
    prev = ruleAt(cls, r - 1);
    prevOff = R_NEXT;
    r = load<u32>(prev, R_NEXT);
  }
  const next = load<u32>(rec, R_NEXT);
  store<u32>(prev + prevOff, next);
  if (prevOff == 0) store<u32>(prev, next != 0 ? load<u32>(ruleAt(cls, next - 1), R_PRIO) : 0, 4);
  rebloom(cls, b);
  store<u32>(aux, 0, A_LIVE);
  const t = load<u32>(aux, A_TABLE);
  const tb = tableAt(cls, t);
  const left = load<u32>(tb, T_COUNT) - 1;
  store<u32>(tb, left, T_COUNT);
  if (left == 0) {
    store<u64>(tb, RANK_NONE, T_BEST);
    dropFromOrder(cls, t);
  }
  // Otherwise bestRank stays as it was: a conservative bound (never worse than the truth).
  store<u32>(aux, load<u32>(cls, FREE_HEAD), A_FREE);
  store<u32>(cls, slot + 1, FREE_HEAD);
  store<u32>(cls, load<u32>(cls, RULE_COUNT) - 1, RULE_COUNT);
  return 0;
}
