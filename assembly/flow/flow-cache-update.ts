// Flow cache updates (one writer at a time; readers on other threads are kept safe by the
// seqlock): insert with cuckoo paths and LRU-like eviction, delete, aging, counters and an
// invariant check. The layout and the lookup are in flow-cache.ts.

import {
  AGE_CURSOR,
  CAPACITY,
  COUNT,
  EVICTIONS,
  E_HASH,
  E_LAST,
  E_VALUE,
  E_ZERO,
  FC_EVICTED,
  FC_E_RANGE,
  FC_E_STATE,
  FC_INFO_BUCKET1,
  FC_INFO_BUCKET2,
  FC_INFO_BYTES,
  FC_INFO_HASH,
  FC_INFO_SLOT,
  FC_INFO_TAG,
  FC_INSERTED,
  FC_KEY_BYTES,
  FC_NO_SLOT,
  FC_UPDATED,
  MOVES,
  QUEUE,
  QUEUE_NODES,
  SEQ,
  altOf,
  bucketOf,
  entriesOf,
  findKey,
  findWords,
  hashOf,
  hashWords,
  tableBuckets,
  tagMatches,
  tagOf,
  tagsOf,
} from './flow-cache';
import { rangeOk } from './hash';

@inline function writeBegin(state: usize): void {
  atomic.add<u32>(state, 1, SEQ);
}

@inline function writeEnd(state: usize): void {
  atomic.add<u32>(state, 1, SEQ);
}

@inline function tagAt(state: usize, e: u32): u32 {
  return <u32>load<u8>(tagsOf(state) + <usize>e);
}

@inline function setTag(state: usize, e: u32, tag: u32): void {
  store<u8>(tagsOf(state) + <usize>e, <u8>tag);
}

@inline function entryAt(state: usize, nb: u32, e: u32): usize {
  return entriesOf(state, nb) + ((<usize>e) << 6);
}

/** Slot index of an empty slot of bucket `b`, or FC_NO_SLOT. */
@inline function emptyIn(state: usize, b: u32): u32 {
  const m = tagMatches(tagsOf(state) + ((<usize>b) << 3), 0);
  return m == 0 ? FC_NO_SLOT : (b << 3) | ctz<u32>(m);
}

@inline function bump(state: usize, at: usize): void {
  store<u64>(state + at, load<u64>(state + at) + 1);
}

/** Empties slot `e` (the entry's bytes stay; an empty tag hides them). */
@inline function removeAt(state: usize, e: u32): void {
  setTag(state, e, 0);
  store<u32>(state, load<u32>(state, COUNT) - 1, COUNT);
}

/**
 * Breadth-first search of the tag array for a cuckoo path that frees a slot in b1 or b2 (both
 * full). Queue node k (in the state region, at QUEUE + 8k): u32 bucket, u32 parent << 3 | the
 * parent's slot whose entry would move into this bucket (0xffffffff for a root). Reads tags
 * only. Returns node << 3 | slot of the path's last entry (its other bucket has room), or -1.
 */
function cuckooSearch(state: usize, nb: u32, b1: u32, b2: u32): i32 {
  const q = state + QUEUE;
  store<u32>(q, b1);
  store<u32>(q, 0xffffffff, 4);
  let tail: u32 = 1;
  if (b2 != b1) {
    store<u32>(q, b2, 8);
    store<u32>(q, 0xffffffff, 12);
    tail = 2;
  }
  // Bounded: at most QUEUE_NODES nodes, each looking at 8 buckets.
  for (let head: u32 = 0; head < tail; head++) {
    const b = load<u32>(q + ((<usize>head) << 3));
    for (let s: u32 = 0; s < 8; s++) {
      const a = altOf(b, tagAt(state, (b << 3) | s), nb);
      if (a == b) continue;
      if (emptyIn(state, a) != FC_NO_SLOT) return <i32>((head << 3) | s);
      if (tail < QUEUE_NODES) {
        store<u32>(q + ((<usize>tail) << 3), a);
        store<u32>(q + ((<usize>tail) << 3), (head << 3) | s, 4);
        tail++;
      }
    }
  }
  return -1;
}

/** Moves the entry in slot `from` (and its tag) to the empty slot `to`. */
function moveEntry(state: usize, nb: u32, from: u32, to: u32): void {
  const src = entryAt(state, nb, from);
  const dst = entryAt(state, nb, to);
  v128.store(dst, v128.load(src, 0), 0);
  v128.store(dst, v128.load(src, 16), 16);
  v128.store(dst, v128.load(src, 32), 32);
  v128.store(dst, v128.load(src, 48), 48);
  // Copy first, then clear: the entry is in one slot or both, never in neither.
  setTag(state, to, tagAt(state, from));
  setTag(state, from, 0);
  bump(state, MOVES);
}

/**
 * Carries out the path cuckooSearch found, from its end back to its root (so every move goes
 * into a slot just emptied), and returns the root's freed slot. Each move is checked first (the
 * source holds an entry whose other bucket is the target's, the target is empty): a path that
 * visits one bucket twice may not hold, and then this stops with every entry still in one of
 * its two buckets and returns FC_NO_SLOT.
 */
function cuckooApply(state: usize, nb: u32, leaf: u32): u32 {
  const q = state + QUEUE;
  let k = leaf >> 3;
  const s = leaf & 7;
  let from = (load<u32>(q + ((<usize>k) << 3)) << 3) | s;
  let to = emptyIn(state, altOf(from >> 3, tagAt(state, from), nb));
  // Bounded: a path is at most as long as the queue (every step goes to a lower node index).
  for (let step: u32 = 0; step < QUEUE_NODES; step++) {
    const tag = tagAt(state, from);
    if (tag == 0 || to == FC_NO_SLOT || tagAt(state, to) != 0 || altOf(from >> 3, tag, nb) != to >> 3)
      return FC_NO_SLOT;
    moveEntry(state, nb, from, to);
    const link = load<u32>(q + ((<usize>k) << 3), 4);
    if (link == 0xffffffff) return from;
    to = from;
    k = link >> 3;
    from = (load<u32>(q + ((<usize>k) << 3)) << 3) | (link & 7);
  }
  return FC_NO_SLOT;
}

/** The slot, among the 16 of buckets b1 and b2 (all occupied), whose entry was hit least recently. */
function oldestOf(state: usize, nb: u32, b1: u32, b2: u32, now: u32): u32 {
  let best = b1 << 3;
  let bestAge: u32 = 0;
  for (let k: u32 = 0; k < 16; k++) {
    const e = ((k < 8 ? b1 : b2) << 3) | (k & 7);
    if (tagAt(state, e) == 0) continue;
    const age = now - load<u32>(entryAt(state, nb, e), E_LAST); // wraps: ages up to 2^32 - 1 ticks
    if (age >= bestAge) {
      bestAge = age;
      best = e;
    }
  }
  return best;
}

/**
 * The slot whose flow was hit least recently of the next 16 flows from the aging cursor (a
 * sampled LRU on a CLOCK hand: a hot flow is old only if all 16 sampled flows are hotter, so
 * hot flows survive churn), or FC_NO_SLOT for an empty table.
 */
function sampleVictim(state: usize, nb: u32, now: u32): u32 {
  let cursor = load<u32>(state, AGE_CURSOR) % nb;
  let seen: u32 = 0;
  let best = FC_NO_SLOT;
  let bestAge: u32 = 0;
  // Bounded: at most one lap of the buckets.
  for (let i: u32 = 0; i < nb && seen < 16; i++) {
    for (let s: u32 = 0; s < 8; s++) {
      const e = (cursor << 3) | s;
      if (tagAt(state, e) == 0) continue;
      const age = now - load<u32>(entryAt(state, nb, e), E_LAST);
      if (seen == 0 || age > bestAge) {
        bestAge = age;
        best = e;
      }
      seen++;
    }
    cursor = cursor + 1 == nb ? 0 : cursor + 1;
  }
  store<u32>(state, cursor, AGE_CURSOR);
  return best;
}

/**
 * Inserts or updates `key` → `value` (stamped `now`). Returns FC_INSERTED, FC_UPDATED,
 * FC_EVICTED (an older flow made room) or a negative status.
 */
export function flow_fc_insert(state: usize, key: usize, value: u32, now: u32): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  if (!rangeOk(key, FC_KEY_BYTES)) return FC_E_RANGE;
  // The key is read once: its hash, the search and the stored copy all use these words, so a
  // key rewritten meanwhile by someone else cannot land under another key's hash.
  const k0 = v128.load(key, 0);
  const k1 = v128.load(key, 16);
  const k2 = v128.load(key, 32);
  const v = hashWords(state, k0, k1, k2);
  const found = findWords(state, nb, v, k0, k1, k2);
  if (found != FC_NO_SLOT) {
    writeBegin(state);
    const ep = entryAt(state, nb, found);
    store<u32>(ep, value, E_VALUE);
    store<u32>(ep, now, E_LAST);
    writeEnd(state);
    return FC_UPDATED;
  }
  const tag = tagOf(v);
  const b1 = bucketOf(v, nb);
  const b2 = altOf(b1, tag, nb);
  const full = load<u32>(state, COUNT) >= load<u32>(state, CAPACITY);
  // A slot: empty in b1 or b2; else, below capacity, one a cuckoo path frees (searched before
  // the write section: it only reads); else the oldest candidate's. At capacity a flow must go
  // anyway, so the cuckoo search is skipped and the oldest candidate goes.
  let e = emptyIn(state, b1);
  if (e == FC_NO_SLOT) e = emptyIn(state, b2);
  const path = e == FC_NO_SLOT && !full ? cuckooSearch(state, nb, b1, b2) : -1;
  writeBegin(state);
  let status = FC_INSERTED;
  if (path >= 0) e = cuckooApply(state, nb, <u32>path);
  if (e == FC_NO_SLOT) {
    e = oldestOf(state, nb, b1, b2, now);
    removeAt(state, e);
    bump(state, EVICTIONS);
    status = FC_EVICTED;
  } else if (full) {
    // The key's buckets had room but the table holds `capacity` flows: one goes elsewhere.
    const victim = sampleVictim(state, nb, now);
    if (victim != FC_NO_SLOT) {
      removeAt(state, victim);
      bump(state, EVICTIONS);
      status = FC_EVICTED;
    }
  }
  // SAFETY: e = bucket * 8 + slot with bucket < nb: inside the entries.
  const ep = entryAt(state, nb, e);
  v128.store(ep, k0, 0);
  v128.store(ep, k1, 16);
  v128.store(ep, k2, 32);
  store<u32>(ep, value, E_VALUE);
  store<u32>(ep, now, E_LAST);
  store<u32>(ep, v, E_HASH);
  store<u32>(ep, 0, E_ZERO);
  setTag(state, e, tag);
  store<u32>(state, load<u32>(state, COUNT) + 1, COUNT);
  writeEnd(state);
  return status;
}

/** Removes `key`; 1 when it was there, 0 when not, or a negative status. */
export function flow_fc_delete(state: usize, key: usize): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  if (!rangeOk(key, FC_KEY_BYTES)) return FC_E_RANGE;
  const e = findKey(state, nb, hashOf(state, key), key);
  if (e == FC_NO_SLOT) return 0;
  writeBegin(state);
  removeAt(state, e);
  writeEnd(state);
  return 1;
}

/**
 * Aging: walks `budget` buckets from the aging cursor and removes every flow whose last hit is
 * more than `maxIdle` ticks before `now` (u32 arithmetic, so the tick counter may wrap).
 * Returns the number removed.
 */
export function flow_fc_age(state: usize, now: u32, maxIdle: u32, budget: u32): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  let cursor = load<u32>(state, AGE_CURSOR) % nb;
  let removed: i32 = 0;
  const n = min<u32>(budget, nb);
  writeBegin(state);
  for (let i: u32 = 0; i < n; i++) {
    for (let s: u32 = 0; s < 8; s++) {
      const e = (cursor << 3) | s;
      if (tagAt(state, e) != 0 && now - load<u32>(entryAt(state, nb, e), E_LAST) > maxIdle) {
        removeAt(state, e);
        removed++;
      }
    }
    cursor = cursor + 1 == nb ? 0 : cursor + 1;
  }
  store<u32>(state, cursor, AGE_CURSOR);
  writeEnd(state);
  return removed;
}

export function flow_fc_count(state: usize): i32 {
  return <i32>load<u32>(state, COUNT);
}

export function flow_fc_evictions(state: usize): f64 {
  return <f64>load<u64>(state, EVICTIONS);
}

export function flow_fc_moves(state: usize): f64 {
  return <f64>load<u64>(state, MOVES);
}

/**
 * Where `key` goes, for tests and tools: writes FC_INFO_BYTES at `out` (hash, both buckets, tag,
 * slot index or FC_NO_SLOT). Returns 0 or a negative status.
 */
export function flow_fc_key_info(state: usize, key: usize, out: usize): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  if (!rangeOk(key, FC_KEY_BYTES) || !rangeOk(out, FC_INFO_BYTES)) return FC_E_RANGE;
  const v = hashOf(state, key);
  const b1 = bucketOf(v, nb);
  store<u32>(out, v, FC_INFO_HASH);
  store<u32>(out, b1, FC_INFO_BUCKET1);
  store<u32>(out, altOf(b1, tagOf(v), nb), FC_INFO_BUCKET2);
  store<u32>(out, tagOf(v), FC_INFO_TAG);
  store<u32>(out, findKey(state, nb, v, key), FC_INFO_SLOT);
  return 0;
}

/**
 * Checks the table's invariants: every occupied slot holds an entry whose key hashes to its
 * stored hash, whose tag is that hash's, in one of that hash's two buckets, and no key twice
 * where a lookup would find it elsewhere first; the count is the number of occupied slots.
 * Returns 0, or the first bad slot index + 1, or nb * 8 + 1 for a wrong count, or FC_E_STATE.
 */
export function flow_fc_verify(state: usize): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  let occupied: u32 = 0;
  for (let e: u32 = 0; e < nb << 3; e++) {
    const tag = tagAt(state, e);
    if (tag == 0) continue;
    occupied++;
    const ep = entryAt(state, nb, e);
    const v = load<u32>(ep, E_HASH);
    const b1 = bucketOf(v, nb);
    const b = e >> 3;
    if (
      hashOf(state, ep) != v ||
      tagOf(v) != tag ||
      (b != b1 && b != altOf(b1, tag, nb)) ||
      findKey(state, nb, v, ep) != e
    )
      return <i32>e + 1;
  }
  if (occupied != load<u32>(state, COUNT) || occupied > load<u32>(state, CAPACITY)) return <i32>(nb << 3) + 1;
  return 0;
}
