// Flow cache updates (one writer at a time; readers on other threads are kept safe by the
// seqlock): insert with cuckoo moves and sampled-LRU eviction, delete, aging. The layout and
// the lookup are in flow-cache.ts.

import { headerOk } from '../common/header';
import {
  AGE_CURSOR, BUCKET_MASK, COUNT, ENTRY_CAP, EVICTIONS, E_FREE, E_LAST, E_SIG, E_VALUE, FC_CTRL_BYTES,
  FC_EVICTED, FC_E_RANGE, FC_E_STATE, FC_INSERTED, FC_KEY_BYTES, FC_LAYOUT, FC_MAGIC, FC_UPDATED, FREE_HEAD,
  HIGH_WATER, MOVES, SEQ, altBucket, bucketPtr, entryPtr, findIn, sigOf,
  slotOf,
} from './flow-cache';
import { rangeOk } from './hash';

@inline function writeBegin(state: usize): void {
  atomic.add<u32>(state, 1, SEQ);
}

@inline function writeEnd(state: usize): void {
  atomic.add<u32>(state, 1, SEQ);
}

@inline function emptySlot(state: usize, b: u32): i32 {
  const bp = bucketPtr(state, b);
  const m = <u32>i32x4.bitmask(i32x4.eq(v128.load(bp, 0), i32x4.splat(0))) | (<u32>i32x4.bitmask(i32x4.eq(v128.load(bp, 16), i32x4.splat(0))) << 4);
  return m == 0 ? -1 : <i32>ctz<u32>(m);
}

@inline function setSlot(state: usize, b: u32, slot: i32, sig: u32, ref: u32): void {
  const bp = bucketPtr(state, b);
  store<u32>(bp + 32 + (<usize>slot << 2), ref);
  store<u32>(bp + (<usize>slot << 2), sig);
}

function freeEntry(state: usize, ref: u32): void {
  store<u32>(entryPtr(state, ref - 1), load<u32>(state, FREE_HEAD), E_FREE);
  store<u32>(state, ref, FREE_HEAD);
  store<u32>(state, load<u32>(state, COUNT) - 1, COUNT);
}

/** Frees room in bucket `b` by moving one of its entries to that entry's other bucket. */
function cuckooOne(state: usize, b: u32, mask: u32): i32 {
  const bp = bucketPtr(state, b);
  for (let s: i32 = 0; s < 8; s++) {
    const sig = load<u32>(bp + (<usize>s << 2));
    const ref = load<u32>(bp + 32 + (<usize>s << 2));
    const home = sig & mask;
    const other = home == b ? altBucket(home, sig, mask) : home;
    const t = emptySlot(state, other);
    if (t >= 0) {
      // Copy first, then clear: the entry is in one bucket or both, never in neither.
      setSlot(state, other, t, sig, ref);
      store<u32>(bp + (<usize>s << 2), 0);
      store<u64>(state, load<u64>(state, MOVES) + 1, MOVES);
      return s;
    }
  }
  return -1;
}

/** The candidate slot (bucket << 3 | slot) whose entry was hit least recently. */
function oldestOf(state: usize, b1: u32, b2: u32, now: u32): u32 {
  let best: u32 = 0;
  let bestAge: u32 = 0;
  for (let k: u32 = 0; k < 16; k++) {
    const b = k < 8 ? b1 : b2;
    const s = k & 7;
    const bp = bucketPtr(state, b);
    const ref = load<u32>(bp + 32 + (<usize>s << 2));
    if (load<u32>(bp + (<usize>s << 2)) == 0) continue;
    const age = now - load<u32>(entryPtr(state, ref - 1), E_LAST); // wraps: ages up to 2^32 - 1 ticks
    if (age >= bestAge) {
      bestAge = age;
      best = (b << 3) | s;
    }
  }
  return best;
}

/** Bucket << 3 | slot of the least recently hit of the next 16 flows from the aging cursor. */
function sampleVictim(state: usize, mask: u32, now: u32): u32 {
  let cursor = load<u32>(state, AGE_CURSOR) & mask;
  let seen: u32 = 0;
  let best: u32 = 0;
  let bestAge: u32 = 0;
  // The caller holds count == entryCap > 0, so occupied slots exist; the walk is bounded anyway.
  for (let i: u32 = 0; i <= mask && seen < 16; i++) {
    const bp = bucketPtr(state, cursor);
    for (let s: u32 = 0; s < 8; s++) {
      if (load<u32>(bp + (<usize>s << 2)) == 0) continue;
      const age = now - load<u32>(entryPtr(state, load<u32>(bp + 32 + (<usize>s << 2)) - 1), E_LAST);
      if (seen == 0 || age > bestAge) {
        bestAge = age;
        best = (cursor << 3) | s;
      }
      seen++;
    }
    cursor = (cursor + 1) & mask;
  }
  store<u32>(state, cursor, AGE_CURSOR);
  return best;
}

/**
 * Inserts or updates `key` → `value` (stamped `now`). Returns FC_INSERTED, FC_UPDATED,
 * FC_EVICTED (an older flow made room) or a negative status.
 */
export function flow_fc_insert(state: usize, key: usize, value: u32, now: u32): i32 {
  if (!headerOk(state, FC_MAGIC, FC_LAYOUT, FC_CTRL_BYTES)) return FC_E_STATE;
  if (!rangeOk(key, FC_KEY_BYTES)) return FC_E_RANGE;
  const mask = load<u32>(state, BUCKET_MASK);
  const sig = sigOf(state, key);
  const b1 = sig & mask;
  const b2 = altBucket(b1, sig, mask);
  let ref = findIn(state, b1, sig, key);
  if (ref == 0) ref = findIn(state, b2, sig, key);
  writeBegin(state);
  if (ref != 0) {
    const ep = entryPtr(state, ref - 1);
    store<u32>(ep, value, E_VALUE);
    store<u32>(ep, now, E_LAST);
    writeEnd(state);
    return FC_UPDATED;
  }
  let status = FC_INSERTED;
  // A slot: empty in b1 or b2, else made empty by one cuckoo move, else the oldest candidate's.
  let b = b1;
  let slot = emptySlot(state, b1);
  if (slot < 0) {
    b = b2;
    slot = emptySlot(state, b2);
  }
  if (slot < 0) {
    b = b1;
    slot = cuckooOne(state, b1, mask);
  }
  if (slot < 0) {
    b = b2;
    slot = cuckooOne(state, b2, mask);
  }
  if (slot < 0) {
    const v = oldestOf(state, b1, b2, now);
    b = v >> 3;
    slot = <i32>(v & 7);
    const bp = bucketPtr(state, b);
    store<u32>(bp + (<usize>slot << 2), 0);
    freeEntry(state, load<u32>(bp + 32 + (<usize>slot << 2)));
    store<u64>(state, load<u64>(state, EVICTIONS) + 1, EVICTIONS);
    status = FC_EVICTED;
  }
  // An entry: from the free list, a never-used one, or (all in use) the oldest candidate's.
  let e = load<u32>(state, FREE_HEAD);
  if (e != 0) {
    store<u32>(state, load<u32>(entryPtr(state, e - 1), E_FREE), FREE_HEAD);
  } else if (load<u32>(state, HIGH_WATER) < load<u32>(state, ENTRY_CAP)) {
    e = load<u32>(state, HIGH_WATER) + 1;
    store<u32>(state, e, HIGH_WATER);
  } else {
    // Every entry is in use, yet this key's buckets had room. Evict the least recently hit of
    // a sample of 16 flows taken where the aging cursor stands (a sampled LRU on a CLOCK hand):
    // a hot flow is old only if all 16 sampled flows are hotter, so hot flows survive churn.
    const v = sampleVictim(state, mask, now);
    const vb = v >> 3;
    const vs = v & 7;
    const vp = bucketPtr(state, vb);
    e = load<u32>(vp + 32 + (<usize>vs << 2));
    store<u32>(vp + (<usize>vs << 2), 0);
    store<u64>(state, load<u64>(state, EVICTIONS) + 1, EVICTIONS);
    store<u32>(state, load<u32>(state, COUNT) - 1, COUNT);
    status = FC_EVICTED;
  }
  const ep = entryPtr(state, e - 1);
  memory.copy(ep, key, FC_KEY_BYTES);
  store<u32>(ep, value, E_VALUE);
  store<u32>(ep, now, E_LAST);
  store<u32>(ep, sig, E_SIG);
  setSlot(state, b, slot, sig, e);
  store<u32>(state, load<u32>(state, COUNT) + 1, COUNT);
  writeEnd(state);
  return status;
}

/** Removes `key`; 1 when it was there, 0 when not, or a negative status. */
export function flow_fc_delete(state: usize, key: usize): i32 {
  if (!headerOk(state, FC_MAGIC, FC_LAYOUT, FC_CTRL_BYTES)) return FC_E_STATE;
  if (!rangeOk(key, FC_KEY_BYTES)) return FC_E_RANGE;
  const mask = load<u32>(state, BUCKET_MASK);
  const sig = sigOf(state, key);
  let b = sig & mask;
  let ref = findIn(state, b, sig, key);
  if (ref == 0) {
    b = altBucket(b, sig, mask);
    ref = findIn(state, b, sig, key);
  }
  if (ref == 0) return 0;
  writeBegin(state);
  const s = slotOf(state, b, ref);
  if (s >= 0) store<u32>(bucketPtr(state, b) + (<usize>s << 2), 0);
  freeEntry(state, ref);
  writeEnd(state);
  return 1;
}

/**
 * Aging: walks `budget` buckets from the aging cursor and removes every flow whose last hit is
 * more than `maxIdle` ticks before `now` (u32 arithmetic, so the tick counter may wrap).
 * Returns the number removed.
 */
export function flow_fc_age(state: usize, now: u32, maxIdle: u32, budget: u32): i32 {
  if (!headerOk(state, FC_MAGIC, FC_LAYOUT, FC_CTRL_BYTES)) return FC_E_STATE;
  const mask = load<u32>(state, BUCKET_MASK);
  let cursor = load<u32>(state, AGE_CURSOR) & mask;
  let removed: i32 = 0;
  const n = min<u32>(budget, mask + 1);
  writeBegin(state);
  for (let i: u32 = 0; i < n; i++) {
    const bp = bucketPtr(state, cursor);
    for (let s: usize = 0; s < 8; s++) {
      if (load<u32>(bp + (s << 2)) == 0) continue;
      const ref = load<u32>(bp + 32 + (s << 2));
      if (now - load<u32>(entryPtr(state, ref - 1), E_LAST) > maxIdle) {
        store<u32>(bp + (s << 2), 0);
        freeEntry(state, ref);
        removed++;
      }
    }
    cursor = (cursor + 1) & mask;
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
