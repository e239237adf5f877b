// Split virtqueue, device side (§2.7). Every guest address was translated and bounds-checked
// at setup (the three areas) or is checked here (buffers, indirect tables). Every descriptor
// is read once into locals (E3); every walk is bounded (N hops per chain, table length inside
// an indirect table). The used ring is written from the shadow nextUsed only (E2).

import { guestAtomicStore, guestWrote } from '../common/guest-write';
import { entryPtr, tableHost, tableInRam } from './indirect';
import {
  AVAIL_FLAGS,
  AVAIL_F_NO_INTERRUPT,
  AVAIL_IDX,
  AVAIL_RING,
  DESC_ADDR,
  DESC_FLAGS,
  DESC_LEN,
  DESC_NEXT,
  F_INDIRECT,
  F_NEXT,
  F_WRITE,
  USED_FLAGS,
  USED_ELEM_BYTES,
  USED_F_NO_NOTIFY,
  USED_IDX,
  USED_ELEM_ID,
  USED_ELEM_LEN,
  USED_RING,
  needEvent,
} from './layout';
import {
  VQ_BRK_AVAIL_IDX,
  VQ_BRK_HEAD_INFLIGHT,
  VQ_BRK_HEAD_RANGE,
  VQ_BRK_LOOP,
  VQ_BRK_NEXT_RANGE,
  QF_EVENT_IDX,
  QF_INDIRECT,
  QF_IN_ORDER,
  QF_KICKS_ON,
  VQ_REJ_IND_ADDR,
  VQ_REJ_IND_FEATURE,
  VQ_REJ_IND_LEN,
  VQ_REJ_IND_LOOP,
  VQ_REJ_IND_NESTED,
  VQ_REJ_IND_NEXT,
  VQ_REJ_IND_NEXT_RANGE,
  VQ_ARMS,
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
  VQ_TABLE,
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

/**
 * Pops up to `max` available chains into the burst buffer. Returns how many (rejected chains
 * included: they carry a status and must be pushed back with len 0), or -1 if the queue is
 * (or just became) broken. A queue that is not ready yields 0 (A5).
 */
export function splitPop(vq: usize, burst: usize, max: u32): i32 {
  const n = load<u32>(vq, VQ_SIZE);
  const flags = load<u32>(vq, VQ_FLAGS);
  const avail = <usize>load<u32>(vq, VQ_DRIVER_HOST);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  // While busy, a device that had armed kicks turns them off again (no EVENT_IDX: NO_NOTIFY;
  // with EVENT_IDX a stale avail_event already suppresses them).
  if ((flags & QF_KICKS_ON) != 0) {
    if ((flags & QF_EVENT_IDX) == 0)
      guestAtomicStore<u16>(map, <usize>load<u32>(vq, VQ_DEVICE_HOST), USED_F_NO_NOTIFY, USED_FLAGS);
    store<u32>(vq, flags & ~QF_KICKS_ON, VQ_FLAGS);
  }
  let next = load<u16>(vq, VQ_NEXT_AVAIL);
  // SAFETY: avail covers 4 + 2N bytes (checked at setup). Acquire: chains published before idx are visible.
  const idx = <u16>atomic.load<u16>(avail, AVAIL_IDX);
  const pending = <u32>(<u16>(idx - next));
  if (pending > n) return breakQueue(vq, VQ_BRK_AVAIL_IDX, idx); // B1
  const count = pending < max ? pending : max;
  store<u32>(burst, 0, BR_SEG_USED);
  store<u32>(burst, 0, BR_DESCS);
  const desc = <usize>load<u32>(vq, VQ_DESC_HOST);
  const inflight = vq + VQ_TABLE;
  const mask = n - 1;
  let got: u32 = 0;
  let rejected: u32 = 0;
  while (got < count && !descBudgetSpent(burst)) {
    // SAFETY: (next & mask) < N; the ring entry lies inside the checked avail area.
    const head = <u32>load<u16>(avail + AVAIL_RING + ((<usize>(next & (<u16>mask))) << 1));
    if (head >= n) return breakQueue(vq, VQ_BRK_HEAD_RANGE, head); // B2
    const bit = inflight + (head >> 3);
    const m = <u8>((<u32>1) << (head & 7));
    if ((load<u8>(bit) & m) != 0) return breakQueue(vq, VQ_BRK_HEAD_INFLIGHT, head); // B3
    const rec = chainAt(burst, got);
    chainBegin(burst, rec, <u16>head);
    const st = walk(vq, burst, rec, desc, map, n, head, flags);
    if (st < 0) return st;
    if (<u16>st == NEED_SPACE) {
      chainDropSegs(burst, rec);
      break;
    }
    if (st != 0) {
      chainDropSegs(burst, rec);
      store<u16>(rec, <u16>st, CH_STATUS);
      rejected++;
    }
    store<u8>(bit, load<u8>(bit) | m);
    next++;
    got++;
  }
  store<u16>(vq, next, VQ_NEXT_AVAIL);
  store<u32>(vq, load<u32>(vq, VQ_INFLIGHT) + got, VQ_INFLIGHT);
  store<u64>(vq, load<u64>(vq, VQ_POPPED) + got, VQ_POPPED);
  if (rejected) store<u64>(vq, load<u64>(vq, VQ_REJECTED) + rejected, VQ_REJECTED);
  return <i32>got;
}

/** Walks one chain from `head`. Returns 0, a REJ_* reason, NEED_SPACE, or -1 (queue broken). */
function walk(vq: usize, burst: usize, rec: usize, desc: usize, map: usize, n: u32, head: u32, qflags: u32): i32 {
  let i = head;
  let hops: u32 = 0;
  while (true) {
    if (hops == n) return breakQueue(vq, VQ_BRK_LOOP, head); // C2: more than N descriptors means a cycle
    hops++;
    countDesc(burst);
    // SAFETY: i < N, so the descriptor lies inside the checked descriptor table. Read once (E3).
    const d = desc + ((<usize>i) << 4);
    const addr = load<u64>(d, DESC_ADDR);
    const len = load<u32>(d, DESC_LEN);
    const f = load<u16>(d, DESC_FLAGS);
    const nx = <u32>load<u16>(d, DESC_NEXT);
    store<u16>(rec, <u16>hops, CH_DESC_COUNT);
    if ((f & F_INDIRECT) != 0) {
      if ((qflags & QF_INDIRECT) == 0) return VQ_REJ_IND_FEATURE; // D1
      if ((f & F_NEXT) != 0) return VQ_REJ_IND_NEXT; // D4: policy reject (the spec forbids it)
      return walkTable(burst, rec, map, n, addr, len); // WRITE on the pointer is ignored (D8)
    }
    const st = emit(burst, rec, map, addr, len, (f & F_WRITE) != 0);
    if (st != 0) return <i32>st;
    if ((f & F_NEXT) == 0) return 0;
    if (nx >= n) return breakQueue(vq, VQ_BRK_NEXT_RANGE, nx); // C1
    i = nx;
  }
}

function walkTable(burst: usize, rec: usize, map: usize, n: u32, tblGpa: u64, tblLen: u32): i32 {
  // D2, D2a, D2b: a table holds 1..N whole descriptors.
  if (tblLen == 0 || (tblLen & 15) != 0 || tblLen >> 4 > n) return VQ_REJ_IND_LEN;
  const entries = tblLen >> 4;
  const tbl = tableHost(map, tblGpa, tblLen);
  // D6: the whole declared table must lie in guest RAM, not only the entries the chain uses.
  if (tbl == 0 && !tableInRam(map, tblGpa, tblLen)) return VQ_REJ_IND_ADDR;
  const scratch = burst + BR_SCRATCH;
  let j: u32 = 0;
  let hops: u32 = 0;
  while (true) {
    if (hops == entries) return VQ_REJ_IND_LOOP; // D7
    hops++;
    countDesc(burst);
    const e = entryPtr(map, tbl, tblGpa, j, scratch);
    if (e == 0) return VQ_REJ_IND_ADDR; // D6
    const addr = load<u64>(e, DESC_ADDR);
    const len = load<u32>(e, DESC_LEN);
    const f = load<u16>(e, DESC_FLAGS);
    const nx = <u32>load<u16>(e, DESC_NEXT);
    if ((f & F_INDIRECT) != 0) return VQ_REJ_IND_NESTED; // D3
    const st = emit(burst, rec, map, addr, len, (f & F_WRITE) != 0);
    if (st != 0) return <i32>st;
    if ((f & F_NEXT) == 0) return 0;
    if (nx >= entries) return VQ_REJ_IND_NEXT_RANGE; // D7a
    j = nx;
  }
}

/**
 * Returns `count` popped chains (burst records first..first+count-1, each with CH_USED_LEN set)
 * to the driver: used elements first, then one release store of used.idx, then at most one interrupt
 * (§2.7.8, §2.7.7). With IN_ORDER, a run of consecutive zero-length completions is published as
 * one used element carrying the last buffer's id (§2.7.9). Returns the count, or -1 when a
 * record names a head that is not in flight (E1: an internal error, nothing is published).
 */
export function splitPush(vq: usize, burst: usize, first: u32, count: u32): i32 {
  const n = load<u32>(vq, VQ_SIZE);
  const flags = load<u32>(vq, VQ_FLAGS);
  const used = <usize>load<u32>(vq, VQ_DEVICE_HOST);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  const inflight = vq + VQ_TABLE;
  const mask = n - 1;
  // E1: check every token before writing anything.
  for (let k: u32 = 0; k < count; k++) {
    const head = <u32>load<u16>(chainAt(burst, first + k), CH_TOKEN);
    if (head >= n || (load<u8>(inflight + (head >> 3)) & (<u8>((<u32>1) << (head & 7)))) == 0) return -1;
  }
  const inOrder = (flags & QF_IN_ORDER) != 0;
  let u = load<u16>(vq, VQ_NEXT_USED);
  let k: u32 = 0;
  while (k < count) {
    let rec = chainAt(burst, first + k);
    let run: u32 = 1;
    if (inOrder) {
      // Collapse consecutive zero-length completions: one element, id of the last of the run.
      while (
        load<u32>(rec, CH_USED_LEN) == 0 &&
        k + run < count &&
        load<u32>(chainAt(burst, first + k + run), CH_USED_LEN) == 0
      )
        run++;
      rec = chainAt(burst, first + k + run - 1);
    }
    // SAFETY: (u & mask) < N; the element lies inside the used area checked at setup.
    const e = used + USED_RING + ((<usize>(u & (<u16>mask))) << 3);
    store<u32>(e, <u32>load<u16>(rec, CH_ID), USED_ELEM_ID);
    store<u32>(e, load<u32>(rec, CH_USED_LEN), USED_ELEM_LEN); // E4: len before idx, never more than written
    guestWrote(map, e, USED_ELEM_BYTES);
    for (let r: u32 = 0; r < run; r++) {
      const head = <u32>load<u16>(chainAt(burst, first + k + r), CH_TOKEN);
      const bit = inflight + (head >> 3);
      store<u8>(bit, load<u8>(bit) & ~(<u8>((<u32>1) << (head & 7))));
    }
    u += <u16>run;
    k += run;
  }
  if (count == 0) return 0;
  // Release: every element above is visible before the new index.
  guestAtomicStore<u16>(map, used, u, USED_IDX);
  store<u16>(vq, u, VQ_NEXT_USED);
  store<u32>(vq, load<u32>(vq, VQ_INFLIGHT) - count, VQ_INFLIGHT);
  store<u64>(vq, load<u64>(vq, VQ_PUSHED) + count, VQ_PUSHED);
  const avail = <usize>load<u32>(vq, VQ_DRIVER_HOST);
  let notify: bool;
  if ((flags & QF_EVENT_IDX) != 0) {
    // §2.7.7.2 with Linux vhost's bookkeeping: old = used idx at the previous check. A check
    // happens on every push, so (old, new] spans at most one burst (< 2^16): never ambiguous (E5a).
    const old = load<u16>(vq, VQ_SIGNALLED_USED);
    const valid = load<u16>(vq, VQ_SIGNALLED_VALID);
    // SAFETY: used_event sits at 4 + 2N, inside the avail area (sized with the EVENT_IDX trailer at setup).
    const usedEvent = <u16>atomic.load<u16>(avail + AVAIL_RING + ((<usize>n) << 1));
    notify = valid == 0 || needEvent(usedEvent, u, old);
    store<u16>(vq, u, VQ_SIGNALLED_USED);
    store<u16>(vq, 1, VQ_SIGNALLED_VALID);
  } else {
    notify = ((<u16>atomic.load<u16>(avail, AVAIL_FLAGS)) & AVAIL_F_NO_INTERRUPT) == 0; // B4: other bits ignored
  }
  if (notify) raiseIrq(vq);
  else suppressIrq(vq);
  return <i32>count;
}

/**
 * Before the core sleeps: turn guest kicks on (EVENT_IDX: avail_event = next avail index;
 * otherwise clear NO_NOTIFY), then re-read avail.idx (E6: a chain published between the last
 * poll and the enable would otherwise sleep unseen). Returns the chains now pending (> 0: do
 * not sleep).
 */
export function splitArm(vq: usize): u32 {
  const n = load<u32>(vq, VQ_SIZE);
  const flags = load<u32>(vq, VQ_FLAGS);
  const used = <usize>load<u32>(vq, VQ_DEVICE_HOST);
  const avail = <usize>load<u32>(vq, VQ_DRIVER_HOST);
  const next = load<u16>(vq, VQ_NEXT_AVAIL);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  // The atomic (sequentially consistent) store is the fence between enabling and re-checking.
  // SAFETY: avail_event sits at 4 + 8N, inside the used area (sized with the EVENT_IDX trailer at setup).
  if ((flags & QF_EVENT_IDX) != 0) guestAtomicStore<u16>(map, used + USED_RING + ((<usize>n) << 3), next);
  else guestAtomicStore<u16>(map, used, 0, USED_FLAGS);
  store<u32>(vq, flags | QF_KICKS_ON, VQ_FLAGS);
  store<u64>(vq, load<u64>(vq, VQ_ARMS) + 1, VQ_ARMS);
  return <u32>(<u16>(<u16>atomic.load<u16>(avail, AVAIL_IDX) - next));
}
