// The loopback virtio device: echoes each request's readable bytes into its writable buffers
// (as many as fit; used.len = bytes written). The device for conformance tests and ring
// benchmarks: it exercises pop, the scatter-gather lists and push, with no device logic besides.
//
// State 'VLBK' (layout 2): the common device prefix (device-state.ts: status, config interrupt,
// queue 0 at DEV_QUEUES), then
//   +256 u32 burst       burst buffer (VQBR)
//   +260 u32 maxBurst    chains per call, at most
//   +264 u32 flags       LBF_* (LBF_STAMP: bytes 8..11 of each response carry the serving module's
//                        QT_VERSION instead of the echoed bytes: which version served it)
//   +272 u64 requests  +280 u64 bytesEchoed  +288 u64 rejected

import { guestCopy, guestStore } from '../common/guest-write';
import { headerOk } from '../common/header';
import {
  CH_READ_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_USED_LEN,
  CH_WRITE_BYTES,
  CH_WRITE_SEGS,
  SEG_BYTES,
  chainAt,
  segsBase,
} from './burst';
import { DEV_PAYLOAD, devBroken, devNeedsReset, devQueue } from './device-state';
import { VQ_GMAP } from './queue-state';
import { vqArm, vqPop, vqPush } from './vq';

export const LB_MAGIC: u32 = 0x4b424c56; // 'VLBK'
export const LB_LAYOUT: u32 = 2;
export const LB_BURST: u32 = DEV_PAYLOAD;
export const LB_MAX_BURST: u32 = DEV_PAYLOAD + 4;
export const LB_FLAGS: u32 = DEV_PAYLOAD + 8;
export const LBF_STAMP: u32 = 1;
export const LB_REQUESTS: u32 = DEV_PAYLOAD + 16;
export const LB_BYTES: u32 = DEV_PAYLOAD + 24;
export const LB_REJECTED: u32 = DEV_PAYLOAD + 32;
export const LB_STATE_BYTES: u32 = DEV_PAYLOAD + 64;

/** QT_VERSION of the module this instance belongs to (set by qt_init through loopbackBind). */
let servedBy: u32 = 0;

/** Called by the module's qt_init: the version stamped into responses under LBF_STAMP. */
export function loopbackBind(version: u32): void {
  servedBy = version;
}

export function loopbackServedBy(): u32 {
  return servedBy;
}

/** Job entry: one burst of echo. Returns chains handled; a broken queue yields 0, never a failure. */
export function loopbackRun(state: usize, budget: i32): i32 {
  if (!headerOk(state, LB_MAGIC, LB_LAYOUT, LB_STATE_BYTES)) return -1;
  if (devBroken(state)) return 0;
  const vq = devQueue(state, 0);
  const burst = <usize>load<u32>(state, LB_BURST);
  let max = <u32>budget;
  const cap = load<u32>(state, LB_MAX_BURST);
  if (max > cap) max = cap;
  const n = vqPop(vq, burst, max);
  if (n < 0) return devNeedsReset(state);
  if (n == 0) return 0;
  const segs = segsBase(burst);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  let bytes: u64 = 0;
  let rejected: u32 = 0;
  const stamp = (load<u32>(state, LB_FLAGS) & LBF_STAMP) != 0;
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = chainAt(burst, i);
    if (load<u16>(rec, CH_STATUS) != 0) {
      store<u32>(rec, 0, CH_USED_LEN);
      rejected++;
      continue;
    }
    const copied = echo(map, rec, segs);
    if (stamp && copied >= 12) stampVersion(map, rec, segs);
    store<u32>(rec, copied, CH_USED_LEN);
    bytes += copied;
  }
  if (vqPush(vq, burst, <u32>n) < 0) return devNeedsReset(state);
  store<u64>(state, load<u64>(state, LB_REQUESTS) + <u64>n, LB_REQUESTS);
  store<u64>(state, load<u64>(state, LB_BYTES) + bytes, LB_BYTES);
  if (rejected) store<u64>(state, load<u64>(state, LB_REJECTED) + rejected, LB_REJECTED);
  return n;
}

/** Copies the chain's readable segments into its writable ones; returns the bytes written. */
function echo(map: usize, rec: usize, segs: usize): u32 {
  const first = load<u32>(rec, CH_SEG_START);
  const nr = <u32>load<u16>(rec, CH_READ_SEGS);
  const nw = <u32>load<u16>(rec, CH_WRITE_SEGS);
  let total = load<u32>(rec, CH_READ_BYTES);
  const room = load<u32>(rec, CH_WRITE_BYTES);
  if (total > room) total = room;
  if (nr == 1 && nw == 1) {
    // SAFETY: both segments were translated and bounds-checked against guest RAM by the pop.
    const r = segs + <usize>first * SEG_BYTES;
    guestCopy(map, <usize>load<u32>(r + SEG_BYTES), <usize>load<u32>(r), total);
    return total;
  }
  let ri: u32 = 0,
    ro: u32 = 0,
    wi: u32 = 0,
    wo: u32 = 0;
  let left = total;
  while (left != 0) {
    const r = segs + <usize>(first + ri) * SEG_BYTES;
    const w = segs + <usize>(first + nr + wi) * SEG_BYTES;
    const rAvail = load<u32>(r, 4) - ro;
    const wAvail = load<u32>(w, 4) - wo;
    let take = rAvail < wAvail ? rAvail : wAvail;
    if (take > left) take = left;
    // SAFETY: offsets stay inside each segment (take <= remaining bytes of both).
    guestCopy(map, <usize>load<u32>(w) + wo, <usize>load<u32>(r) + ro, take);
    left -= take;
    ro += take;
    wo += take;
    if (ro == load<u32>(r, 4)) {
      ri++;
      ro = 0;
    }
    if (wo == load<u32>(w, 4)) {
      wi++;
      wo = 0;
    }
  }
  return total;
}

/** Writes servedBy at bytes 8..11 of the chain's first writable segment, when that segment holds them. */
@inline function stampVersion(map: usize, rec: usize, segs: usize): void {
  const w = segs + <usize>(load<u32>(rec, CH_SEG_START) + <u32>load<u16>(rec, CH_READ_SEGS)) * SEG_BYTES;
  // SAFETY: the segment [addr, addr + len) was translated and bounds-checked by the pop; 12 <= len.
  if (load<u32>(w, 4) >= 12) guestStore<u32>(map, <usize>load<u32>(w), servedBy, 8);
}

/** Arm entry: before the core sleeps. Returns chains pending (> 0: do not sleep). */
export function loopbackArm(state: usize): i32 {
  if (!headerOk(state, LB_MAGIC, LB_LAYOUT, LB_STATE_BYTES) || devBroken(state)) return 0;
  return <i32>vqArm(devQueue(state, 0));
}
