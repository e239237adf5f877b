// The queue operations every virtio device kernel calls: dispatch on the ring format, with the
// not-ready (A5) and broken checks in one place.

import { BR_LAYOUT, BR_MAGIC, BR_MAX_CHAINS, BR_SEG_CAP, BR_CHAINS, CHAIN_BYTES, SEG_BYTES } from './burst';
import { headerOk } from '../common/header';
import { packedArm, packedPop, packedPush } from './packed';
import { QF_PACKED, QF_READY, VQ_BROKEN, VQ_FLAGS, VQ_MAX_SEGS } from './queue-state';
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
  const f = load<u32>(vq, VQ_FLAGS);
  if ((f & QF_READY) == 0 || load<u32>(vq, VQ_BROKEN) != 0) return -1;
  return (f & QF_PACKED) != 0 ? packedPush(vq, burst, count) : splitPush(vq, burst, count);
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
