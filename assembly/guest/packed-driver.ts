// Packed-ring driver for guest workloads (§2.8): buffer ids from a shadow stack, a chain's
// head flags written last with a release store, kicks decided by the device event suppression
// area, used descriptors recognised by AVAIL == USED == the driver's copy of the device wrap.

import {
  DESC_ADDR,
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
} from '../virtio/layout';
import {
  DF_EVENT_IDX,
  DF_INDIRECT,
  DF_IN_ORDER,
  GD_ADDED,
  GD_AVAIL_WRAP,
  GD_COMPLETED,
  GD_DESC,
  GD_DEVICE,
  GD_DRIVER,
  GD_ERRORS,
  GD_FLAGS,
  GD_FREE_IDS,
  GD_KICKED_POS,
  GD_KICKS,
  GD_KICKS_SUPPRESSED,
  GD_NEXT_AVAIL,
  GD_NEXT_USED,
  GD_NUM_FREE,
  GD_SIZE,
  GD_TABLES_GPA,
  GD_TABLES_HOST,
  GD_USED_WRAP,
  TABLE_BYTES,
  arr,
  bump,
  fifoPop,
  fifoPush,
  ringDoorbell,
} from './driver-state';

const SLOTS: u32 = 0; // array 0: slots held per id (0: free)
const STACK: u32 = 1; // array 1: free id stack

export function packedInit(drv: usize): void {
  const n = load<u32>(drv, GD_SIZE);
  for (let i: u32 = 0; i < n; i++) {
    store<u16>(arr(drv, SLOTS, i), 0);
    store<u16>(arr(drv, STACK, i), <u16>(n - 1 - i));
  }
  store<u16>(drv, <u16>n, GD_FREE_IDS);
  store<u16>(drv, <u16>n, GD_NUM_FREE);
  store<u16>(drv, 0, GD_NEXT_AVAIL);
  store<u16>(drv, 1, GD_AVAIL_WRAP);
  store<u16>(drv, 0, GD_NEXT_USED);
  store<u16>(drv, 1, GD_USED_WRAP);
  store<u32>(drv, 0, GD_KICKED_POS);
}

@inline export function packedNextToken(drv: usize): u32 {
  const top = <u32>load<u16>(drv, GD_FREE_IDS);
  return top == 0 ? 0 : <u32>load<u16>(arr(drv, STACK, top - 1));
}

@inline function pos(drv: usize, slot: u32, wrap: u32): u32 {
  return slot + (wrap != 0 ? 0 : load<u32>(drv, GD_SIZE));
}

export function packedAdd(drv: usize, outGpa: u64, outLen: u32, inGpa: u64, inLen: u32): i32 {
  const n = load<u32>(drv, GD_SIZE);
  const parts: u32 = (outLen != 0 ? 1 : 0) + (inLen != 0 ? 1 : 0);
  const indirect = (load<u32>(drv, GD_FLAGS) & DF_INDIRECT) != 0;
  const k: u32 = indirect ? 1 : parts;
  const top = <u32>load<u16>(drv, GD_FREE_IDS);
  if (parts == 0 || top == 0 || <u32>load<u16>(drv, GD_NUM_FREE) < k) return -1;
  const id = load<u16>(arr(drv, STACK, top - 1));
  store<u16>(drv, <u16>(top - 1), GD_FREE_IDS);
  if (indirect) {
    // §2.8.7: a table of packed descriptors (WRITE the only flag), one ring descriptor with INDIRECT.
    const t = <usize>load<u32>(drv, GD_TABLES_HOST) + <usize>id * TABLE_BYTES;
    let e = t;
    if (outLen != 0) {
      store<u64>(e, outGpa, DESC_ADDR);
      store<u32>(e, outLen, DESC_LEN);
      store<u16>(e, 0, PDESC_ID);
      store<u16>(e, 0, PDESC_FLAGS);
      e += 16;
    }
    if (inLen != 0) {
      store<u64>(e, inGpa, DESC_ADDR);
      store<u32>(e, inLen, DESC_LEN);
      store<u16>(e, 0, PDESC_ID);
      store<u16>(e, F_WRITE, PDESC_FLAGS);
    }
    outGpa = <u64>load<u32>(drv, GD_TABLES_GPA) + <u64>(<u32>id * TABLE_BYTES);
    outLen = 16 * parts;
    inLen = 0;
  }
  const desc = <usize>load<u32>(drv, GD_DESC);
  let slot = <u32>load<u16>(drv, GD_NEXT_AVAIL);
  let wrap = <u32>load<u16>(drv, GD_AVAIL_WRAP);
  const head = desc + ((<usize>slot) << 4);
  const headBits: u16 = wrap != 0 ? F_AVAIL : F_USED;
  let headFlags: u16;
  if (outLen != 0) {
    store<u64>(head, outGpa, DESC_ADDR);
    store<u32>(head, outLen, DESC_LEN);
    store<u16>(head, id, PDESC_ID);
    headFlags = (k == 2 ? F_NEXT : 0) | (indirect ? F_INDIRECT : 0) | headBits;
  } else {
    store<u64>(head, inGpa, DESC_ADDR);
    store<u32>(head, inLen, DESC_LEN);
    store<u16>(head, id, PDESC_ID);
    headFlags = F_WRITE | headBits;
  }
  slot++;
  if (slot == n) {
    slot = 0;
    wrap ^= 1;
  }
  if (k == 2) {
    const d = desc + ((<usize>slot) << 4);
    store<u64>(d, inGpa, DESC_ADDR);
    store<u32>(d, inLen, DESC_LEN);
    store<u16>(d, id, PDESC_ID);
    store<u16>(d, F_WRITE | (wrap != 0 ? F_AVAIL : F_USED), PDESC_FLAGS);
    slot++;
    if (slot == n) {
      slot = 0;
      wrap ^= 1;
    }
  }
  atomic.store<u16>(head, headFlags, PDESC_FLAGS); // §2.8.6: the head goes last (release)
  store<u16>(drv, <u16>slot, GD_NEXT_AVAIL);
  store<u16>(drv, <u16>wrap, GD_AVAIL_WRAP);
  store<u16>(arr(drv, SLOTS, id), <u16>k);
  store<u16>(drv, load<u16>(drv, GD_NUM_FREE) - <u16>k, GD_NUM_FREE);
  if ((load<u32>(drv, GD_FLAGS) & DF_IN_ORDER) != 0) fifoPush(drv, id);
  bump(drv, GD_ADDED);
  return <i32>id;
}

export function packedKick(drv: usize): i32 {
  const n = load<u32>(drv, GD_SIZE);
  const now = pos(drv, <u32>load<u16>(drv, GD_NEXT_AVAIL), <u32>load<u16>(drv, GD_AVAIL_WRAP));
  const old = load<u32>(drv, GD_KICKED_POS);
  if (now == old) return 0;
  store<u32>(drv, now, GD_KICKED_POS);
  const dev = <usize>load<u32>(drv, GD_DEVICE);
  const f = (<u16>atomic.load<u16>(dev, EVS_FLAGS)) & 3;
  let notify: bool;
  if (f == RING_EVENT_DISABLE) notify = false;
  else if (f == RING_EVENT_DESC && (load<u32>(drv, GD_FLAGS) & DF_EVENT_IDX) != 0) {
    const ow = <u32>(<u16>atomic.load<u16>(dev, EVS_OFF_WRAP));
    const off = ow & 0x7fff;
    const span = 2 * n;
    const e = pos(drv, off, ow >> 15);
    notify = off >= n || (now + span - e - 1) % span < (now + span - old) % span;
  } else notify = true;
  if (notify) {
    ringDoorbell(drv);
    bump(drv, GD_KICKS);
    return 1;
  }
  bump(drv, GD_KICKS_SUPPRESSED);
  return 0;
}

@inline function usedAt(drv: usize): bool {
  const desc = <usize>load<u32>(drv, GD_DESC);
  const f = <u16>atomic.load<u16>(desc + ((<usize>load<u16>(drv, GD_NEXT_USED)) << 4), PDESC_FLAGS);
  const w = load<u16>(drv, GD_USED_WRAP) != 0;
  return ((f & F_AVAIL) != 0) == w && ((f & F_USED) != 0) == w;
}

function release(drv: usize, id: u32): void {
  const n = load<u32>(drv, GD_SIZE);
  const k = <u32>load<u16>(arr(drv, SLOTS, id));
  store<u16>(arr(drv, SLOTS, id), 0);
  const top = <u32>load<u16>(drv, GD_FREE_IDS);
  store<u16>(arr(drv, STACK, top), <u16>id);
  store<u16>(drv, <u16>(top + 1), GD_FREE_IDS);
  store<u16>(drv, load<u16>(drv, GD_NUM_FREE) + <u16>k, GD_NUM_FREE);
  let slot = <u32>load<u16>(drv, GD_NEXT_USED) + k;
  let wrap = load<u16>(drv, GD_USED_WRAP);
  while (slot >= n) {
    slot -= n;
    wrap ^= 1;
  }
  store<u16>(drv, <u16>slot, GD_NEXT_USED);
  store<u16>(drv, wrap, GD_USED_WRAP);
}

export function packedReap(drv: usize, out: usize, max: u32): u32 {
  const n = load<u32>(drv, GD_SIZE);
  const desc = <usize>load<u32>(drv, GD_DESC);
  const inOrder = (load<u32>(drv, GD_FLAGS) & DF_IN_ORDER) != 0;
  let cnt: u32 = 0;
  while (cnt < max && usedAt(drv)) {
    const d = desc + ((<usize>load<u16>(drv, GD_NEXT_USED)) << 4);
    const id = <u32>load<u16>(d, PDESC_ID);
    const len = load<u32>(d, DESC_LEN);
    if (id >= n || load<u16>(arr(drv, SLOTS, id)) == 0) {
      bump(drv, GD_ERRORS); // cannot know how far to skip: stop reaping this device
      break;
    }
    if (inOrder) {
      for (let guard: u32 = 0; guard < n; guard++) {
        const x = <u32>fifoPop(drv);
        release(drv, x);
        store<u32>(out + ((<usize>cnt) << 3), x);
        store<u32>(out + ((<usize>cnt) << 3), x == id ? len : 0, 4);
        cnt++;
        if (x == id) break;
      }
    } else {
      release(drv, id);
      store<u32>(out + ((<usize>cnt) << 3), id);
      store<u32>(out + ((<usize>cnt) << 3), len, 4);
      cnt++;
    }
  }
  bump(drv, GD_COMPLETED, cnt);
  return cnt;
}

export function packedEnableIrq(drv: usize): i32 {
  const ev = <usize>load<u32>(drv, GD_DRIVER);
  if ((load<u32>(drv, GD_FLAGS) & DF_EVENT_IDX) != 0) {
    store<u16>(ev, load<u16>(drv, GD_NEXT_USED) | (load<u16>(drv, GD_USED_WRAP) << 15), EVS_OFF_WRAP);
    atomic.store<u16>(ev, RING_EVENT_DESC, EVS_FLAGS);
  } else {
    atomic.store<u16>(ev, RING_EVENT_ENABLE, EVS_FLAGS);
  }
  return usedAt(drv) ? 1 : 0;
}

export function packedDisableIrq(drv: usize): void {
  atomic.store<u16>(<usize>load<u32>(drv, GD_DRIVER), RING_EVENT_DISABLE, EVS_FLAGS);
}
