// A DPU-core job that works through a list of stripes (encode or decode passes) published in its
// state region: the batch form of erasure coding for large stripe sets. One batch at a time; the
// control plane writes the next batch only once the previous one is done.
//
// Job state 'ECBJ' (layout 1), after the 64-byte header:
//   +64  u32 seq          batch number; the producer writes the batch, then stores seq last
//   +68  u32 count        stripes in the batch
//   +72  u32 descs        address of the first descriptor (count x EC_DESC_BYTES)
//   +76  u32 cursor       next stripe to run                                   (core-owned)
//   +80  u32 doneSeq      set to seq once every stripe ran; then notify         (core-owned)
//   +84  u32 failed       stripes that failed in this batch                     (core-owned)
//   +88  i32 firstError   status of the first failed stripe, 0 if none          (core-owned)
//   +92  u32 firstFailed  index of the first failed stripe                      (core-owned)
//   +96  u64 stripesDone  over the job's life                                   (core-owned)
//   +104 u64 bytesDone    source bytes over the job's life                      (core-owned)
//
// Descriptor (32 bytes): one dot-product pass, exactly the arguments of ec_encode.
//   +0 u32 len  +4 u32 k  +8 u32 rows  +12 u32 tbls  +16 u32 src  +20 u32 dst  +24 i32 status  +28 pad

import { headerOk } from '../common/header';
import { memoryBytes, rangeOk } from '../common/bounds';
import { EC_E_ARGS, EC_E_RANGE, EC_E_STATE, EC_OK, countOk, shardsOk } from './checks';
import { dotProduct } from './dot-product';
import { tablesBytes } from './nibble-tables';

export const ECBJ_MAGIC: u32 = 0x4a424345; // 'ECBJ'
export const ECBJ_LAYOUT: u32 = 1;
export const ECBJ_SEQ: usize = 64;
export const ECBJ_COUNT: usize = 68;
export const ECBJ_DESCS: usize = 72;
export const ECBJ_CURSOR: usize = 76;
export const ECBJ_DONE_SEQ: usize = 80;
export const ECBJ_FAILED: usize = 84;
export const ECBJ_FIRST_ERROR: usize = 88;
export const ECBJ_FIRST_FAILED: usize = 92;
export const ECBJ_STRIPES_DONE: usize = 96;
export const ECBJ_BYTES_DONE: usize = 104;
export const ECBJ_BYTES: u32 = 128;

export const EC_DESC_BYTES: usize = 32;
export const EC_DESC_LEN: usize = 0;
export const EC_DESC_K: usize = 4;
export const EC_DESC_ROWS: usize = 8;
export const EC_DESC_TBLS: usize = 12;
export const EC_DESC_SRC: usize = 16;
export const EC_DESC_DST: usize = 20;
export const EC_DESC_STATUS: usize = 24;

/** Checks a descriptor's arguments, then runs it. Returns its status. */
export function runPass(len: usize, k: i32, rows: i32, tbls: usize, src: usize, dst: usize, limit: u64): i32 {
  if (!countOk(k) || !countOk(rows) || <u64>len > limit) return EC_E_ARGS;
  if (!rangeOk(tbls, tablesBytes(rows, k), limit)) return EC_E_RANGE;
  if (!shardsOk(src, k, len, limit) || !shardsOk(dst, rows, len, limit)) return EC_E_RANGE;
  dotProduct(len, k, rows, tbls, src, dst);
  return EC_OK;
}

/** Job entry: runs up to `budget` stripes of the current batch; returns how many ran. */
export function batchJob(state: usize, budget: i32): i32 {
  if (!headerOk(state, ECBJ_MAGIC, ECBJ_LAYOUT, ECBJ_BYTES) || budget <= 0) return EC_E_STATE;
  // Acquire: the batch (count, descriptors, their pointer arrays) was written before seq.
  const seq = atomic.load<u32>(state, ECBJ_SEQ);
  if (seq == load<u32>(state, ECBJ_DONE_SEQ)) return 0;
  const limit = memoryBytes();
  const count = load<u32>(state, ECBJ_COUNT);
  const descs = <usize>load<u32>(state, ECBJ_DESCS);
  let cursor = load<u32>(state, ECBJ_CURSOR);
  if (cursor == 0) {
    store<u32>(state, 0, ECBJ_FAILED);
    store<i32>(state, 0, ECBJ_FIRST_ERROR);
    store<u32>(state, 0, ECBJ_FIRST_FAILED);
  }
  let ran: i32 = 0;
  if (count > 0 && !rangeOk(descs, <usize>count * EC_DESC_BYTES, limit)) {
    // The whole batch is unreadable: fail it as one.
    store<u32>(state, count, ECBJ_FAILED);
    store<i32>(state, EC_E_RANGE, ECBJ_FIRST_ERROR);
    cursor = count;
  }
  while (cursor < count && ran < budget) {
    // SAFETY: descs + count * 32 is inside memory (checked above); cursor < count.
    const d = descs + <usize>cursor * EC_DESC_BYTES;
    const len = <usize>load<u32>(d, EC_DESC_LEN);
    const k = <i32>load<u32>(d, EC_DESC_K);
    const status = runPass(
      len,
      k,
      <i32>load<u32>(d, EC_DESC_ROWS),
      <usize>load<u32>(d, EC_DESC_TBLS),
      <usize>load<u32>(d, EC_DESC_SRC),
      <usize>load<u32>(d, EC_DESC_DST),
      limit,
    );
    store<i32>(d, status, EC_DESC_STATUS);
    if (status != EC_OK) {
      if (load<u32>(state, ECBJ_FAILED) == 0) {
        store<i32>(state, status, ECBJ_FIRST_ERROR);
        store<u32>(state, cursor, ECBJ_FIRST_FAILED);
      }
      store<u32>(state, load<u32>(state, ECBJ_FAILED) + 1, ECBJ_FAILED);
    } else {
      store<u64>(state, load<u64>(state, ECBJ_BYTES_DONE) + <u64>len * <u64>k, ECBJ_BYTES_DONE);
    }
    store<u64>(state, load<u64>(state, ECBJ_STRIPES_DONE) + 1, ECBJ_STRIPES_DONE);
    cursor++;
    ran++;
  }
  if (cursor >= count) {
    store<u32>(state, 0, ECBJ_CURSOR);
    // Release: every descriptor status and counter above is visible to whoever sees doneSeq.
    atomic.store<u32>(state, seq, ECBJ_DONE_SEQ);
    atomic.notify(state + ECBJ_DONE_SEQ, 1);
  } else {
    store<u32>(state, cursor, ECBJ_CURSOR);
  }
  return ran;
}
