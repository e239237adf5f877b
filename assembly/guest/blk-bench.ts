// Benchmark driver for virtio-blk: the cheapest correct split-ring driver for fixed-shape
// requests, Linux-framed (three descriptors: header, data, status). Request i permanently owns
// descriptors 3i..3i+2 and slot i at slotsGpa + i * BLKW_SLOT_BYTES (header +0, data +16,
// status +4112), so re-posting a completed request is a new sector, one available-ring entry
// and, per round, one index store and a doorbell. Any completion order is handled (used ids).

import { BLK_T_IN } from '../blk/layout';
import { AVAIL_F_NO_INTERRUPT, AVAIL_RING, F_NEXT, F_WRITE, USED_RING } from '../virtio/layout';
import {
  GD_AVAIL_IDX,
  GD_DESC,
  GD_DEVICE,
  GD_DRIVER,
  GD_ERRORS,
  GD_LAST_USED,
  GD_RAM,
  GD_SIZE,
  bump,
  ringDoorbell,
} from './driver-state';
import { BLKW_SLOT_BYTES } from './blk-workload';

const STATUS: u32 = 4112;

@inline function slotHost(drv: usize, slotsGpa: u64, i: u32): usize {
  return <usize>load<u32>(drv, GD_RAM) + <usize>slotsGpa + <usize>i * BLKW_SLOT_BYTES;
}

@inline function randomSector(rng: usize, blocks: u32): u64 {
  let x = load<u32>(rng);
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  store<u32>(rng, x);
  return <u64>(x % blocks) * 8;
}

/**
 * Lays out `qd` requests of `len` data bytes (IN, 4 KiB-aligned random sectors); needs a ring of
 * at least 3 * qd. Returns 0 or -1.
 */
export function benchSetup(drv: usize, slotsGpa: u64, qd: u32, len: u32): i32 {
  const n = load<u32>(drv, GD_SIZE);
  if (qd == 0 || qd * 3 > n || len == 0 || len > 4096) return -1;
  const desc = <usize>load<u32>(drv, GD_DESC);
  for (let i: u32 = 0; i < qd; i++) {
    const g = slotsGpa + <u64>i * BLKW_SLOT_BYTES;
    const d = desc + <usize>(i * 3) * 16;
    store<u64>(d, g);
    store<u32>(d, 16, 8);
    store<u16>(d, F_NEXT, 12);
    store<u16>(d, <u16>(i * 3 + 1), 14);
    store<u64>(d + 16, g + 16);
    store<u32>(d + 16, len, 8);
    store<u16>(d + 16, F_WRITE | F_NEXT, 12);
    store<u16>(d + 16, <u16>(i * 3 + 2), 14);
    store<u64>(d + 32, g + STATUS);
    store<u32>(d + 32, 1, 8);
    store<u16>(d + 32, F_WRITE, 12);
    store<u16>(d + 32, 0, 14);
    const s = slotHost(drv, slotsGpa, i);
    store<u32>(s, BLK_T_IN);
    store<u32>(s, 0, 4);
  }
  return 0;
}

/** Makes request i available with a new random sector (published by publish()). */
@inline function post(drv: usize, slotsGpa: u64, i: u32, rng: usize, blocks: u32, avail: usize, n: u32): void {
  const s = slotHost(drv, slotsGpa, i);
  store<u64>(s, randomSector(rng, blocks), 8);
  store<u8>(s, 0xff, STATUS);
  const idx = <u32>load<u16>(drv, GD_AVAIL_IDX);
  store<u16>(avail + AVAIL_RING + ((<usize>(idx & (n - 1))) << 1), <u16>(i * 3));
  store<u16>(drv, <u16>(idx + 1), GD_AVAIL_IDX);
}

@inline function publish(drv: usize, avail: usize): void {
  atomic.store<u16>(avail, load<u16>(drv, GD_AVAIL_IDX), 2);
  ringDoorbell(drv);
}

/** Posts all `qd` requests once. */
export function benchStart(drv: usize, slotsGpa: u64, qd: u32, rng: usize, blocks: u32): void {
  const n = load<u32>(drv, GD_SIZE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  // A polling driver wants no interrupts (a NAPI poll loop): the device then skips its notify.
  atomic.store<u16>(avail, AVAIL_F_NO_INTERRUPT);
  for (let i: u32 = 0; i < qd; i++) post(drv, slotsGpa, i, rng, blocks, avail, n);
  publish(drv, avail);
}

/**
 * `rounds` rounds of: collect what completed (status checked: anything but OK is an error),
 * re-post each at a new random sector, publish once. Returns completions.
 */
export function benchPump(drv: usize, slotsGpa: u64, rng: usize, blocks: u32, rounds: u32): u32 {
  const n = load<u32>(drv, GD_SIZE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  const used = <usize>load<u32>(drv, GD_DEVICE);
  let done: u32 = 0;
  for (let r: u32 = 0; r < rounds; r++) {
    const now = <u16>atomic.load<u16>(used, 2);
    let last = load<u16>(drv, GD_LAST_USED);
    if (now == last) continue;
    while (last != now) {
      const head = load<u32>(used + USED_RING + ((<usize>((<u32>last) & (n - 1))) << 3));
      const i = head / 3;
      if (head % 3 != 0 || i * 3 >= n) {
        bump(drv, GD_ERRORS);
      } else {
        if (load<u8>(slotHost(drv, slotsGpa, i), STATUS) != 0) bump(drv, GD_ERRORS);
        post(drv, slotsGpa, i, rng, blocks, avail, n);
      }
      last++;
      done++;
    }
    store<u16>(drv, last, GD_LAST_USED);
    publish(drv, avail);
  }
  return done;
}

/**
 * One request (request 0) at a time: post, kick, poll the used index. 1 = completed with OK,
 * 0 = no completion within spinLimit polls or a bad status.
 */
export function benchOne(drv: usize, slotsGpa: u64, rng: usize, blocks: u32, spinLimit: u32): i32 {
  const n = load<u32>(drv, GD_SIZE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  const used = <usize>load<u32>(drv, GD_DEVICE);
  const last = load<u16>(drv, GD_LAST_USED);
  atomic.store<u16>(avail, AVAIL_F_NO_INTERRUPT);
  post(drv, slotsGpa, 0, rng, blocks, avail, n);
  publish(drv, avail);
  for (let s: u32 = 0; s < spinLimit; s++) {
    if (<u16>atomic.load<u16>(used, 2) != last) {
      store<u16>(drv, <u16>(last + 1), GD_LAST_USED);
      return load<u8>(slotHost(drv, slotsGpa, 0), STATUS) == 0 ? 1 : 0;
    }
  }
  return 0;
}
