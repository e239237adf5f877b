// Listing the installed flows, for the control plane (out of band, read-only): walks the flow
// cache's slots and copies each occupied one's key, record index and last-hit tick.
//
// Output: +0 u32 count   then count records of NET_DUMP_BYTES: +0 key (48 B)  +48 u32 record
// +52 u32 lastHit   +56 u32 slot   +60 u32 zero

import { E_LAST, E_VALUE, entriesOf, FC_NO_SLOT, findKey, hashOf, tableBuckets, tagsOf } from '../flow/flow-cache';
import { rangeOk } from '../flow/hash';
import { headerOk } from '../common/header';
import { NET_SW_FLOW_CACHE, NET_SW_LAYOUT, NET_SW_MAGIC } from './switch-state';

export const NET_DUMP_BYTES: u32 = 64;
export const NET_DUMP_RECORDS: u32 = 64;

/**
 * Copies up to `max` occupied slots, from slot `start` on, into `out`. Returns the slot to start
 * the next call from (bucketCount * 8 when the walk is done), or -1 for a bad state or range.
 */
export function flowDump(sw: usize, start: u32, out: usize, max: u32): i32 {
  if (!rangeOk(sw, 2048) || !headerOk(sw, NET_SW_MAGIC, NET_SW_LAYOUT, 2048)) return -1;
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  const nb = tableBuckets(fc);
  if (nb == 0 || !rangeOk(out, <u64>NET_DUMP_RECORDS + <u64>max * NET_DUMP_BYTES)) return -1;
  const slots = nb << 3;
  const tags = tagsOf(fc);
  const entries = entriesOf(fc, nb);
  let n: u32 = 0;
  let e = start;
  for (; e < slots && n < max; e++) {
    // SAFETY: e < nb * 8: inside the tag array and the entries tableBuckets checked.
    if (load<u8>(tags + <usize>e) == 0) continue;
    const ep = entries + ((<usize>e) << 6);
    const r = out + NET_DUMP_RECORDS + <usize>n * NET_DUMP_BYTES;
    memory.copy(r, ep, 48);
    store<u32>(r, load<u32>(ep, E_VALUE), 48);
    store<u32>(r, load<u32>(ep, E_LAST), 52);
    store<u32>(r, e, 56);
    store<u32>(r, 0, 60);
    n++;
  }
  store<u32>(out, n);
  return <i32>e;
}

/** What flowStamps writes for a key not installed. */
export const NET_STAMP_NONE: u32 = 0xffffffff;

/**
 * The last-hit tick of each of `count` keys (48 bytes each, contiguous at `keys`) into `out` (u32
 * each; NET_STAMP_NONE when not installed): what a sweep of the few due connections asks,
 * without a pass over the table. Read-only and out of band like flowDump (a flow moved by a
 * concurrent insert may read as absent). Returns count, or -1 for a bad state or range.
 */
export function flowStamps(sw: usize, keys: usize, count: u32, out: usize): i32 {
  if (!rangeOk(sw, 2048) || !headerOk(sw, NET_SW_MAGIC, NET_SW_LAYOUT, 2048)) return -1;
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  const nb = tableBuckets(fc);
  if (nb == 0 || !rangeOk(keys, <u64>count * 48) || !rangeOk(out, (<u64>count) << 2)) return -1;
  const entries = entriesOf(fc, nb);
  for (let i: u32 = 0; i < count; i++) {
    const k = keys + <usize>i * 48;
    const e = findKey(fc, nb, hashOf(fc, k), k);
    // SAFETY: findKey returns a slot < nb * 8 (inside the entries tableBuckets checked) or FC_NO_SLOT.
    const t = e == FC_NO_SLOT ? NET_STAMP_NONE : load<u32>(entries + ((<usize>e) << 6), E_LAST);
    store<u32>(out + ((<usize>i) << 2), t);
  }
  return <i32>count;
}
