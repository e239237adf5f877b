// Rings that received records during a run and whose consumers must be woken once at its end
// (io-ring.ts: at most one bell a burst). The list lives in the scratch region.

import { ringBell } from './io-ring';
import { NET_SC_RINGS, NET_SC_RING_COUNT, NET_SC_RING_LIST } from './scratch';

/** Remembers `ring` for the end-of-run bell (a full list rings now instead). */
export function bellLater(sc: usize, ring: usize): void {
  const n = load<u32>(sc, NET_SC_RING_COUNT);
  for (let i: u32 = 0; i < n; i++) if (<usize>load<u32>(sc + NET_SC_RING_LIST + ((<usize>i) << 2)) == ring) return;
  if (n == NET_SC_RINGS) {
    ringBell(ring);
    return;
  }
  store<u32>(sc + NET_SC_RING_LIST + ((<usize>n) << 2), <u32>ring);
  store<u32>(sc, n + 1, NET_SC_RING_COUNT);
}

/** Rings every remembered ring once and forgets them. */
export function bellsFlush(sc: usize): void {
  const n = load<u32>(sc, NET_SC_RING_COUNT);
  for (let i: u32 = 0; i < n; i++) ringBell(<usize>load<u32>(sc + NET_SC_RING_LIST + ((<usize>i) << 2)));
  store<u32>(sc, 0, NET_SC_RING_COUNT);
}
