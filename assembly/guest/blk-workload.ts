// Guest block workload: batches of reads, writes, flushes and write-zeroes through the guest's
// virtqueue driver, every read checked against what the guest last wrote. Runs on a vCPU.
//
// Slot t (one per driver token) at slotsGpa + t * BLKW_SLOT_BYTES:
//   +0 header (16)  +16 data (4096)  +4112 status (1)  +4116 u32 block  +4120 u32 version  +4124 u32 type
// Requests are framed in two descriptors: header (+ data for a write, + a range for write-zeroes)
// readable, then (data for a read +) status writable. Block b's content at version v is a
// pattern of (b, v); version 0 is all zeros (never written, or zeroed). A table of u32 versions,
// one per 4 KiB block, sits at versGpa.

import { BLK_RANGE_F_UNMAP, BLK_T_DISCARD, BLK_T_FLUSH, BLK_T_IN, BLK_T_OUT, BLK_T_WRITE_ZEROES } from '../blk/layout';
import { GD_ERRORS, GD_RAM, GD_REAP_BYTES, GD_SIZE, bump } from './driver-state';
import { drvAdd, drvDisableIrq, drvKick, drvNextToken, drvReap } from './driver';

export const BLKW_SLOT_BYTES: u32 = 4160;
export const BLKW_BLOCK_BYTES: u32 = 4096;
const DATA: u32 = 16;
const STATUS: u32 = 4112;
const META_BLOCK: u32 = 4116;
const META_VERSION: u32 = 4120;
const META_TYPE: u32 = 4124;

/** The request type (BLK_T_*) slot `t` carries. */
@inline export function slotType(drv: usize, slotsGpa: u64, t: u32): u32 {
  return load<u32>(<usize>load<u32>(drv, GD_RAM) + <usize>slotsGpa + <usize>t * BLKW_SLOT_BYTES, META_TYPE);
}

@inline function word(b: u32, v: u32, i: u32): u32 {
  return v == 0 ? 0 : (b * 0x9e3779b1) ^ (v * 0x85ebca77) ^ (i * 0x27d4eb2f);
}

@inline function next(rng: usize): u32 {
  // xorshift32; the state word lives in guest RAM (kernels keep no static state).
  let x = load<u32>(rng);
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  store<u32>(rng, x);
  return x;
}

/** Fills a slot's header and metadata; returns the slot's host address. */
@inline function prepare(ram: usize, slotsGpa: u64, t: u32, type: u32, block: u32, version: u32): usize {
  const s = ram + <usize>slotsGpa + <usize>t * BLKW_SLOT_BYTES;
  store<u32>(s, type);
  store<u32>(s, 0, 4);
  store<u64>(s, type == BLK_T_FLUSH ? 0 : <u64>block * 8, 8);
  store<u8>(s, 0xff, STATUS);
  store<u32>(s, block, META_BLOCK);
  store<u32>(s, version, META_VERSION);
  store<u32>(s, type, META_TYPE);
  return s;
}

/** Adds one request in slot drvNextToken(); -1 when the ring is full. */
export function add(drv: usize, slotsGpa: u64, type: u32, block: u32, version: u32, count: u32): i32 {
  const ram = <usize>load<u32>(drv, GD_RAM);
  const t = drvNextToken(drv);
  const s = prepare(ram, slotsGpa, t, type, block, version);
  const g = slotsGpa + <u64>t * BLKW_SLOT_BYTES;
  if (type == BLK_T_OUT) {
    for (let i: u32 = 0; i < BLKW_BLOCK_BYTES / 4; i++) store<u32>(s + DATA + (i << 2), word(block, version, i));
    return drvAdd(drv, g, DATA + BLKW_BLOCK_BYTES, g + STATUS, 1);
  }
  if (type == BLK_T_IN) return drvAdd(drv, g, DATA, g + DATA, BLKW_BLOCK_BYTES + 1);
  if (type == BLK_T_WRITE_ZEROES || type == BLK_T_DISCARD) {
    // One range: count blocks from `block`; write-zeroes may unmap (version odd), discard never.
    store<u64>(s + DATA, <u64>block * 8);
    store<u32>(s + DATA, count * 8, 8);
    store<u32>(s + DATA, type == BLK_T_WRITE_ZEROES && (version & 1) != 0 ? BLK_RANGE_F_UNMAP : 0, 12);
    return drvAdd(drv, g, DATA + 16, g + STATUS, 1);
  }
  return drvAdd(drv, g, DATA, g + STATUS, 1);
}

/** Checks one completion; updates the version table on a completed write. */
export function complete(drv: usize, slotsGpa: u64, vers: usize, base: u32, t: u32, len: u32): void {
  const s = <usize>load<u32>(drv, GD_RAM) + <usize>slotsGpa + <usize>t * BLKW_SLOT_BYTES;
  const type = load<u32>(s, META_TYPE);
  const block = load<u32>(s, META_BLOCK);
  if (load<u8>(s, STATUS) != 0) {
    bump(drv, GD_ERRORS);
    return;
  }
  if (type == BLK_T_IN) {
    if (len != BLKW_BLOCK_BYTES + 1) bump(drv, GD_ERRORS);
    const v = load<u32>(vers + ((<usize>(block - base)) << 2));
    for (let i: u32 = 0; i < BLKW_BLOCK_BYTES / 4; i++) {
      if (load<u32>(s + DATA + (i << 2)) != word(block, v, i)) {
        bump(drv, GD_ERRORS);
        return;
      }
    }
    return;
  }
  if (len != 1) bump(drv, GD_ERRORS);
  if (type == BLK_T_OUT) store<u32>(vers + ((<usize>(block - base)) << 2), load<u32>(s, META_VERSION));
}

/** Reaps until `want` completions arrived or spinLimit polls passed; returns how many arrived. */
function reapAll(drv: usize, slotsGpa: u64, vers: usize, base: u32, scratch: usize, want: u32, spinLimit: u32): u32 {
  let got: u32 = 0;
  for (let s: u32 = 0; s < spinLimit && got < want; s++) {
    const c = drvReap(drv, scratch, load<u32>(drv, GD_SIZE));
    for (let i: u32 = 0; i < c; i++) {
      const r = scratch + <usize>i * GD_REAP_BYTES;
      complete(drv, slotsGpa, vers, base, load<u32>(r), load<u32>(r, 4));
    }
    got += c;
  }
  if (got < want) bump(drv, GD_ERRORS);
  return got;
}

/**
 * `rounds` batches over `blocks` 4 KiB blocks, each batch `depth` requests in flight on distinct
 * blocks: writes (a new version each), reads (checked), a flush, or one write-zeroes or discard
 * over the batch's blocks (both read as zeros afterwards: true of the RAM disk and of volumes),
 * on blocks [base, base + blocks). Errors go to the driver's error counter. Returns requests
 * completed.
 */
export function blkWorkload(
  drv: usize,
  slotsGpa: u64,
  versGpa: u64,
  scratch: usize,
  rng: usize,
  base: u32,
  blocks: u32,
  depth: u32,
  rounds: u32,
): u32 {
  drvDisableIrq(drv);
  const ram = <usize>load<u32>(drv, GD_RAM);
  const vers = ram + <usize>versGpa;
  if (depth == 0 || depth > blocks) return 0;
  let done: u32 = 0;
  for (let r: u32 = 0; r < rounds; r++) {
    const pick = next(rng) % 16;
    const first = base + (next(rng) % (blocks - depth + 1));
    let want: u32 = 0;
    if (pick < 7) {
      for (let k: u32 = 0; k < depth; k++) {
        if (add(drv, slotsGpa, BLK_T_OUT, first + k, r + 1, 1) < 0) break;
        want++;
      }
    } else if (pick < 13 || pick == 15) {
      for (let k: u32 = 0; k < depth; k++) {
        if (add(drv, slotsGpa, BLK_T_IN, first + k, 0, 1) < 0) break;
        want++;
      }
    } else if (pick == 13) {
      if (add(drv, slotsGpa, BLK_T_FLUSH, 0, 0, 0) >= 0) want++;
    } else {
      // Alternately write-zeroes (plain or unmapping) and discard: the blocks read as zeros after both.
      const zt = (r & 1) != 0 ? BLK_T_DISCARD : BLK_T_WRITE_ZEROES;
      if (add(drv, slotsGpa, zt, first, r >> 1, depth) >= 0) {
        want++;
        drvKick(drv);
        done += reapAll(drv, slotsGpa, vers, base, scratch, want, 100_000_000);
        for (let k: u32 = 0; k < depth; k++) store<u32>(vers + ((<usize>(first - base + k)) << 2), 0);
        continue;
      }
    }
    drvKick(drv);
    done += reapAll(drv, slotsGpa, vers, base, scratch, want, 100_000_000);
  }
  return done;
}

/**
 * Reads every block of [base, base + blocks) back, `depth` at a time, each checked word by word
 * against the version table (a disk the guest comes back to after an unplug or a new boot).
 * Errors go to the driver's error counter. Returns reads completed.
 */
export function blkVerify(
  drv: usize,
  slotsGpa: u64,
  versGpa: u64,
  scratch: usize,
  base: u32,
  blocks: u32,
  depth: u32,
): u32 {
  drvDisableIrq(drv);
  const vers = <usize>load<u32>(drv, GD_RAM) + <usize>versGpa;
  if (depth == 0) return 0;
  let done: u32 = 0;
  for (let b: u32 = 0; b < blocks; b += depth) {
    let want: u32 = 0;
    for (let k: u32 = 0; k < depth && b + k < blocks; k++) {
      if (add(drv, slotsGpa, BLK_T_IN, base + b + k, 0, 1) < 0) break;
      want++;
    }
    drvKick(drv);
    done += reapAll(drv, slotsGpa, vers, base, scratch, want, 100_000_000);
  }
  return done;
}
