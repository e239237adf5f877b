// Packed virtqueue, device side (§2.8). A descriptor is available when its AVAIL bit equals the
// device's view of the driver wrap counter and its USED bit does not (F1); chains are
// consecutive slots linked by NEXT with the buffer id in the last one; the device writes one
// used descriptor per chain (or per IN_ORDER batch) and skips the slots the chain took.
//
// Device arrays are indexed only by device-chosen slots (the chain's first slot is its token);
// the buffer id is echoed back, never used as an index (F5).

import { guestAtomicStore, guestStore, guestWrote } from '../common/guest-write';
import { entryPtr, tableHost, tableInRam } from './indirect';
import {
  DESC_ADDR,
  DESC_BYTES,
  DESC_LEN,
  EVS_FLAGS,
  EVS_OFF_WRAP,
  F_AVAIL,
  F_INDIRECT,
  F_NEXT,
  F_USED,
  F_WRITE,
  PDESC_FLAGS,
  PDESC_ID,
  RING_EVENT_DESC,
  RING_EVENT_DISABLE,
  RING_EVENT_ENABLE,
} from './layout';
import {
  VQ_BRK_PACKED_CHAIN,
  QF_EVENT_IDX,
  QF_INDIRECT,
  QF_IN_ORDER,
  QF_KICKS_ON,
  VQ_REJ_IND_FEATURE,
  VQ_REJ_IND_LEN,
  VQ_REJ_IND_NESTED,
  VQ_REJ_IND_NEXT,
  VQ_REJ_IND_ADDR,
  VQ_ARMS,
  VQ_AVAIL_WRAP,
  VQ_DESC_HOST,
  VQ_DEVICE_HOST,
  VQ_DRIVER_HOST,
  VQ_FLAGS,
  VQ_GMAP,
  VQ_INFLIGHT,
  VQ_NEXT_AVAIL,
  VQ_NEXT_USED,
  VQ_POPPED,
  VQ_PUSHED,
  VQ_REJECTED,
  VQ_SIGNALLED_USED,
  VQ_SIGNALLED_VALID,
  VQ_SIZE,
  VQ_SLOT_DESC_COUNT,
  VQ_SLOT_ID,
  VQ_TABLE,
  VQ_USED_WRAP,
} from './queue-state';
import {
  BR_DESCS,
  BR_SCRATCH,
  BR_SEG_USED,
  CH_DESC_COUNT,
  CH_ID,
  CH_STATUS,
  CH_TOKEN,
  CH_USED_LEN,
  NEED_SPACE,
  chainAt,
  chainBegin,
  chainDropSegs,
  countDesc,
  descBudgetSpent,
  emit,
} from './burst';
import { breakQueue } from './queue';
import { raiseIrq, suppressIrq } from './notify';

@inline function isAvail(f: u16, wrap: u16): bool {
  return ((f & F_AVAIL) != 0) == (wrap != 0) && ((f & F_USED) != 0) != (wrap != 0);
}

/** Same contract as splitPop. */
export function packedPop(vq: usize, burst: usize, max: u32): i32 {
  const n = load<u32>(vq, VQ_SIZE);
  const flags = load<u32>(vq, VQ_FLAGS);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  if ((flags & QF_KICKS_ON) != 0) {
    guestAtomicStore<u16>(map, <usize>load<u32>(vq, VQ_DEVICE_HOST), RING_EVENT_DISABLE, EVS_FLAGS);
    store<u32>(vq, flags & ~QF_KICKS_ON, VQ_FLAGS);
  }
  const desc = <usize>load<u32>(vq, VQ_DESC_HOST);
  let slot = <u32>load<u16>(vq, VQ_NEXT_AVAIL);
  let wrap: u16 = load<u16>(vq, VQ_AVAIL_WRAP);
  store<u32>(burst, 0, BR_SEG_USED);
  store<u32>(burst, 0, BR_DESCS);
  let got: u32 = 0;
  let rejected: u32 = 0;
  let full = false;
  while (got < max && !descBudgetSpent(burst)) {
    // SAFETY: slot < N: inside the descriptor ring checked at setup. Acquire: the rest of the
    // chain, written before this flag, is visible once the flag says available.
    const f0 = <u16>atomic.load<u16>(desc + ((<usize>slot) << 4), PDESC_FLAGS);
    if (!isAvail(f0, wrap)) break; // F1
    const rec = chainAt(burst, got);
    chainBegin(burst, rec, <u16>slot);
    let s = slot;
    let w: u16 = wrap;
    let count: u32 = 0;
    let status: i32 = 0;
    let id: u16 = 0;
    while (true) {
      if (count == n) return breakQueue(vq, VQ_BRK_PACKED_CHAIN, slot); // F2: a NEXT list longer than the ring
      const d = desc + ((<usize>s) << 4);
      // Read once (E3): the first descriptor's flags were read above with acquire.
      const addr = load<u64>(d, DESC_ADDR);
      const len = load<u32>(d, DESC_LEN);
      id = load<u16>(d, PDESC_ID);
      const f = count == 0 ? f0 : load<u16>(d, PDESC_FLAGS);
      count++;
      countDesc(burst);
      s++;
      if (s == n) {
        s = 0;
        w ^= 1;
      }
      if (status == 0) {
        if ((f & F_INDIRECT) != 0) {
          if ((flags & QF_INDIRECT) == 0)
            status = VQ_REJ_IND_FEATURE; // D1
          else if ((f & F_NEXT) != 0 || count > 1)
            status = VQ_REJ_IND_NEXT; // §2.8.19: never inside a NEXT list
          else status = walkTable(burst, rec, map, n, addr, len);
        } else {
          status = <i32>emit(burst, rec, map, addr, len, (f & F_WRITE) != 0);
        }
        if (<u16>status == NEED_SPACE) {
          full = true; // not consumed: retried in the next burst
          break;
        }
      }
      // A rejected chain is still walked to its end: the device must know how many slots to skip.
      if ((f & F_NEXT) == 0) break;
    }
    if (full) {
      chainDropSegs(burst, rec);
      break;
    }
    store<u16>(rec, id, CH_ID);
    store<u16>(rec, <u16>count, CH_DESC_COUNT);
    if (status != 0) {
      chainDropSegs(burst, rec);
      store<u16>(rec, <u16>status, CH_STATUS);
      rejected++;
    }
    // In-flight entry indexed by the device's own slot; the guest's id is only stored.
    const e = vq + VQ_TABLE + ((<usize>slot) << 2);
    store<u16>(e, id, VQ_SLOT_ID);
    store<u16>(e, <u16>count, VQ_SLOT_DESC_COUNT);
    slot = s;
    wrap = w;
    got++;
  }
  store<u16>(vq, <u16>slot, VQ_NEXT_AVAIL);
  store<u16>(vq, wrap, VQ_AVAIL_WRAP);
  store<u32>(vq, load<u32>(vq, VQ_INFLIGHT) + got, VQ_INFLIGHT);
  store<u64>(vq, load<u64>(vq, VQ_POPPED) + got, VQ_POPPED);
  if (rejected) store<u64>(vq, load<u64>(vq, VQ_REJECTED) + rejected, VQ_REJECTED);
  return <i32>got;
}

function walkTable(burst: usize, rec: usize, map: usize, n: u32, tblGpa: u64, tblLen: u32): i32 {
  // D2/D2a and F3. A table of exactly N entries is accepted: §2.8.7 forbids only chains longer
  // than the queue size.
  if (tblLen == 0 || (tblLen & 15) != 0 || tblLen >> 4 > n) return VQ_REJ_IND_LEN;
  const entries = tblLen >> 4;
  const tbl = tableHost(map, tblGpa, tblLen);
  // D6: the whole declared table must lie in guest RAM, not only the entries the chain uses.
  if (tbl == 0 && !tableInRam(map, tblGpa, tblLen)) return VQ_REJ_IND_ADDR;
  const scratch = burst + BR_SCRATCH;
  for (let j: u32 = 0; j < entries; j++) {
    countDesc(burst);
    const e = entryPtr(map, tbl, tblGpa, j, scratch);
    if (e == 0) return VQ_REJ_IND_ADDR; // D6
    const addr = load<u64>(e, DESC_ADDR);
    const len = load<u32>(e, DESC_LEN);
    const f = load<u16>(e, PDESC_FLAGS);
    // §2.8.7: WRITE is the only valid flag in a table; INDIRECT is refused (D3), NEXT ignored.
    if ((f & F_INDIRECT) != 0) return VQ_REJ_IND_NESTED;
    const st = emit(burst, rec, map, addr, len, (f & F_WRITE) != 0);
    if (st != 0) return <i32>st;
  }
  return 0;
}

/** Same contract as splitPush (records first..first+count-1). */
export function packedPush(vq: usize, burst: usize, first: u32, count: u32): i32 {
  const n = load<u32>(vq, VQ_SIZE);
  const flags = load<u32>(vq, VQ_FLAGS);
  const desc = <usize>load<u32>(vq, VQ_DESC_HOST);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  for (let k: u32 = 0; k < count; k++) {
    const t = <u32>load<u16>(chainAt(burst, first + k), CH_TOKEN);
    if (t >= n || load<u16>(vq + VQ_TABLE + ((<usize>t) << 2), VQ_SLOT_DESC_COUNT) == 0) return -1; // E1
  }
  if (count == 0) return 0;
  const inOrder = (flags & QF_IN_ORDER) != 0;
  let u = <u32>load<u16>(vq, VQ_NEXT_USED);
  let w: u16 = load<u16>(vq, VQ_USED_WRAP);
  let firstDesc: usize = 0;
  let firstFlags: u16 = 0;
  let k: u32 = 0;
  while (k < count) {
    let run: u32 = 1;
    if (inOrder) {
      while (
        load<u32>(chainAt(burst, first + k), CH_USED_LEN) == 0 &&
        k + run < count &&
        load<u32>(chainAt(burst, first + k + run), CH_USED_LEN) == 0
      )
        run++;
    }
    const last = chainAt(burst, first + k + run - 1);
    const len = load<u32>(last, CH_USED_LEN);
    // SAFETY: u < N: inside the descriptor ring.
    const d = desc + ((<usize>u) << 4);
    store<u16>(d, load<u16>(last, CH_ID), PDESC_ID);
    store<u32>(d, len, DESC_LEN);
    const uf: u16 = (w != 0 ? F_AVAIL | F_USED : 0) | (len != 0 ? F_WRITE : 0);
    if (firstDesc == 0) {
      firstDesc = d;
      firstFlags = uf;
    } else {
      store<u16>(d, uf, PDESC_FLAGS);
    }
    guestWrote(map, d, DESC_BYTES);
    let skip: u32 = 0;
    for (let r: u32 = 0; r < run; r++) {
      const e = vq + VQ_TABLE + ((<usize>load<u16>(chainAt(burst, first + k + r), CH_TOKEN)) << 2);
      skip += <u32>load<u16>(e, VQ_SLOT_DESC_COUNT);
      store<u32>(e, 0);
    }
    u += skip;
    while (u >= n) {
      u -= n;
      w ^= 1;
    }
    k += run;
  }
  // Release: the first used descriptor's flags go last, publishing the whole batch at once.
  guestAtomicStore<u16>(map, firstDesc, firstFlags, PDESC_FLAGS);
  store<u16>(vq, <u16>u, VQ_NEXT_USED);
  store<u16>(vq, w, VQ_USED_WRAP);
  store<u32>(vq, load<u32>(vq, VQ_INFLIGHT) - count, VQ_INFLIGHT);
  store<u64>(vq, load<u64>(vq, VQ_PUSHED) + count, VQ_PUSHED);

  // Driver event suppression (§2.8.10, §2.8.14). Positions are linear mod 2N so that slot
  // wrap-around and the wrap counter are one number.
  const drv = <usize>load<u32>(vq, VQ_DRIVER_HOST);
  const ef = (<u16>atomic.load<u16>(drv, EVS_FLAGS)) & 3;
  const newLin = lin(<u16>u, w, n);
  const valid = load<u16>(vq, VQ_SIGNALLED_VALID) != 0;
  let notify: bool;
  if (ef == RING_EVENT_DISABLE) notify = false;
  else if (ef == RING_EVENT_DESC && (flags & QF_EVENT_IDX) != 0) {
    // Notify when the event position lies in [old, new): the used descriptors written since the
    // last check (vring_need_event over positions mod 2N). The first check always notifies.
    const ow = <u16>atomic.load<u16>(drv, EVS_OFF_WRAP);
    const off = <u32>(ow & 0x7fff);
    if (!valid || off >= n) notify = true;
    else {
      const e = lin(<u16>off, <u16>(ow >> 15), n);
      const span = 2 * n;
      const oldPos = <u32>load<u16>(vq, VQ_SIGNALLED_USED);
      notify = (newLin + span - e - 1) % span < (newLin + span - oldPos) % span;
    }
  } else notify = true; // ENABLE, DESC without EVENT_IDX, and the reserved value 3 (F4)
  store<u16>(vq, <u16>newLin, VQ_SIGNALLED_USED);
  store<u16>(vq, 1, VQ_SIGNALLED_VALID);
  if (notify) raiseIrq(vq);
  else suppressIrq(vq);
  return <i32>count;
}

/** Linear position mod 2N of (slot, wrap): wrap 1 covers [0, N), wrap 0 covers [N, 2N). */
@inline function lin(slot: u16, wrap: u16, n: u32): u32 {
  return <u32>slot + (wrap != 0 ? 0 : n);
}

/** Same contract as splitArm: enable kicks, re-check (E6), return 1 when a chain is available. */
export function packedArm(vq: usize): u32 {
  const flags = load<u32>(vq, VQ_FLAGS);
  const dev = <usize>load<u32>(vq, VQ_DEVICE_HOST);
  const slot = load<u16>(vq, VQ_NEXT_AVAIL);
  const wrap = load<u16>(vq, VQ_AVAIL_WRAP);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  // SAFETY: the device event area (4 bytes) was translated and bounds-checked at setup.
  if ((flags & QF_EVENT_IDX) != 0) {
    guestStore<u16>(map, dev, slot | (wrap << 15), EVS_OFF_WRAP);
    guestAtomicStore<u16>(map, dev, RING_EVENT_DESC, EVS_FLAGS);
  } else {
    guestAtomicStore<u16>(map, dev, RING_EVENT_ENABLE, EVS_FLAGS);
  }
  store<u32>(vq, flags | QF_KICKS_ON, VQ_FLAGS);
  store<u64>(vq, load<u64>(vq, VQ_ARMS) + 1, VQ_ARMS);
  const desc = <usize>load<u32>(vq, VQ_DESC_HOST);
  return isAvail(<u16>atomic.load<u16>(desc + ((<usize>slot) << 4), PDESC_FLAGS), wrap) ? 1 : 0;
}
