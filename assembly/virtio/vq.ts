// The queue operations every virtio device kernel calls: dispatch on the ring format, with the
// not-ready (A5) and broken checks in one place.

import {
  BR_CHAINS,
  BR_LAYOUT,
  BR_MAGIC,
  BR_MAX_CHAINS,
  BR_SEG_CAP,
  CHAIN_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_WRITE_SEGS,
  SEG_BYTES,
  SEG_GPA,
  SEG_HOST,
  SEG_LEN,
  chainAt,
  segsBase,
} from './burst';
import { gpaToHost } from '../common/gpa';
import { headerOk } from '../common/header';
import { packedArm, packedPop, packedPush } from './packed';
import {
  QF_PACKED,
  QF_READY,
  VQ_REJ_ADDR,
  VQ_BROKEN,
  VQ_FLAGS,
  VQ_GMAP,
  VQ_MAX_SEGS,
  VQ_REJECTED,
} from './queue-state';
import { splitArm, splitPop, splitPush } from './split';

/** Pops up to `max` chains into `burst`: count, 0 when not ready (A5), -1 when broken. */
export function vqPop(vq: usize, burst: usize, max: u32): i32 {
  const f = load<u32>(vq, VQ_FLAGS);
  if ((f & QF_READY) == 0) return 0;
  if (load<u32>(vq, VQ_BROKEN) != 0) return -1;
  const cap = load<u32>(burst, BR_MAX_CHAINS);
  if (max > cap) max = cap;
  return (f & QF_PACKED) != 0 ? packedPop(vq, burst, max) : splitPop(vq, burst, max);
}

/** Pushes the first `count` chains of `burst` (CH_USED_LEN set): count, or -1 (E1, nothing published). */
export function vqPush(vq: usize, burst: usize, count: u32): i32 {
  return vqPushRange(vq, burst, 0, count);
}

/**
 * Pushes chains first..first+count-1 of `burst` (a burst finished over several turns gives its
 * chains back as they complete, in order): count, or -1 (E1, or a range past the burst; nothing
 * published).
 */
export function vqPushRange(vq: usize, burst: usize, first: u32, count: u32): i32 {
  const f = load<u32>(vq, VQ_FLAGS);
  if ((f & QF_READY) == 0 || load<u32>(vq, VQ_BROKEN) != 0) return -1;
  if (<u64>first + <u64>count > <u64>load<u32>(burst, BR_MAX_CHAINS)) return -1;
  return (f & QF_PACKED) != 0 ? packedPush(vq, burst, first, count) : splitPush(vq, burst, first, count);
}

/**
 * Translates the segments of chains first..first+count-1 again, from the GPAs the pop recorded:
 * a burst carried into a later turn keeps no host address from an earlier one (the guest map may
 * have changed in between). A chain with a segment no longer in guest RAM is rejected (C4: its
 * used length will be 0). Returns the chains rejected.
 */
export function vqRefresh(vq: usize, burst: usize, first: u32, count: u32): u32 {
  const map = <usize>load<u32>(vq, VQ_GMAP);
  const segs = segsBase(burst);
  let rejected: u32 = 0;
  for (let i = first; i < first + count; i++) {
    const rec = chainAt(burst, i);
    if (load<u16>(rec, CH_STATUS) != 0) continue;
    const s0 = load<u32>(rec, CH_SEG_START);
    const n = <u32>load<u16>(rec, CH_READ_SEGS) + <u32>load<u16>(rec, CH_WRITE_SEGS);
    for (let k: u32 = 0; k < n; k++) {
      // SAFETY: the segments s0..s0+n-1 were written by the pop inside the burst's segment pool.
      const s = segs + <usize>(s0 + k) * SEG_BYTES;
      const host = gpaToHost(map, load<u64>(s, SEG_GPA), <u64>load<u32>(s, SEG_LEN));
      if (host == 0) {
        store<u16>(rec, VQ_REJ_ADDR, CH_STATUS);
        rejected++;
        break;
      }
      store<u32>(s, <u32>host, SEG_HOST);
    }
  }
  if (rejected) store<u64>(vq, load<u64>(vq, VQ_REJECTED) + rejected, VQ_REJECTED);
  return rejected;
}

/** Enables guest kicks and re-checks for work (E6); 0 when not ready or broken. */
export function vqArm(vq: usize): u32 {
  const f = load<u32>(vq, VQ_FLAGS);
  if ((f & QF_READY) == 0 || load<u32>(vq, VQ_BROKEN) != 0) return 0;
  return (f & QF_PACKED) != 0 ? packedArm(vq) : splitArm(vq);
}

/** Bytes of a burst buffer for maxChains chains and segCap segments. */
export function burstBytes(maxChains: u32, segCap: u32): u32 {
  return BR_CHAINS + maxChains * CHAIN_BYTES + segCap * SEG_BYTES;
}

/**
 * Initialises a burst buffer. segCap must hold at least one maximal chain (VQ_MAX_SEGS), so a
 * pop always makes progress. Returns 0 or -1.
 */
export function burstInit(burst: usize, regionBytes: u32, maxChains: u32, segCap: u32): i32 {
  if (!headerOk(burst, BR_MAGIC, BR_LAYOUT, 0)) return -1;
  if (maxChains == 0 || maxChains > 32768 || segCap < VQ_MAX_SEGS || segCap > 1 << 20) return -1;
  if (burstBytes(maxChains, segCap) > regionBytes) return -1;
  store<u32>(burst, maxChains, BR_MAX_CHAINS);
  store<u32>(burst, segCap, BR_SEG_CAP);
  return 0;
}
