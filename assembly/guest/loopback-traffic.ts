// Guest workloads for the loopback device. Request with token t uses the buffer pair at
// bufGpa + 128·t: 64 readable bytes, then 64 writable bytes. The first 8 readable bytes carry
// a sequence number; a completion is correct when len = 64 and the echo carries the same one.

import { F_AVAIL, F_USED } from '../virtio/layout';
import {
  GD_ADDED,
  GD_AVAIL_IDX,
  GD_AVAIL_WRAP,
  GD_COMPLETED,
  GD_DESC,
  GD_DEVICE,
  GD_DRIVER,
  GD_ERRORS,
  GD_IRQ,
  GD_IRQ_WAITS,
  GD_LAST_USED,
  GD_NEXT_AVAIL,
  GD_NEXT_USED,
  GD_RAM,
  GD_SIZE,
  GD_USED_WRAP,
  bump,
} from './driver-state';
import { drvAdd, drvDisableIrq, drvEnableIrq, drvFree, drvKick, drvNextToken, drvReap } from './driver';

// Buffer area at bufGpa: one pair per token, a readable half then a writable half.
export const GLOOP_PAIR_BYTES: u32 = 128;
export const GLOOP_HALF_BYTES: u32 = 64;

@inline export function post(drv: usize, bufGpa: u64): i32 {
  if (drvFree(drv) < 2) return -1;
  const t = drvNextToken(drv);
  const out = <usize>load<u32>(drv, GD_RAM) + <usize>bufGpa + <usize>(t * GLOOP_PAIR_BYTES);
  // SAFETY: the caller sized the buffer area for N pairs inside guest RAM; t < N.
  store<u64>(out, load<u64>(drv, GD_ADDED) + 1);
  return drvAdd(
    drv,
    bufGpa + <u64>(t * GLOOP_PAIR_BYTES),
    GLOOP_HALF_BYTES,
    bufGpa + <u64>(t * GLOOP_PAIR_BYTES + GLOOP_HALF_BYTES),
    GLOOP_HALF_BYTES,
  );
}

@inline function check(drv: usize, bufGpa: u64, out: usize, cnt: u32): void {
  const base = <usize>load<u32>(drv, GD_RAM) + <usize>bufGpa;
  for (let i: u32 = 0; i < cnt; i++) {
    const t = load<u32>(out + ((<usize>i) << 3));
    const len = load<u32>(out + ((<usize>i) << 3), 4);
    const pair = base + <usize>(t * GLOOP_PAIR_BYTES);
    if (len != GLOOP_HALF_BYTES || load<u64>(pair) != load<u64>(pair + GLOOP_HALF_BYTES)) bump(drv, GD_ERRORS);
  }
}

/** Keeps the ring full (ringtest style): fill, kick, reap — `budget` rounds. Returns completions. */
export function pump(drv: usize, bufGpa: u64, scratch: usize, budget: u32): u32 {
  const n = load<u32>(drv, GD_SIZE);
  // A polling driver wants no interrupts (as a NAPI poll loop): the device then skips them.
  drvDisableIrq(drv);
  let done: u32 = 0;
  for (let r: u32 = 0; r < budget; r++) {
    while (post(drv, bufGpa) >= 0);
    drvKick(drv);
    const c = drvReap(drv, scratch, n);
    check(drv, bufGpa, scratch, c);
    done += c;
  }
  return done;
}

/** One request, polling for its completion. 1 = done, 0 = no completion within spinLimit polls. */
export function one(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32): i32 {
  drvDisableIrq(drv);
  if (post(drv, bufGpa) < 0) return 0;
  drvKick(drv);
  for (let s: u32 = 0; s < spinLimit; s++) {
    const c = drvReap(drv, scratch, load<u32>(drv, GD_SIZE));
    if (c != 0) {
      check(drv, bufGpa, scratch, c);
      return 1;
    }
  }
  return 0;
}

/**
 * One request, waiting for its interrupt: interrupts on (with the re-check), then sleep on the
 * interrupt word until it changes. 1 = done, 0 = timed out.
 */
export function oneIrq(drv: usize, bufGpa: u64, scratch: usize, timeoutNs: i64): i32 {
  const irq = <usize>load<u32>(drv, GD_IRQ);
  if (post(drv, bufGpa) < 0) return 0;
  drvKick(drv);
  for (let round = 0; round < 1000; round++) {
    const seen = atomic.load<i32>(irq);
    if (drvEnableIrq(drv) == 0) {
      bump(drv, GD_IRQ_WAITS);
      if (atomic.wait<i32>(irq, seen, timeoutNs) == 2) return 0;
    }
    const c = drvReap(drv, scratch, load<u32>(drv, GD_SIZE));
    if (c != 0) {
      drvDisableIrq(drv);
      check(drv, bufGpa, scratch, c);
      return 1;
    }
  }
  return 0;
}

/** Reaps until every request added has completed (or spinLimit polls pass). Returns requests still outstanding. */
export function drain(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32): u32 {
  const n = load<u32>(drv, GD_SIZE);
  for (let s: u32 = 0; s < spinLimit; s++) {
    if (load<u64>(drv, GD_ADDED) == load<u64>(drv, GD_COMPLETED)) return 0;
    drvKick(drv);
    check(drv, bufGpa, scratch, drvReap(drv, scratch, n));
  }
  return <u32>(load<u64>(drv, GD_ADDED) - load<u64>(drv, GD_COMPLETED));
}

/** Benchmark helper: posts `count` one-descriptor readable chains of `len` bytes and kicks. Returns how many fit. */
export function postMany(drv: usize, bufGpa: u64, len: u32, count: u32): u32 {
  let k: u32 = 0;
  while (k < count) {
    const t = drvNextToken(drv);
    if (drvAdd(drv, bufGpa + <u64>(t * GLOOP_PAIR_BYTES), len, 0, 0) < 0) break;
    k++;
  }
  drvKick(drv);
  return k;
}

/**
 * Benchmark driver for the kernel-only ring benchmark, the cheapest correct split-ring driver:
 * descriptor i permanently describes buffer i (one readable descriptor), so refilling is
 * writing `count` available-ring entries and one index, and collecting is reading used.idx.
 * It assumes what the benchmark guarantees: in-order completion of single-descriptor chains.
 */
export function benchSplitSetup(drv: usize, bufGpa: u64, len: u32): void {
  const n = load<u32>(drv, GD_SIZE);
  const desc = <usize>load<u32>(drv, GD_DESC);
  for (let i: u32 = 0; i < n; i++) {
    const d = desc + ((<usize>i) << 4);
    store<u64>(d, bufGpa + <u64>(i * GLOOP_PAIR_BYTES));
    store<u32>(d, len, 8);
    store<u32>(d, 0, 12); // flags 0, next 0
  }
}

export function benchSplitRefill(drv: usize, count: u32): void {
  const n = load<u32>(drv, GD_SIZE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  let idx = load<u16>(drv, GD_AVAIL_IDX);
  for (let k: u32 = 0; k < count; k++) {
    store<u16>(avail + 4 + ((<usize>((<u32>idx) & (n - 1))) << 1), <u16>((<u32>idx) & (n - 1)));
    idx++;
  }
  atomic.store<u16>(avail, idx, 2);
  store<u16>(drv, idx, GD_AVAIL_IDX);
}

export function benchSplitCollect(drv: usize): u32 {
  const used = <usize>load<u32>(drv, GD_DEVICE);
  const now = <u16>atomic.load<u16>(used, 2);
  const got = <u32>(<u16>(now - load<u16>(drv, GD_LAST_USED)));
  store<u16>(drv, now, GD_LAST_USED);
  return got;
}

/** Packed-ring counterpart: descriptor in slot i describes buffer i with buffer id i. */
export function benchPackedSetup(drv: usize, bufGpa: u64, len: u32): void {
  const n = load<u32>(drv, GD_SIZE);
  const desc = <usize>load<u32>(drv, GD_DESC);
  for (let i: u32 = 0; i < n; i++) {
    const d = desc + ((<usize>i) << 4);
    store<u64>(d, bufGpa + <u64>(i * GLOOP_PAIR_BYTES));
    store<u32>(d, len, 8);
    store<u16>(d, <u16>i, 12);
    store<u16>(d, 0, 14);
  }
}

/** Makes the next `count` slots available again (each a one-descriptor chain: its own head). */
export function benchPackedRefill(drv: usize, count: u32): void {
  const n = load<u32>(drv, GD_SIZE);
  const desc = <usize>load<u32>(drv, GD_DESC);
  let slot = <u32>load<u16>(drv, GD_NEXT_AVAIL);
  let wrap = load<u16>(drv, GD_AVAIL_WRAP);
  for (let k: u32 = 0; k < count; k++) {
    atomic.store<u16>(desc + ((<usize>slot) << 4), wrap != 0 ? F_AVAIL : F_USED, 14);
    if (++slot == n) {
      slot = 0;
      wrap ^= 1;
    }
  }
  store<u16>(drv, <u16>slot, GD_NEXT_AVAIL);
  store<u16>(drv, wrap, GD_AVAIL_WRAP);
}

export function benchPackedCollect(drv: usize): u32 {
  const n = load<u32>(drv, GD_SIZE);
  const desc = <usize>load<u32>(drv, GD_DESC);
  let slot = <u32>load<u16>(drv, GD_NEXT_USED);
  let wrap = load<u16>(drv, GD_USED_WRAP);
  const both: u16 = F_AVAIL | F_USED;
  let got: u32 = 0;
  while (got < n) {
    const f = (<u16>atomic.load<u16>(desc + ((<usize>slot) << 4), 14)) & both;
    if (f != (wrap != 0 ? both : 0)) break;
    got++;
    if (++slot == n) {
      slot = 0;
      wrap ^= 1;
    }
  }
  store<u16>(drv, <u16>slot, GD_NEXT_USED);
  store<u16>(drv, wrap, GD_USED_WRAP);
  return got;
}
