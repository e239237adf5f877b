// Counter updates of the switch state (switch-state.ts). One core serves a switch instance, so
// the counters are plain u64 stores; readers on other threads see each value whole (aligned u64).

import {
  NET_SW_COUNTER_ARRAY,
  NET_SW_DROPS,
  NET_SW_MALFORMED,
  NET_SW_PORT_STATS,
  NET_SW_PORT_STAT_BYTES,
  NET_SW_CLOCK,
  NET_SW_PORT_HIST_BYTES,
  NET_SW_STAMP_SLOTS,
  NET_SW_STATS,
  slowHistOffset,
  splitOffset,
  stampOffset,
} from './switch-state';
import { burstObserve } from '../common/burst-latency';

@inline export function swStat(sw: usize, idx: u32, by: u64): void {
  const p = sw + NET_SW_STATS + ((<usize>idx) << 3);
  store<u64>(p, load<u64>(p) + by);
}

/** Port counters; the caller checked port < maxPorts (the region holds maxPorts entries). */
@inline export function portStat(sw: usize, port: u32, off: u32, by: u64): void {
  const p = sw + NET_SW_PORT_STATS + <usize>port * NET_SW_PORT_STAT_BYTES + <usize>off;
  store<u64>(p, load<u64>(p) + by);
}

@inline export function dropReasonStat(sw: usize, reason: u32): void {
  const p = sw + NET_SW_DROPS + ((<usize>(reason & 15)) << 3);
  store<u64>(p, load<u64>(p) + 1);
}

@inline export function malformedStat(sw: usize, reason: u32): void {
  const p = sw + NET_SW_MALFORMED + ((<usize>(reason & 15)) << 3);
  store<u64>(p, load<u64>(p) + 1);
}

/** COUNT action: packets and bytes into counter `idx` (checked < NET_SW_COUNTERS at install). */
@inline export function counterAdd(sw: usize, idx: u32, bytes: u32): void {
  const p = sw + NET_SW_COUNTER_ARRAY + ((<usize>idx) << 4);
  store<u64>(p, load<u64>(p) + 1);
  store<u64>(p, load<u64>(p, 8) + <u64>bytes, 8);
}

/**
 * A frame taken in from `port` (< maxPorts): counted in this burst's split, so that the core
 * running the switch observes the burst's duration once for it in the port's histogram.
 */
@inline export function splitFrame(sw: usize, maxPorts: u32, port: u32): void {
  // From the validated maxPorts, not the NET_SW_SPLIT word: inside the region the burst checked.
  const s = sw + <usize>splitOffset(maxPorts);
  const f = s + 8 + ((<usize>maxPorts) << 2) + ((<usize>port) << 2);
  const n = load<u32>(f);
  if (n == 0) {
    const c = load<u32>(s);
    // At most maxPorts distinct ports a burst; full only if no core ever resets it (in-thread use).
    if (c < maxPorts) {
      store<u32>(s + 8 + ((<usize>c) << 2), port);
      store<u32>(s, c + 1);
    }
  }
  store<u32>(f, n + 1);
}

/** An upcall `seq` leaves in this burst: its stamp is this burst's clock. */
@inline export function stampUpcall(sw: usize, maxPorts: u32, seq: u32): void {
  const e = sw + <usize>stampOffset(maxPorts) + ((<usize>(seq & (NET_SW_STAMP_SLOTS - 1))) << 4);
  store<u32>(e, seq);
  store<f64>(e, load<f64>(sw, NET_SW_CLOCK), 8);
}

/**
 * A frame re-injected on `port` (< maxPorts) answering upcall `seq`: its time since the upcall
 * goes into the port's slow-path histogram, once (the stamp is spent). An answer to no upcall
 * (seq 0) or to one whose stamp was overwritten is not timed.
 */
@inline export function observeReinjected(sw: usize, maxPorts: u32, port: u32, seq: u32): void {
  if (seq == 0) return;
  const e = sw + <usize>stampOffset(maxPorts) + ((<usize>(seq & (NET_SW_STAMP_SLOTS - 1))) << 4);
  if (load<u32>(e) != seq) return;
  store<u32>(e, 0);
  const h = sw + <usize>slowHistOffset(maxPorts) + <usize>port * NET_SW_PORT_HIST_BYTES;
  burstObserve(h, load<f64>(sw, NET_SW_CLOCK) - load<f64>(e, 8), 1);
}
