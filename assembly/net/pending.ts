// The pending table of ordered upcalls (switch-state.ts, upcall.ts): per slot of flow-key hashes,
// how many upcalls the slow path has not answered yet. Only the fast path touches it.

import {
  NET_SW_MAX_PORTS,
  NET_SW_ORDERED,
  NET_SW_PEND_BYTES,
  NET_SW_PEND_SLOTS,
  NET_SW_PEND_STALE,
  pendOffset,
} from './switch-state';

/** Ticks a slot stays pending without an answer when the switch names no limit. */
export const NET_PEND_STALE_DEFAULT: u32 = 1000;

@inline function slotOf(sw: usize, hash: u32): usize {
  // SAFETY: every caller runs after the switch state was checked to hold switchStateBytes(maxPorts),
  // which ends with the pending table; the index is masked to it.
  return (
    sw +
    <usize>pendOffset(load<u32>(sw, NET_SW_MAX_PORTS)) +
    <usize>((hash & (NET_SW_PEND_SLOTS - 1)) * NET_SW_PEND_BYTES)
  );
}

@inline function staleAfter(sw: usize): u32 {
  const t = load<u32>(sw, NET_SW_PEND_STALE);
  return t == 0 ? NET_PEND_STALE_DEFAULT : t;
}

/** Whether the slow path answers counted upcalls (the switch's `ordered` word). */
@inline export function pendOrdered(sw: usize): bool {
  return load<u32>(sw, NET_SW_ORDERED) != 0;
}

/** Whether upcalls of keys hashed `hash` are still unanswered (a stale slot is forgotten). */
export function pendBusy(sw: usize, hash: u32, now: u32): bool {
  const s = slotOf(sw, hash);
  if (load<u32>(s) == 0) return false;
  if (now - load<u32>(s, 4) < staleAfter(sw)) return true;
  store<u32>(s, 0);
  return false;
}

/** Counts one upcall of a key hashed `hash`. */
export function pendAdd(sw: usize, hash: u32, now: u32): void {
  const s = slotOf(sw, hash);
  let n = load<u32>(s);
  if (n != 0 && now - load<u32>(s, 4) >= staleAfter(sw)) n = 0;
  store<u32>(s, n + 1);
  store<u32>(s, now, 4);
}

/** One answer came back for a key hashed `hash`. */
export function pendRelease(sw: usize, hash: u32): void {
  const s = slotOf(sw, hash);
  const n = load<u32>(s);
  if (n != 0) store<u32>(s, n - 1);
}
