// The loopback virtio device: echoes each request's readable bytes into its writable buffers
// (as many as fit; used.len = bytes written). The device for conformance tests and ring
// benchmarks: it exercises pop, the scatter-gather lists and push, with no device logic besides.
//
// State 'VLBK' (layout 3): the common device prefix (device-state.ts: status, config interrupt,
// queue 0 at DEV_QUEUES), then
//   +256 u32 burst       burst buffer (VQBR)
//   +260 u32 maxBurst    chains per call, at most
//   +264 u32 flags       LBF_* (LBF_STAMP: bytes 8..11 of each response carry the serving module's
//                        QT_VERSION instead of the echoed bytes: which version served it)
//   +272 u64 requests  +280 u64 bytesEchoed  +288 u64 rejected
//   +296 chain cursor (chain-cursor.ts, 16 bytes): the burst in progress across turns
//   +312 work budget (work-budget.ts, 32 bytes): bytes and descriptors per turn, work done

import { guestCopy, guestStore } from '../common/guest-write';
import { headerOk } from '../common/header';
import {
  BR_DESCS,
  CH_READ_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_USED_LEN,
  CH_WRITE_BYTES,
  CH_WRITE_SEGS,
  SEG_BYTES,
  SEG_LEN,
  segsBase,
} from './burst';
import {
  ccAdvance,
  ccChain,
  ccComplete,
  ccCount,
  ccDone,
  ccIdle,
  ccNext,
  ccPush,
  ccResume,
  ccStart,
  segAt,
} from './chain-cursor';
import { wbCharge, wbLimitPop, wbResumed, wbTurnBytes } from './work-budget';
import { DEV_PAYLOAD, devBroken, devNeedsReset, devQueue } from './device-state';
import { VQ_GMAP } from './queue-state';
import { vqArm, vqPop } from './vq';

export const LB_MAGIC: u32 = 0x4b424c56; // 'VLBK'
export const LB_LAYOUT: u32 = 3;
export const LB_BURST: u32 = DEV_PAYLOAD;
export const LB_MAX_BURST: u32 = DEV_PAYLOAD + 4;
export const LB_FLAGS: u32 = DEV_PAYLOAD + 8;
export const LBF_STAMP: u32 = 1;
export const LB_REQUESTS: u32 = DEV_PAYLOAD + 16;
export const LB_BYTES: u32 = DEV_PAYLOAD + 24;
export const LB_REJECTED: u32 = DEV_PAYLOAD + 32;
export const LB_CURSOR: u32 = DEV_PAYLOAD + 40;
export const LB_BUDGET: u32 = DEV_PAYLOAD + 56;
export const LB_STATE_BYTES: u32 = DEV_PAYLOAD + 96;

/** QT_VERSION of the module this instance belongs to (set by qt_init through loopbackBind). */
let servedBy: u32 = 0;

/** Called by the module's qt_init: the version stamped into responses under LBF_STAMP. */
export function loopbackBind(version: u32): void {
  servedBy = version;
}

export function loopbackServedBy(): u32 {
  return servedBy;
}

/**
 * Job entry: one turn of echo. A turn pops a burst (at most `budget` chains and the budget's
 * descriptors) or goes on with the one an earlier turn began, echoes up to the turn's bytes, and
 * gives back the chains it completed (work-budget.ts, chain-cursor.ts): a chain bigger than a
 * turn is echoed over several, and completes once. Returns the chains completed; a turn that only
 * made progress returns 0 but adds to the work counter. A broken queue yields 0, never a failure.
 */
export function loopbackRun(state: usize, budget: i32): i32 {
  if (!headerOk(state, LB_MAGIC, LB_LAYOUT, LB_STATE_BYTES)) return -1;
  if (devBroken(state)) return 0;
  const vq = devQueue(state, 0);
  const burst = <usize>load<u32>(state, LB_BURST);
  const wb = state + LB_BUDGET;
  const cc = state + LB_CURSOR;
  let descs: u32 = 0;
  if (ccIdle(cc)) {
    let max = <u32>budget;
    const cap = load<u32>(state, LB_MAX_BURST);
    if (max > cap) max = cap;
    wbLimitPop(wb, burst);
    const n = vqPop(vq, burst, max);
    if (n < 0) return devNeedsReset(state);
    descs = load<u32>(burst, BR_DESCS);
    if (n == 0) {
      if (descs != 0) wbCharge(wb, 0, descs);
      return 0;
    }
    ccStart(cc, <u32>n);
  } else ccResume(cc, vq, burst);
  const segs = segsBase(burst);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  const stamp = (load<u32>(state, LB_FLAGS) & LBF_STAMP) != 0;
  let left = wbTurnBytes(wb);
  let bytes: u64 = 0;
  let done: u32 = 0;
  let rejected: u32 = 0;
  const count = ccCount(cc);
  while (ccNext(cc) < count) {
    const rec = ccChain(cc, burst);
    if (load<u16>(rec, CH_STATUS) != 0) {
      store<u32>(rec, 0, CH_USED_LEN);
      rejected++;
      ccComplete(cc);
      done++;
      continue;
    }
    let total = load<u32>(rec, CH_READ_BYTES);
    const room = load<u32>(rec, CH_WRITE_BYTES);
    if (total > room) total = room;
    const from = ccDone(cc);
    if (from < total) {
      if (left == 0) break;
      const take = total - from < left ? total - from : left;
      echoRange(map, burst, rec, segs, from, take);
      ccAdvance(cc, take);
      left -= take;
      bytes += take;
      if (from + take < total) break; // the turn's bytes are spent: the next turn goes on from here
      if (from != 0) wbResumed(wb);
    }
    if (stamp && total >= 12) stampVersion(map, rec, segs);
    store<u32>(rec, total, CH_USED_LEN);
    ccComplete(cc);
    done++;
  }
  if (ccPush(cc, vq, burst) < 0) return devNeedsReset(state);
  wbCharge(wb, bytes, descs);
  store<u64>(state, load<u64>(state, LB_REQUESTS) + <u64>done, LB_REQUESTS);
  store<u64>(state, load<u64>(state, LB_BYTES) + bytes, LB_BYTES);
  if (rejected) store<u64>(state, load<u64>(state, LB_REJECTED) + rejected, LB_REJECTED);
  return <i32>done;
}

/**
 * Copies bytes [from, from + len) of the chain's readable segments into the same bytes of its
 * writable ones (len <= both sides' bytes - from).
 */
function echoRange(map: usize, burst: usize, rec: usize, segs: usize, from: u32, len: u32): void {
  if (<u32>load<u16>(rec, CH_READ_SEGS) == 1 && <u32>load<u16>(rec, CH_WRITE_SEGS) == 1) {
    // SAFETY: both segments were translated and bounds-checked against guest RAM (by the pop, or
    // again by ccResume); from + len <= each one's length.
    const r = segs + <usize>load<u32>(rec, CH_SEG_START) * SEG_BYTES;
    guestCopy(map, <usize>load<u32>(r + SEG_BYTES) + from, <usize>load<u32>(r) + from, len);
    return;
  }
  const rp = segAt(burst, rec, false, from);
  const wp = segAt(burst, rec, true, from);
  let ri = <u32>(rp >>> 32),
    ro = <u32>rp,
    wi = <u32>(wp >>> 32),
    wo = <u32>wp;
  let left = len;
  while (left != 0) {
    const r = segs + <usize>ri * SEG_BYTES;
    const w = segs + <usize>wi * SEG_BYTES;
    const rAvail = load<u32>(r, SEG_LEN) - ro;
    const wAvail = load<u32>(w, SEG_LEN) - wo;
    let take = rAvail < wAvail ? rAvail : wAvail;
    if (take > left) take = left;
    // SAFETY: offsets stay inside each segment (take <= remaining bytes of both), and the
    // segments inside the chain (len <= the bytes left on each side).
    guestCopy(map, <usize>load<u32>(w) + wo, <usize>load<u32>(r) + ro, take);
    left -= take;
    ro += take;
    wo += take;
    if (ro == load<u32>(r, SEG_LEN)) {
      ri++;
      ro = 0;
    }
    if (wo == load<u32>(w, SEG_LEN)) {
      wi++;
      wo = 0;
    }
  }
}

/** Writes servedBy at bytes 8..11 of the chain's first writable segment, when that segment holds them. */
@inline function stampVersion(map: usize, rec: usize, segs: usize): void {
  const w = segs + <usize>(load<u32>(rec, CH_SEG_START) + <u32>load<u16>(rec, CH_READ_SEGS)) * SEG_BYTES;
  // SAFETY: the segment [addr, addr + len) was translated and bounds-checked by the pop; 12 <= len.
  if (load<u32>(w, 4) >= 12) guestStore<u32>(map, <usize>load<u32>(w), servedBy, 8);
}

/** Arm entry: before the core sleeps. Returns chains pending (> 0: do not sleep), a burst in progress included. */
export function loopbackArm(state: usize): i32 {
  if (!headerOk(state, LB_MAGIC, LB_LAYOUT, LB_STATE_BYTES) || devBroken(state)) return 0;
  if (!ccIdle(state + LB_CURSOR)) return 1;
  return <i32>vqArm(devQueue(state, 0));
}
