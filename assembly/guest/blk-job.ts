// A checked block job that a VM's own vCPU runs step by step, as a guest kernel's block layer
// does between interrupts: it writes `count` 4 KiB blocks (a new version each run), flushes,
// reads every block back and checks it word by word (blk-workload.ts's slots and patterns).
// Each step reaps what completed, submits up to `depth` requests and kicks; it never spins: a
// step with nothing completed returns and the vCPU sleeps on its interrupt word.
//
// State 'GBJB' (guest RAM, BJ_BYTES; host addresses written by the firmware):
//   +0  u32 magic  +4 u32 drv (the queue's GDRV state)  +8 u32 phase (BJP_*)  +12 u32 run
//   +16 u64 slotsGpa  +24 u64 versGpa  +32 u32 scratch (reap records)  +36 u32 capacity (blocks the
//   version table holds)  +40 u32 base  +44 u32 count  +48 u32 depth  +52 u32 next  +56 u32 inflight
//   +60 u32 errorsAtStart (the driver's error count when the run began)
//   +64 u64 writes  +72 u64 reads  +80 u64 flushes  +88 u64 errors  +96 u64 startNs  +104 u64 endNs

import { BLK_T_FLUSH, BLK_T_IN, BLK_T_OUT } from '../blk/layout';
import { GD_ERRORS, GD_RAM, GD_REAP_BYTES, GD_SIZE } from './driver-state';
import { drvFree, drvKick, drvReap } from './driver';
import { add, complete, slotType } from './blk-workload';

export const BJ_MAGIC: u32 = 0x424a4247; // 'GBJB'
export const BJ_DRV: u32 = 4;
export const BJ_PHASE: u32 = 8;
export const BJ_RUN: u32 = 12;
export const BJ_SLOTS: u32 = 16;
export const BJ_VERS: u32 = 24;
export const BJ_SCRATCH: u32 = 32;
export const BJ_CAPACITY: u32 = 36;
export const BJ_BASE: u32 = 40;
export const BJ_COUNT: u32 = 44;
export const BJ_DEPTH: u32 = 48;
export const BJ_NEXT: u32 = 52;
export const BJ_INFLIGHT: u32 = 56;
export const BJ_ERR0: u32 = 60;
export const BJ_WRITES: u32 = 64;
export const BJ_READS: u32 = 72;
export const BJ_FLUSHES: u32 = 80;
export const BJ_ERRORS: u32 = 88;
export const BJ_START_NS: u32 = 96;
export const BJ_END_NS: u32 = 104;
export const BJ_BYTES: u32 = 128;

export const BJP_IDLE: u32 = 0;
export const BJP_WRITE: u32 = 1;
export const BJP_FLUSH: u32 = 2;
export const BJP_READ: u32 = 3;
/** Every block read back as written: the run passed. */
export const BJP_DONE: u32 = 4;
/** A request failed or a block read back wrong (errors > 0). */
export const BJP_FAILED: u32 = 5;

/**
 * Starts a run over blocks [base, base + count), `depth` in flight. Returns 0, -1 (out of range)
 * or -2 (a run is under way).
 */
export function blkJobStart(job: usize, base: u32, count: u32, depth: u32, nowNs: u64): i32 {
  if (load<u32>(job) != BJ_MAGIC) return -1;
  const phase = load<u32>(job, BJ_PHASE);
  if (phase != BJP_IDLE && phase != BJP_DONE && phase != BJP_FAILED) return -2;
  const drv = <usize>load<u32>(job, BJ_DRV);
  // A request takes two descriptors: at most half the ring in flight.
  if (count == 0 || count > load<u32>(job, BJ_CAPACITY) || depth == 0 || depth > load<u32>(drv, GD_SIZE) / 2) return -1;
  if (<u64>base + <u64>count > 0xffffffff) return -1;
  store<u32>(job, base, BJ_BASE);
  store<u32>(job, count, BJ_COUNT);
  store<u32>(job, depth, BJ_DEPTH);
  store<u32>(job, 0, BJ_NEXT);
  store<u32>(job, 0, BJ_INFLIGHT);
  store<u32>(job, load<u32>(job, BJ_RUN) + 1, BJ_RUN);
  store<u32>(job, <u32>load<u64>(drv, GD_ERRORS), BJ_ERR0);
  for (let o: u32 = BJ_WRITES; o < BJ_BYTES; o += 8) store<u64>(job + o, 0);
  store<u64>(job, nowNs, BJ_START_NS);
  atomic.store<u32>(job, BJP_WRITE, BJ_PHASE);
  return 0;
}

/** One step of the run: reap, check, submit, kick. Returns completions handled plus requests submitted. */
export function blkJobStep(job: usize, nowNs: u64): u32 {
  if (load<u32>(job) != BJ_MAGIC) return 0;
  let phase = load<u32>(job, BJ_PHASE);
  if (phase == BJP_IDLE || phase == BJP_DONE || phase == BJP_FAILED) return 0;
  const drv = <usize>load<u32>(job, BJ_DRV);
  const slots = load<u64>(job, BJ_SLOTS);
  const ram = <usize>load<u32>(drv, GD_RAM);
  const vers = ram + <usize>load<u64>(job, BJ_VERS);
  const scratch = <usize>load<u32>(job, BJ_SCRATCH);
  const base = load<u32>(job, BJ_BASE);
  const count = load<u32>(job, BJ_COUNT);
  const depth = load<u32>(job, BJ_DEPTH);
  let inflight = load<u32>(job, BJ_INFLIGHT);
  let work: u32 = 0;
  const n = drvReap(drv, scratch, load<u32>(drv, GD_SIZE));
  for (let i: u32 = 0; i < n; i++) {
    const r = scratch + <usize>i * GD_REAP_BYTES;
    const t = load<u32>(r);
    // SAFETY: t is a token found in flight (drvReap checks the device's id), so t < ring size.
    const type = slotType(drv, slots, t);
    complete(drv, slots, vers, base, t, load<u32>(r, 4));
    const o = type == BLK_T_OUT ? BJ_WRITES : type == BLK_T_IN ? BJ_READS : BJ_FLUSHES;
    store<u64>(job + o, load<u64>(job + o) + 1);
  }
  inflight -= min<u32>(inflight, n);
  work += n;
  let next = load<u32>(job, BJ_NEXT);
  let added: u32 = 0;
  // The phases follow one another within a step when a phase has nothing left in flight.
  for (;;) {
    if (phase == BJP_WRITE || phase == BJP_READ) {
      const type = phase == BJP_WRITE ? BLK_T_OUT : BLK_T_IN;
      // The slot of the next token is written before the add: only when the add cannot fail.
      while (next < count && inflight < depth && drvFree(drv) >= 2) {
        if (add(drv, slots, type, base + next, load<u32>(job, BJ_RUN), 1) < 0) break;
        next++;
        inflight++;
        added++;
      }
      if (next < count || inflight != 0) break;
      if (phase == BJP_READ) {
        const errors = <u64>(<u32>load<u64>(drv, GD_ERRORS) - load<u32>(job, BJ_ERR0));
        store<u64>(job, errors, BJ_ERRORS);
        store<u64>(job, nowNs, BJ_END_NS);
        phase = errors == 0 ? BJP_DONE : BJP_FAILED;
        break;
      }
      // Every block written: one flush makes them durable before they are read back.
      if (drvFree(drv) < 2 || add(drv, slots, BLK_T_FLUSH, 0, 0, 0) < 0) break;
      inflight++;
      added++;
      phase = BJP_FLUSH;
      break;
    }
    // BJP_FLUSH: the flush came back; read every block.
    if (inflight != 0) break;
    phase = BJP_READ;
    next = 0;
  }
  store<u32>(job, next, BJ_NEXT);
  store<u32>(job, inflight, BJ_INFLIGHT);
  atomic.store<u32>(job, phase, BJ_PHASE);
  if (added != 0) drvKick(drv);
  return work + added;
}
