// Queue setup, reset, restore and the broken state — shared by split and packed rings.

import { GMAP_COUNT, gpaToHost } from '../common/gpa';
import { headerOk } from '../common/header';
import {
  DESC_BYTES,
  EVS_BYTES,
  FEAT_EVENT_IDX,
  FEAT_INDIRECT_DESC,
  FEAT_IN_ORDER,
  MAX_QUEUE_SIZE,
  splitAvailBytes,
  splitUsedBytes,
} from './layout';
import {
  QF_EVENT_IDX,
  QF_INDIRECT,
  QF_IN_ORDER,
  QF_KICKS_ON,
  QF_PACKED,
  QF_READY,
  VQ_SETUP_ALIGN,
  VQ_SETUP_OVERLAP,
  VQ_SETUP_RANGE,
  VQ_SETUP_REGION,
  VQ_SETUP_SIZE,
  VQ_SETUP_STATE,
  VQ_AVAIL_WRAP,
  VQ_BROKEN,
  VQ_BROKEN_DETAIL,
  VQ_DESC_GPA,
  VQ_DESC_HOST,
  VQ_DEVICE_GPA,
  VQ_DEVICE_HOST,
  VQ_DRIVER_GPA,
  VQ_DRIVER_HOST,
  VQ_FEATURES,
  VQ_FLAGS,
  VQ_GMAP,
  VQ_INFLIGHT,
  VQ_IRQ_ADDR,
  VQ_LAYOUT,
  VQ_MAGIC,
  VQ_NEXT_AVAIL,
  VQ_NEXT_USED,
  VQ_SIGNALLED_USED,
  VQ_SIGNALLED_VALID,
  VQ_SIZE,
  VQ_SLOT_DESC_COUNT,
  VQ_SLOT_ID,
  VQ_TABLE,
  VQ_USED_WRAP,
  vqStateBytes,
} from './queue-state';

/** Marks the queue broken (DEVICE_NEEDS_RESET): nothing more is processed until a reset. Returns -1. */
export function breakQueue(vq: usize, reason: u32, detail: u32): i32 {
  if (load<u32>(vq, VQ_BROKEN) == 0) {
    store<u32>(vq, reason, VQ_BROKEN);
    store<u32>(vq, detail, VQ_BROKEN_DETAIL);
  }
  return -1;
}

@inline function overlaps(a: u64, alen: u64, b: u64, blen: u64): bool {
  return a < b + blen && b < a + alen;
}

/**
 * Validates a queue configuration and makes the queue ready (§2.7, §2.8, bad-input list A1-A4):
 * size, alignment of each area, each area wholly inside guest RAM, areas not overlapping. On
 * refusal nothing in the state region changes and the result is the negated SETUP_* reason.
 * Used for live configuration and for restore alike: restored state is untrusted.
 */
export function queueSetup(
  vq: usize,
  regionBytes: u32,
  size: u32,
  packed: bool,
  features: u64,
  descGpa: u64,
  driverGpa: u64,
  deviceGpa: u64,
  gmap: usize,
  irqAddr: usize,
): i32 {
  if (!headerOk(vq, VQ_MAGIC, VQ_LAYOUT, 0)) return -VQ_SETUP_REGION;
  // A1: split sizes are powers of two; both formats are at most 32768.
  if (size == 0 || size > MAX_QUEUE_SIZE || (!packed && (size & (size - 1)) != 0)) return -VQ_SETUP_SIZE;
  if (regionBytes < vqStateBytes(size, packed)) return -VQ_SETUP_REGION;
  if (gmap == 0 || load<u32>(gmap, GMAP_COUNT) == 0) return -VQ_SETUP_RANGE;
  const eventIdx = (features & ((<u64>1) << FEAT_EVENT_IDX)) != 0;
  // A2: descriptor area 16; split avail 2 / used 4; packed event suppression areas 4.
  if ((descGpa & 15) != 0 || (driverGpa & (packed ? 3 : 1)) != 0 || (deviceGpa & 3) != 0) return -VQ_SETUP_ALIGN;
  const descBytes = <u64>(DESC_BYTES * size);
  const driverBytes = <u64>(packed ? EVS_BYTES : splitAvailBytes(size, eventIdx));
  const deviceBytes = <u64>(packed ? EVS_BYTES : splitUsedBytes(size, eventIdx));
  // A3: each area wholly inside one guest slot (gpaToHost also refuses addr + len overflow).
  const descHost = gpaToHost(gmap, descGpa, descBytes);
  const driverHost = gpaToHost(gmap, driverGpa, driverBytes);
  const deviceHost = gpaToHost(gmap, deviceGpa, deviceBytes);
  if (descHost == 0 || driverHost == 0 || deviceHost == 0) return -VQ_SETUP_RANGE;
  // A4: no two areas overlap (each lies in RAM, so none of these sums can wrap).
  if (
    overlaps(descGpa, descBytes, driverGpa, driverBytes) ||
    overlaps(descGpa, descBytes, deviceGpa, deviceBytes) ||
    overlaps(driverGpa, driverBytes, deviceGpa, deviceBytes)
  )
    return -VQ_SETUP_OVERLAP;

  // Kicks start "on" (the driver initialised used.flags / the device event area to enable), so
  // the first busy pop turns them off: a polling device is never kicked, and a core arms them
  // again before it sleeps.
  let flags = QF_READY | QF_KICKS_ON;
  if (packed) flags |= QF_PACKED;
  if (eventIdx) flags |= QF_EVENT_IDX;
  if ((features & ((<u64>1) << FEAT_INDIRECT_DESC)) != 0) flags |= QF_INDIRECT;
  if ((features & ((<u64>1) << FEAT_IN_ORDER)) != 0) flags |= QF_IN_ORDER;
  store<u32>(vq, size, VQ_SIZE);
  store<u32>(vq, <u32>gmap, VQ_GMAP);
  store<u32>(vq, 0, VQ_BROKEN);
  store<u32>(vq, 0, VQ_BROKEN_DETAIL);
  store<u32>(vq, <u32>descHost, VQ_DESC_HOST);
  store<u32>(vq, <u32>driverHost, VQ_DRIVER_HOST);
  store<u32>(vq, <u32>deviceHost, VQ_DEVICE_HOST);
  store<u64>(vq, descGpa, VQ_DESC_GPA);
  store<u64>(vq, driverGpa, VQ_DRIVER_GPA);
  store<u64>(vq, deviceGpa, VQ_DEVICE_GPA);
  store<u64>(vq, features, VQ_FEATURES);
  store<u16>(vq, 0, VQ_NEXT_AVAIL);
  store<u16>(vq, 0, VQ_NEXT_USED);
  store<u16>(vq, 1, VQ_AVAIL_WRAP); // §2.8.1: wrap counters start at 1
  store<u16>(vq, 1, VQ_USED_WRAP);
  store<u16>(vq, 0, VQ_SIGNALLED_USED);
  store<u16>(vq, 0, VQ_SIGNALLED_VALID);
  store<u32>(vq, <u32>irqAddr, VQ_IRQ_ADDR);
  store<u32>(vq, 0, VQ_INFLIGHT);
  memory.fill(vq + VQ_TABLE, 0, vqStateBytes(size, packed) - VQ_TABLE);
  store<u32>(vq, flags, VQ_FLAGS);
  return 0;
}

/** A5: after reset the queue processes nothing until it is set up again. Counters are kept. */
export function queueReset(vq: usize): void {
  store<u32>(vq, 0, VQ_FLAGS);
  store<u32>(vq, 0, VQ_BROKEN);
  store<u32>(vq, 0, VQ_INFLIGHT);
}

/**
 * Restores ring indices on a queue just set up (A6: restored state is untrusted). Packed
 * indices are slots < N with wrap counters 0/1. The in-flight count must match the indices;
 * in-flight entries follow through queueRestoreInflight, then queueRestoreCheck.
 */
export function queueRestoreIndices(
  vq: usize,
  nextAvail: u32,
  nextUsed: u32,
  availWrap: u32,
  usedWrap: u32,
  signalledUsed: u32,
  signalledValid: u32,
): i32 {
  const flags = load<u32>(vq, VQ_FLAGS);
  const n = load<u32>(vq, VQ_SIZE);
  if ((flags & QF_READY) == 0) return -VQ_SETUP_STATE;
  if (nextAvail > 0xffff || nextUsed > 0xffff || signalledUsed > 0xffff || signalledValid > 1) return fail(vq);
  if ((flags & QF_PACKED) != 0) {
    if (nextAvail >= n || nextUsed >= n || signalledUsed >= n || availWrap > 1 || usedWrap > 1) return fail(vq);
  } else if (<u32>(<u16>(nextAvail - nextUsed)) > n) return fail(vq);
  store<u16>(vq, <u16>nextAvail, VQ_NEXT_AVAIL);
  store<u16>(vq, <u16>nextUsed, VQ_NEXT_USED);
  store<u16>(vq, <u16>availWrap, VQ_AVAIL_WRAP);
  store<u16>(vq, <u16>usedWrap, VQ_USED_WRAP);
  store<u16>(vq, <u16>signalledUsed, VQ_SIGNALLED_USED);
  store<u16>(vq, <u16>signalledValid, VQ_SIGNALLED_VALID);
  return 0;
}

/** Adds one in-flight chain: split: token = head; packed: token = first slot, with its id and slot count. */
export function queueRestoreInflight(vq: usize, token: u32, id: u32, descCount: u32): i32 {
  const flags = load<u32>(vq, VQ_FLAGS);
  const n = load<u32>(vq, VQ_SIZE);
  if ((flags & QF_READY) == 0 || token >= n || id > 0xffff) return fail(vq);
  if ((flags & QF_PACKED) != 0) {
    const e = vq + VQ_TABLE + ((<usize>token) << 2);
    if (descCount == 0 || descCount > n || load<u16>(e, VQ_SLOT_DESC_COUNT) != 0) return fail(vq);
    store<u16>(e, <u16>id, VQ_SLOT_ID);
    store<u16>(e, <u16>descCount, VQ_SLOT_DESC_COUNT);
  } else {
    const bit = vq + VQ_TABLE + (token >> 3);
    const m = <u8>((<u32>1) << (token & 7));
    if ((load<u8>(bit) & m) != 0) return fail(vq);
    store<u8>(bit, load<u8>(bit) | m);
  }
  store<u32>(vq, load<u32>(vq, VQ_INFLIGHT) + 1, VQ_INFLIGHT);
  return 0;
}

/** The restored in-flight set must account exactly for the distance between the indices. */
export function queueRestoreCheck(vq: usize): i32 {
  const flags = load<u32>(vq, VQ_FLAGS);
  const n = load<u32>(vq, VQ_SIZE);
  const nextAvail = <u32>load<u16>(vq, VQ_NEXT_AVAIL);
  const nextUsed = <u32>load<u16>(vq, VQ_NEXT_USED);
  if ((flags & QF_PACKED) != 0) {
    let slots: u32 = 0;
    for (let t: u32 = 0; t < n; t++) slots += <u32>load<u16>(vq + VQ_TABLE + ((<usize>t) << 2), VQ_SLOT_DESC_COUNT);
    const same = load<u16>(vq, VQ_AVAIL_WRAP) == load<u16>(vq, VQ_USED_WRAP);
    const distance = same ? nextAvail - nextUsed : nextAvail + n - nextUsed;
    if ((same && nextAvail < nextUsed) || distance != slots) return fail(vq);
  } else if (load<u32>(vq, VQ_INFLIGHT) != <u32>(<u16>(nextAvail - nextUsed))) return fail(vq);
  return 0;
}

function fail(vq: usize): i32 {
  queueReset(vq);
  return -VQ_SETUP_STATE;
}
