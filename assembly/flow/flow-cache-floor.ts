// The memory floor of a flow-cache hit, for the bench: a hit must read its flow's 64-byte entry
// line, so a loop that reads just those lines, and does nothing else, bounds from above what any
// hit path can do on the machine it runs on. `bench flow` reports it beside the hit rate, on the
// same table and the same probes (entry-line-reads). Lookups cannot reach it: they learn the
// entry's address only from the key's hash and tag probe, and Wasm has no prefetch to overlap
// that work with the entry reads of the keys before.

import { FC_E_RANGE, FC_E_STATE, entriesOf, tableBuckets } from './flow-cache';
import { rangeOk } from './hash';

/**
 * Reads one word of the entry line of each of `count` slots (u32 slot indexes at `slots`, as
 * flow_fc_key_info reports them). Returns a non-negative checksum of what it read, or a
 * negative status. Slots past the table are clamped to its last slot.
 */
export function flow_fc_read_entries(state: usize, slots: usize, count: i32): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  if (count < 0 || !rangeOk(slots, (<u64>count) << 2)) return FC_E_RANGE;
  const entries = entriesOf(state, nb);
  const last = (nb << 3) - 1;
  let sum: u32 = 0;
  // SAFETY: i < count (range-checked above); every slot is clamped to the table's last one.
  for (let i: usize = 0; i < <usize>count; i++)
    sum += load<u32>(entries + ((<usize>min(load<u32>(slots + (i << 2)), last)) << 6));
  return <i32>(sum & 0x7fffffff);
}
