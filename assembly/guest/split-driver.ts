// Split-ring driver for guest workloads (§2.7), Linux virtio_ring style: descriptors from a
// shadow free list, ring entries written at add, avail.idx published at kick with a release
// store, kick decided by avail_event (EVENT_IDX) or used.flags, used ring reaped up to used.idx.

import {
  AVAIL_FLAGS,
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
  USED_IDX,
  USED_RING,
  needEvent,
} from '../virtio/layout';
import {
  DF_EVENT_IDX,
  DF_INDIRECT,
  DF_IN_ORDER,
  GD_ADDED,
  GD_AVAIL_IDX,
  GD_COMPLETED,
  GD_DESC,
  GD_DEVICE,
  GD_DRIVER,
  GD_ERRORS,
  GD_FLAGS,
  GD_FREE_HEAD,
  GD_KICKS,
  GD_KICKS_SUPPRESSED,
  GD_LAST_USED,
  GD_NUM_FREE,
  GD_PENDING,
  GD_SIZE,
  GD_TABLES_GPA,
  GD_TABLES_HOST,
  TABLE_BYTES,
  arr,
  bump,
  fifoPop,
  fifoPush,
  ringDoorbell,
} from './driver-state';

const NEXT: u32 = 0; // driver-side array 0: free-list / chain links
const LEN: u32 = 1; // array 1: chain length per head (0: not in flight)

export function splitInit(drv: usize): void {
  const n = load<u32>(drv, GD_SIZE);
  for (let i: u32 = 0; i < n; i++) {
    store<u16>(arr(drv, NEXT, i), <u16>((i + 1) % n));
    store<u16>(arr(drv, LEN, i), 0);
  }
  store<u16>(drv, 0, GD_FREE_HEAD);
  store<u16>(drv, <u16>n, GD_NUM_FREE);
}

/** The token the next add will return (so a workload can pick that request's buffers first). */
@inline export function splitNextToken(drv: usize): u32 {
  return <u32>load<u16>(drv, GD_FREE_HEAD);
}

/** Adds out (device-readable) then in (device-writable); a zero length leaves that part out. Returns the head or -1. */
export function splitAdd(drv: usize, outGpa: u64, outLen: u32, inGpa: u64, inLen: u32): i32 {
  const n = load<u32>(drv, GD_SIZE);
  const parts: u32 = (outLen != 0 ? 1 : 0) + (inLen != 0 ? 1 : 0);
  if (parts == 0) return -1;
  if ((load<u32>(drv, GD_FLAGS) & DF_INDIRECT) != 0)
    return splitAddIndirect(drv, n, outGpa, outLen, inGpa, inLen, parts);
  const k = parts;
  if (<u32>load<u16>(drv, GD_NUM_FREE) < k) return -1;
  const inOrder = (load<u32>(drv, GD_FLAGS) & DF_IN_ORDER) != 0;
  const desc = <usize>load<u32>(drv, GD_DESC);
  const head = <u32>load<u16>(drv, GD_FREE_HEAD);
  // IN_ORDER: descriptors in ring order (next = x + 1); otherwise the shadow free list.
  const second = inOrder ? (head + 1) % n : <u32>load<u16>(arr(drv, NEXT, head));
  const after = k == 2 ? (inOrder ? (head + 2) % n : <u32>load<u16>(arr(drv, NEXT, second))) : second;
  let d = desc + ((<usize>head) << 4);
  if (outLen != 0) {
    store<u64>(d, outGpa, DESC_ADDR);
    store<u32>(d, outLen, DESC_LEN);
    store<u16>(d, k == 2 ? F_NEXT : 0, DESC_FLAGS);
    store<u16>(d, <u16>second, DESC_NEXT);
    if (k == 2) d = desc + ((<usize>second) << 4);
  }
  if (inLen != 0) {
    store<u64>(d, inGpa, DESC_ADDR);
    store<u32>(d, inLen, DESC_LEN);
    store<u16>(d, F_WRITE, DESC_FLAGS);
    store<u16>(d, 0, DESC_NEXT);
  }
  store<u16>(arr(drv, NEXT, head), <u16>second);
  return commit(drv, n, head, k, after, inOrder);
}

/** Books `k` descriptors from `head` as taken and puts the head in the next available-ring slot (published by kick). */
function commit(drv: usize, n: u32, head: u32, k: u32, nextFree: u32, inOrder: bool): i32 {
  store<u16>(arr(drv, LEN, head), <u16>k);
  store<u16>(drv, <u16>nextFree, GD_FREE_HEAD);
  store<u16>(drv, load<u16>(drv, GD_NUM_FREE) - <u16>k, GD_NUM_FREE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  const slot = (<u32>load<u16>(drv, GD_AVAIL_IDX) + <u32>load<u16>(drv, GD_PENDING)) % n;
  store<u16>(avail + AVAIL_RING + ((<usize>slot) << 1), <u16>head);
  store<u16>(drv, load<u16>(drv, GD_PENDING) + 1, GD_PENDING);
  if (inOrder) fifoPush(drv, <u16>head);
  bump(drv, GD_ADDED);
  return <i32>head;
}

/** §2.7.5.3: one ring descriptor pointing at a per-head table holding the request's buffers. */
function splitAddIndirect(drv: usize, n: u32, outGpa: u64, outLen: u32, inGpa: u64, inLen: u32, parts: u32): i32 {
  if (load<u16>(drv, GD_NUM_FREE) == 0) return -1;
  const inOrder = (load<u32>(drv, GD_FLAGS) & DF_IN_ORDER) != 0;
  const head = <u32>load<u16>(drv, GD_FREE_HEAD);
  const after = inOrder ? (head + 1) % n : <u32>load<u16>(arr(drv, NEXT, head));
  const t = <usize>load<u32>(drv, GD_TABLES_HOST) + <usize>head * TABLE_BYTES;
  let e = t;
  if (outLen != 0) {
    store<u64>(e, outGpa, DESC_ADDR);
    store<u32>(e, outLen, DESC_LEN);
    store<u16>(e, parts == 2 ? F_NEXT : 0, DESC_FLAGS);
    store<u16>(e, 1, DESC_NEXT);
    e += 16;
  }
  if (inLen != 0) {
    store<u64>(e, inGpa, DESC_ADDR);
    store<u32>(e, inLen, DESC_LEN);
    store<u16>(e, F_WRITE, DESC_FLAGS);
    store<u16>(e, 0, DESC_NEXT);
  }
  const d = <usize>load<u32>(drv, GD_DESC) + ((<usize>head) << 4);
  store<u64>(d, <u64>load<u32>(drv, GD_TABLES_GPA) + <u64>(head * TABLE_BYTES), DESC_ADDR);
  store<u32>(d, 16 * parts, DESC_LEN);
  store<u16>(d, F_INDIRECT, DESC_FLAGS);
  store<u16>(d, 0, DESC_NEXT);
  store<u16>(arr(drv, NEXT, head), <u16>after);
  return commit(drv, n, head, 1, after, inOrder);
}

/** Publishes pending entries; rings the doorbell when the device asks for it. Returns 1 if it did. */
export function splitKick(drv: usize): i32 {
  const pending = load<u16>(drv, GD_PENDING);
  if (pending == 0) return 0;
  const n = load<u32>(drv, GD_SIZE);
  const old = load<u16>(drv, GD_AVAIL_IDX);
  const now: u16 = old + pending;
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  const used = <usize>load<u32>(drv, GD_DEVICE);
  atomic.store<u16>(avail, now, AVAIL_IDX); // release: ring entries and descriptors first
  store<u16>(drv, now, GD_AVAIL_IDX);
  store<u16>(drv, 0, GD_PENDING);
  let notify: bool;
  if ((load<u32>(drv, GD_FLAGS) & DF_EVENT_IDX) != 0)
    notify = needEvent(<u16>atomic.load<u16>(used + USED_RING + ((<usize>n) << 3)), now, old);
  else notify = ((<u16>atomic.load<u16>(used, USED_FLAGS)) & 1) == 0;
  if (notify) {
    ringDoorbell(drv);
    bump(drv, GD_KICKS);
    return 1;
  }
  bump(drv, GD_KICKS_SUPPRESSED);
  return 0;
}

function freeChain(drv: usize, head: u32): void {
  const k = <u32>load<u16>(arr(drv, LEN, head));
  store<u16>(arr(drv, LEN, head), 0);
  store<u16>(drv, load<u16>(drv, GD_NUM_FREE) + <u16>k, GD_NUM_FREE);
  if ((load<u32>(drv, GD_FLAGS) & DF_IN_ORDER) != 0) return; // in order: the sequential head already moved past
  // Prepend the chain to the free list: its last descriptor links to the old free head.
  let last = head;
  for (let i: u32 = 1; i < k; i++) last = <u32>load<u16>(arr(drv, NEXT, last));
  store<u16>(arr(drv, NEXT, last), load<u16>(drv, GD_FREE_HEAD));
  store<u16>(drv, <u16>head, GD_FREE_HEAD);
}

/**
 * Reaps completions into out[] ({u32 token, u32 len}); `max` must allow one IN_ORDER batch
 * (up to N). Ids the device should not have returned are counted as errors and skipped.
 */
export function splitReap(drv: usize, out: usize, max: u32): u32 {
  const n = load<u32>(drv, GD_SIZE);
  const used = <usize>load<u32>(drv, GD_DEVICE);
  const inOrder = (load<u32>(drv, GD_FLAGS) & DF_IN_ORDER) != 0;
  const usedIdx = <u16>atomic.load<u16>(used, USED_IDX); // acquire: the elements below are visible
  let last = load<u16>(drv, GD_LAST_USED);
  let cnt: u32 = 0;
  while (last != usedIdx && cnt < max) {
    const e = used + USED_RING + ((<usize>(<u32>last % n)) << 3);
    const id = load<u32>(e);
    const len = load<u32>(e, 4);
    last++;
    if (id >= n || load<u16>(arr(drv, LEN, id)) == 0) {
      bump(drv, GD_ERRORS);
      continue;
    }
    if (inOrder) {
      // §2.7.9: one element stands for every buffer up to and including `id`.
      for (let guard: u32 = 0; guard < n; guard++) {
        const h = <u32>fifoPop(drv);
        freeChain(drv, h);
        store<u32>(out + ((<usize>cnt) << 3), h);
        store<u32>(out + ((<usize>cnt) << 3), h == id ? len : 0, 4);
        cnt++;
        if (h == id) break;
      }
    } else {
      freeChain(drv, id);
      store<u32>(out + ((<usize>cnt) << 3), id);
      store<u32>(out + ((<usize>cnt) << 3), len, 4);
      cnt++;
    }
  }
  store<u16>(drv, last, GD_LAST_USED);
  bump(drv, GD_COMPLETED, cnt);
  return cnt;
}

/** Interrupts on, then re-check (E6): 1 when completions are already pending. */
export function splitEnableIrq(drv: usize): i32 {
  const n = load<u32>(drv, GD_SIZE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  const used = <usize>load<u32>(drv, GD_DEVICE);
  const last = load<u16>(drv, GD_LAST_USED);
  if ((load<u32>(drv, GD_FLAGS) & DF_EVENT_IDX) != 0) atomic.store<u16>(avail + AVAIL_RING + ((<usize>n) << 1), last);
  else atomic.store<u16>(avail, 0, AVAIL_FLAGS);
  return <u16>atomic.load<u16>(used, USED_IDX) != last ? 1 : 0;
}

export function splitDisableIrq(drv: usize): void {
  const n = load<u32>(drv, GD_SIZE);
  const avail = <usize>load<u32>(drv, GD_DRIVER);
  if ((load<u32>(drv, GD_FLAGS) & DF_EVENT_IDX) != 0)
    atomic.store<u16>(avail + AVAIL_RING + ((<usize>n) << 1), load<u16>(drv, GD_LAST_USED) + 0x8000);
  else atomic.store<u16>(avail, 1, AVAIL_FLAGS);
}
