// The volume backend: a request becomes a record in the job's volume queue and completes in a
// later turn, when the storage worker's completion comes back (the core never waits for disk).
// Each chain in flight holds one slot of the job's slot table (tag = slot index): its token and
// id for the push, its status byte's GPA and, for IN, its writable segments' GPAs, translated
// again in the turn that writes the data (no host address outlives a turn). Data moves through
// the slot's bounce buffer, owned by the device: OUT data is gathered from the guest once, at
// pop (read once); IN data is copied into the guest through the guest-write path (dirty log).
// A multi-range DISCARD / WRITE_ZEROES keeps its ranges in the bounce buffer and submits them
// one after another, so that every slot has at most one request outstanding.

import { gpaToHost } from '../common/gpa';
import { guestCopy, guestStore } from '../common/guest-write';
import { CH_ID, CH_STATUS, CH_TOKEN, CH_USED_LEN, SEG_BYTES, SEG_GPA, SEG_LEN, chainAt } from '../virtio/burst';
import { VQ_MAX_SEGS } from '../virtio/queue-state';
import {
  BJ_BOUNCE,
  BJ_CLOCK,
  BJ_DONE,
  BJ_FREE,
  BJ_IO_ERRORS,
  BJ_PENDING,
  BJ_REJECTED,
  BJ_SLOTS,
  BJ_SLOT_COUNT,
  BJ_SLOT_DATA,
  BJ_SUBMITS,
  BJ_UNSUPPORTED,
  BJ_VOLQ,
  BLK_RANGE_BYTES,
  BLK_RANGE_F_UNMAP,
  BLK_S_IOERR,
  BLK_S_OK,
  BLK_S_UNSUPP,
  BLK_T_DISCARD,
  BSO_FLUSH,
  BSO_FREE,
  BSO_RANGES,
  BSO_READ,
  BSO_WRITE,
  BS_BYTES,
  BS_BYTES_IN,
  BS_ID,
  BS_KIND,
  BS_NEXT,
  BS_OP,
  BS_RANGES,
  BS_SEGS,
  BS_SLOTS,
  BS_STAMP,
  BS_STATUS_GPA,
  BS_TOKEN,
  bump,
  observeRequests,
} from './layout';
import {
  CPL_STATUS,
  CPL_TAG,
  VOP_DISCARD,
  VOP_FLUSH,
  VOP_READ,
  VOP_WRITE,
  VOP_WRITE_ZEROES,
  VOPF_UNMAP,
  VST_NOT_SUPPORTED,
  VST_OK,
  volqCompleted,
  volqCompletionAt,
  volqRelease,
  volqRequest,
} from './volume-queue';
import { gather } from './segments';

/** serve()'s answer for a request handed to the volume: it completes in a later turn. */
export const PENDING: u32 = 0xffffffff;

@inline function slotAt(job: usize, s: u32): usize {
  return <usize>load<u32>(job, BJ_SLOTS) + BS_SLOTS + <usize>s * BS_BYTES;
}

@inline function freeStack(job: usize): usize {
  return <usize>load<u32>(job, BJ_SLOTS) + BS_SLOTS + <usize>load<u32>(job, BJ_SLOT_COUNT) * BS_BYTES;
}

@inline function segArea(job: usize, s: u32): usize {
  return freeStack(job) + <usize>load<u32>(job, BJ_SLOT_COUNT) * 4 + <usize>s * VQ_MAX_SEGS * SEG_BYTES;
}

@inline export function bounceOf(job: usize, s: u32): usize {
  return <usize>load<u32>(job, BJ_BOUNCE) + <usize>s * load<u32>(job, BJ_SLOT_DATA);
}

/** Chains the job can still take this turn (free slots). */
@inline export function volFreeSlots(job: usize): u32 {
  return load<u32>(job, BJ_FREE);
}

/** Largest data length of one request (the bounce buffer of a slot). */
@inline export function volMaxBytes(job: usize): u32 {
  return load<u32>(job, BJ_SLOT_DATA);
}

/** Starts a burst: no request written yet. */
@inline export function volBegin(job: usize): void {
  store<u32>(job, 0, BJ_PENDING);
}

/** Requests written this burst (to publish with volqSubmit). */
@inline export function volPending(job: usize): u32 {
  return load<u32>(job, BJ_PENDING);
}

/** Takes a free slot for the chain `rec` (the caller popped no more chains than free slots). */
function take(job: usize, rec: usize, op: u32, statusGpa: u64): u32 {
  const free = load<u32>(job, BJ_FREE) - 1;
  store<u32>(job, free, BJ_FREE);
  const s = load<u32>(freeStack(job) + <usize>free * 4);
  const e = slotAt(job, s);
  store<u16>(e, load<u16>(rec, CH_TOKEN), BS_TOKEN);
  store<u16>(e, load<u16>(rec, CH_ID), BS_ID);
  store<u32>(e, op, BS_OP);
  store<u64>(e, statusGpa, BS_STATUS_GPA);
  store<f64>(e, load<f64>(job, BJ_CLOCK), BS_STAMP);
  return s;
}

function release(job: usize, s: u32): void {
  store<u32>(slotAt(job, s), BSO_FREE, BS_OP);
  const free = load<u32>(job, BJ_FREE);
  store<u32>(freeStack(job) + <usize>free * 4, s);
  store<u32>(job, free + 1, BJ_FREE);
}

function request(job: usize, op: u8, flags: u8, s: u32, offset: u64, length: u32, buffer: usize): void {
  const k = load<u32>(job, BJ_PENDING);
  volqRequest(<usize>load<u32>(job, BJ_VOLQ), k, op, flags, s, offset, length, buffer);
  store<u32>(job, k + 1, BJ_PENDING);
  bump(job, BJ_SUBMITS);
}

/** IN: records the writable segments (data then status), asks for `bytes` at `sector`. */
export function volRead(
  job: usize,
  rec: usize,
  segs: usize,
  wfirst: u32,
  nw: u32,
  sector: u64,
  bytes: u32,
  statusGpa: u64,
): u32 {
  const s = take(job, rec, BSO_READ, statusGpa);
  const e = slotAt(job, s);
  const area = segArea(job, s);
  // SAFETY: nw <= VQ_MAX_SEGS (the pop's limit, C7): the slot's segment area holds them all.
  memory.copy(area, segs + <usize>wfirst * SEG_BYTES, <usize>nw * SEG_BYTES);
  store<u32>(e, nw, BS_SEGS);
  store<u32>(e, bytes, BS_BYTES_IN);
  request(job, VOP_READ, 0, s, sector << 9, bytes, bounceOf(job, s));
  return PENDING;
}

/** OUT: the data is copied out of the guest now (read once), then handed to the volume. */
export function volWrite(
  job: usize,
  rec: usize,
  segs: usize,
  first: u32,
  nr: u32,
  dataOff: u32,
  sector: u64,
  bytes: u32,
  statusGpa: u64,
): u32 {
  const s = take(job, rec, BSO_WRITE, statusGpa);
  const b = bounceOf(job, s);
  gather(segs, first, nr, dataOff, b, bytes);
  request(job, VOP_WRITE, 0, s, sector << 9, bytes, b);
  return PENDING;
}

/** FLUSH: completes once everything completed before it is durable with the map. */
export function volFlush(job: usize, rec: usize, statusGpa: u64): u32 {
  const s = take(job, rec, BSO_FLUSH, statusGpa);
  request(job, VOP_FLUSH, 0, s, 0, 0, 0);
  return PENDING;
}

/**
 * DISCARD / WRITE_ZEROES whose ranges were checked (in the job's scratch at `ranges`): copied to
 * the slot's bounce buffer, submitted one at a time. The caller checked some range is non-empty.
 */
export function volRanges(job: usize, rec: usize, kind: u32, ranges: usize, count: u32, statusGpa: u64): u32 {
  const s = take(job, rec, BSO_RANGES, statusGpa);
  const e = slotAt(job, s);
  memory.copy(bounceOf(job, s), ranges, <usize>count * BLK_RANGE_BYTES);
  store<u32>(e, count, BS_RANGES);
  store<u32>(e, 0, BS_NEXT);
  store<u32>(e, kind, BS_KIND);
  nextRange(job, s);
  return PENDING;
}

/** Submits the slot's next non-empty range; false when none is left. */
function nextRange(job: usize, s: u32): bool {
  const e = slotAt(job, s);
  const count = load<u32>(e, BS_RANGES);
  let k = load<u32>(e, BS_NEXT);
  const b = bounceOf(job, s);
  while (k < count) {
    const at = b + <usize>k * BLK_RANGE_BYTES;
    const n = load<u32>(at, 8);
    k++;
    if (n == 0) continue;
    store<u32>(e, k, BS_NEXT);
    const discard = load<u32>(e, BS_KIND) == BLK_T_DISCARD;
    const unmap = (load<u32>(at, 12) & BLK_RANGE_F_UNMAP) != 0;
    request(job, discard ? VOP_DISCARD : VOP_WRITE_ZEROES, unmap ? VOPF_UNMAP : 0, s, load<u64>(at) << 9, n << 9, 0);
    return true;
  }
  store<u32>(e, k, BS_NEXT);
  return false;
}

/**
 * Takes the volume's completions: a range request with more to do submits the next one; any
 * other finishes its chain (IN data copied into the guest, then the status byte) and appends
 * it to the done burst from index `nd`. Returns the new count of done chains.
 */
export function volReap(job: usize, map: usize, nd: u32): u32 {
  const q = <usize>load<u32>(job, BJ_VOLQ);
  const n = volqCompleted(q);
  const slots = load<u32>(job, BJ_SLOT_COUNT);
  const done = <usize>load<u32>(job, BJ_DONE);
  for (let k: u32 = 0; k < n; k++) {
    const c = volqCompletionAt(q, k);
    // Read once: the worker's record.
    const tag = load<u32>(c, CPL_TAG);
    const status = load<u32>(c, CPL_STATUS);
    if (tag >= slots) continue;
    const e = slotAt(job, tag);
    const op = load<u32>(e, BS_OP);
    if (op == BSO_FREE) continue;
    if (status == VST_OK && op == BSO_RANGES && nextRange(job, tag)) continue;
    const rec = chainAt(done, nd++);
    store<u16>(rec, load<u16>(e, BS_TOKEN), CH_TOKEN);
    store<u16>(rec, load<u16>(e, BS_ID), CH_ID);
    store<u16>(rec, 0, CH_STATUS);
    store<u32>(rec, finish(job, map, tag, e, op, status), CH_USED_LEN);
    observeRequests(job, load<f64>(job, BJ_CLOCK) - load<f64>(e, BS_STAMP), 1);
    release(job, tag);
  }
  volqRelease(q, n);
  return nd;
}

/** The used length of a finished chain: IN data and the status byte written, or 0 (rejected, C4). */
function finish(job: usize, map: usize, s: u32, e: usize, op: u32, status: u32): u32 {
  let st = BLK_S_OK;
  if (status != VST_OK) {
    st = status == VST_NOT_SUPPORTED ? BLK_S_UNSUPP : BLK_S_IOERR;
    bump(job, status == VST_NOT_SUPPORTED ? BJ_UNSUPPORTED : BJ_IO_ERRORS);
  }
  const sa = gpaToHost(map, load<u64>(e, BS_STATUS_GPA), 1);
  let written: u32 = 0;
  if (sa != 0 && op == BSO_READ && st == BLK_S_OK) {
    const area = segArea(job, s);
    const nw = load<u32>(e, BS_SEGS);
    // The guest map may have changed since the pop: every segment translated again first.
    let ok = true;
    for (let i: u32 = 0; i < nw; i++) {
      const g = area + <usize>i * SEG_BYTES;
      const h = gpaToHost(map, load<u64>(g, SEG_GPA), <u64>load<u32>(g, SEG_LEN));
      if (h == 0) {
        ok = false;
        break;
      }
      store<u32>(g, <u32>h);
    }
    if (!ok) {
      bump(job, BJ_REJECTED);
      return 0;
    }
    let left = load<u32>(e, BS_BYTES_IN);
    let src = bounceOf(job, s);
    for (let i: u32 = 0; i < nw && left != 0; i++) {
      const g = area + <usize>i * SEG_BYTES;
      let take = load<u32>(g, SEG_LEN);
      if (take > left) take = left;
      // SAFETY: load<u32>(g) was translated and bounds-checked for SEG_LEN bytes just above.
      guestCopy(map, <usize>load<u32>(g), src, take);
      src += take;
      left -= take;
      written += take;
    }
  }
  if (sa == 0) {
    bump(job, BJ_REJECTED);
    return 0;
  }
  // SAFETY: sa is the status byte, translated and bounds-checked (1 byte) in this turn.
  guestStore<u8>(map, sa, st);
  return written + 1;
}

/** Appends a chain finished within the pop's turn to the done burst (its latency: within this burst). */
@inline export function volDone(job: usize, rec: usize, nd: u32, used: u32): u32 {
  observeRequests(job, 0, 1);
  const d = chainAt(<usize>load<u32>(job, BJ_DONE), nd);
  store<u16>(d, load<u16>(rec, CH_TOKEN), CH_TOKEN);
  store<u16>(d, load<u16>(rec, CH_ID), CH_ID);
  store<u16>(d, 0, CH_STATUS);
  store<u32>(d, used, CH_USED_LEN);
  return nd + 1;
}
