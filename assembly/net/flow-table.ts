// The fast path's flows: the flow cache (assembly/flow/flow-cache.ts) maps a key to a record
// index; records (flow-record.ts) are allocated from a free stack. Installs, deletes, aging and
// flushes all run here, on the core that serves the switch, so the cache has one writer.

import { headerOk } from '../common/header';
import { E_LAST, E_VALUE, entriesOf, tableBuckets, tagsOf } from '../flow/flow-cache';
import { FC_EVICTED, flow_fc_lookup } from '../flow/flow-cache';
import { flow_fc_delete, flow_fc_insert, flow_fc_last_evicted, flow_fc_remove_slot } from '../flow/flow-cache-update';
import { rangeOk } from '../flow/hash';
import {
  NET_FR_ACTIONS,
  NET_FR_ACTION_BYTES,
  NET_FR_BYTES,
  NET_FR_BYTES_COUNT,
  NET_FR_CAPACITY,
  NET_FR_COOKIE,
  NET_FR_CREATED,
  NET_FR_FLAGS,
  NET_FR_FREE_COUNT,
  NET_FR_FREE_STACK,
  NET_FR_IN_PORT,
  NET_FR_IN_USE,
  NET_FR_LAYOUT,
  NET_FR_MAGIC,
  NET_FR_PACKETS,
  NET_FR_RECORDS,
  NET_KEY_IN_PORT,
  flowRecordBytes,
} from './flow-record';
import { NET_DOWN_ST_TABLE_FULL } from './upcall';
import {
  flushMatches,
  NET_FLUSH_NONE,
  NET_SW_AGE_BUDGET,
  NET_SW_FLOW_CACHE,
  NET_SW_FLOW_RECORDS,
  NET_SW_FLUSH_COOKIE,
  NET_SW_FLUSH_LEFT,
  NET_SW_FLUSH_MODE,
  NET_SW_MAX_IDLE,
  NET_SW_STAT_AGED,
  NET_SW_STAT_DELETES,
  NET_SW_STAT_EVICTED,
  NET_SW_STAT_FLUSHED,
} from './switch-state';
import { swStat } from './switch-stats';

export const NET_SC_AGE_CURSOR: u32 = 120;
export const NET_SC_FLUSH_CURSOR: u32 = 124;

/** Lays out a flow record region for `capacity` flows: every record free. Returns 0 or -1. */
export function flowRecordsInit(fr: usize, capacity: u32): i32 {
  const need = flowRecordBytes(capacity);
  if (capacity == 0 || need > 0xffffffff || !rangeOk(fr, need) || !headerOk(fr, NET_FR_MAGIC, NET_FR_LAYOUT, <u32>need))
    return -1;
  store<u32>(fr, capacity, NET_FR_CAPACITY);
  store<u32>(fr, capacity, NET_FR_FREE_COUNT);
  const stack = NET_FR_RECORDS + capacity * NET_FR_BYTES;
  store<u32>(fr, stack, NET_FR_FREE_STACK);
  memory.fill(fr + NET_FR_RECORDS, 0, <usize>capacity * NET_FR_BYTES);
  // Popped from the top: records are handed out 0, 1, 2, ...
  for (let i: u32 = 0; i < capacity; i++) store<u32>(fr + <usize>stack + ((<usize>i) << 2), capacity - 1 - i);
  return 0;
}

/** True when the region is a flow record region of a capacity that fits its size. */
export function flowRecordsOk(fr: usize): bool {
  if (fr == 0 || !rangeOk(fr, NET_FR_RECORDS) || !headerOk(fr, NET_FR_MAGIC, NET_FR_LAYOUT, NET_FR_RECORDS))
    return false;
  const cap = load<u32>(fr, NET_FR_CAPACITY);
  return (
    cap != 0 &&
    load<u32>(fr, NET_FR_FREE_COUNT) <= cap &&
    load<u32>(fr, NET_FR_FREE_STACK) == NET_FR_RECORDS + cap * NET_FR_BYTES &&
    flowRecordBytes(cap) <= <u64>load<u32>(fr, 8)
  );
}

@inline export function recordAt(fr: usize, idx: u32): usize {
  return fr + NET_FR_RECORDS + <usize>idx * NET_FR_BYTES;
}

function recordAlloc(fr: usize): u32 {
  const free = load<u32>(fr, NET_FR_FREE_COUNT);
  if (free == 0) return 0xffffffff;
  const idx = load<u32>(fr + <usize>load<u32>(fr, NET_FR_FREE_STACK) + ((<usize>(free - 1)) << 2));
  store<u32>(fr, free - 1, NET_FR_FREE_COUNT);
  return idx;
}

function recordFree(fr: usize, idx: u32): void {
  const cap = load<u32>(fr, NET_FR_CAPACITY);
  if (idx >= cap) return;
  const r = recordAt(fr, idx);
  if ((load<u32>(r, NET_FR_FLAGS) & NET_FR_IN_USE) == 0) return; // never twice
  store<u32>(r, 0, NET_FR_FLAGS);
  const free = load<u32>(fr, NET_FR_FREE_COUNT);
  store<u32>(fr + <usize>load<u32>(fr, NET_FR_FREE_STACK) + ((<usize>free) << 2), idx);
  store<u32>(fr, free + 1, NET_FR_FREE_COUNT);
}

/**
 * Installs key → actions (already checked) with `cookie`. An existing flow of that key gets the
 * new actions in place. Returns 0 or NET_DOWN_ST_* (the caller counts it).
 */
export function flowInstall(
  sw: usize,
  key: usize,
  acts: usize,
  bytes: u32,
  cookie: u32,
  now: u32,
  lookupOut: usize,
): u32 {
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  const fr = <usize>load<u32>(sw, NET_SW_FLOW_RECORDS);
  const rc = flow_fc_lookup(fc, key, 1, lookupOut, now);
  if (rc < 0) return NET_DOWN_ST_TABLE_FULL;
  let idx = load<i32>(lookupOut);
  const existing = idx >= 0 && <u32>idx < load<u32>(fr, NET_FR_CAPACITY);
  if (!existing) {
    const a = recordAlloc(fr);
    if (a == 0xffffffff) return NET_DOWN_ST_TABLE_FULL;
    idx = <i32>a;
  }
  const r = recordAt(fr, <u32>idx);
  if (!existing) {
    store<u64>(r, 0, NET_FR_PACKETS);
    store<u64>(r, 0, NET_FR_BYTES_COUNT);
    store<u32>(r, now, NET_FR_CREATED);
  }
  store<u32>(r, NET_FR_IN_USE, NET_FR_FLAGS);
  store<u32>(r, cookie, NET_FR_COOKIE);
  store<u16>(r, <u16>bytes, NET_FR_ACTION_BYTES);
  store<u16>(r, load<u16>(key, NET_KEY_IN_PORT), NET_FR_IN_PORT);
  memory.fill(r + NET_FR_ACTIONS, 0, 96);
  memory.copy(r + NET_FR_ACTIONS, acts, bytes);
  if (existing) return 0;
  const st = flow_fc_insert(fc, key, <u32>idx, now);
  if (st < 0) {
    recordFree(fr, <u32>idx);
    return NET_DOWN_ST_TABLE_FULL;
  }
  if (st == FC_EVICTED) {
    recordFree(fr, <u32>flow_fc_last_evicted(fc));
    swStat(sw, NET_SW_STAT_EVICTED, 1);
  }
  return 0;
}

/** Removes the flow of `key`; true when there was one. */
export function flowDelete(sw: usize, key: usize, now: u32, lookupOut: usize): bool {
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  const fr = <usize>load<u32>(sw, NET_SW_FLOW_RECORDS);
  if (flow_fc_lookup(fc, key, 1, lookupOut, now) < 0) return false;
  const idx = load<i32>(lookupOut);
  if (idx < 0) return false;
  if (flow_fc_delete(fc, key) != 1) return false;
  recordFree(fr, <u32>idx);
  swStat(sw, NET_SW_STAT_DELETES, 1);
  return true;
}

/**
 * Starts a flush (FLUSH_COOKIE / FLUSH_ALL / FLUSH_MASKED): one lap of the table, a slice per run.
 * A masked flush's terms are in the switch state already (switch-state.ts +1688).
 */
export function flushStart(sw: usize, sc: usize, mode: u32, cookie: u32): void {
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  const nb = tableBuckets(fc);
  if (nb == 0) return;
  store<u32>(sw, mode, NET_SW_FLUSH_MODE);
  store<u32>(sw, cookie, NET_SW_FLUSH_COOKIE);
  store<u32>(sw, nb, NET_SW_FLUSH_LEFT);
  store<u32>(sc, 0, NET_SC_FLUSH_CURSOR);
}

/**
 * One slice of housekeeping: aging (flows idle more than maxIdle ticks) and a pending flush, each
 * over at most ageBudget buckets. Returns flows removed.
 */
export function flowHousekeeping(sw: usize, sc: usize, now: u32): u32 {
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  const fr = <usize>load<u32>(sw, NET_SW_FLOW_RECORDS);
  const nb = tableBuckets(fc);
  if (nb == 0) return 0;
  const budget = min<u32>(load<u32>(sw, NET_SW_AGE_BUDGET), nb);
  let removed: u32 = 0;
  const maxIdle = load<u32>(sw, NET_SW_MAX_IDLE);
  if (maxIdle != 0 && budget != 0) {
    const cur = load<u32>(sc, NET_SC_AGE_CURSOR) % nb;
    const n = walk(sw, fc, fr, nb, cur, budget, now, maxIdle, NET_FLUSH_NONE);
    store<u32>(sc, (cur + budget) % nb, NET_SC_AGE_CURSOR);
    swStat(sw, NET_SW_STAT_AGED, n);
    removed += n;
  }
  const mode = load<u32>(sw, NET_SW_FLUSH_MODE);
  if (mode != NET_FLUSH_NONE) {
    const left = load<u32>(sw, NET_SW_FLUSH_LEFT);
    const step = min<u32>(max<u32>(budget, 64), left);
    const cur = load<u32>(sc, NET_SC_FLUSH_CURSOR) % nb;
    const n = walk(sw, fc, fr, nb, cur, step, now, 0, mode);
    store<u32>(sc, (cur + step) % nb, NET_SC_FLUSH_CURSOR);
    store<u32>(sw, left - step, NET_SW_FLUSH_LEFT);
    if (left - step == 0) store<u32>(sw, NET_FLUSH_NONE, NET_SW_FLUSH_MODE);
    swStat(sw, NET_SW_STAT_FLUSHED, n);
    removed += n;
  }
  return removed;
}

/** Removes, over `count` buckets from `cur`, the flows idle too long (maxIdle != 0) or matching the flush. */
function walk(sw: usize, fc: usize, fr: usize, nb: u32, cur: u32, count: u32, now: u32, maxIdle: u32, mode: u32): u32 {
  const tags = tagsOf(fc);
  const entries = entriesOf(fc, nb);
  const cap = load<u32>(fr, NET_FR_CAPACITY);
  let removed: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const b = cur;
    for (let s: u32 = 0; s < 8; s++) {
      const e = (b << 3) | s;
      // SAFETY: b < nb and s < 8: inside the tag array and the entries tableBuckets checked.
      if (load<u8>(tags + <usize>e) == 0) continue;
      const ep = entries + ((<usize>e) << 6);
      const idx = load<u32>(ep, E_VALUE);
      let go = false;
      if (maxIdle != 0) go = now - load<u32>(ep, E_LAST) > maxIdle;
      else if (mode != NET_FLUSH_NONE)
        go = idx < cap && flushMatches(sw, mode, load<u32>(recordAt(fr, idx), NET_FR_COOKIE));
      if (go && flow_fc_remove_slot(fc, e) == 1) {
        recordFree(fr, idx);
        removed++;
      }
    }
    cur = cur + 1 == nb ? 0 : cur + 1;
  }
  return removed;
}
