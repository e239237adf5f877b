// Kernel family "guest": guest-side Wasm run by a guest's vCPU worker — a virtqueue driver
// (split and packed) and loopback traffic workloads. It follows the kernel rules too (shared
// host memory import only, no data segments), so the same loader checks it.

import { KERNEL_ABI } from '../common/abi';
import { driverInit, drvAdd, drvDisableIrq, drvEnableIrq, drvKick, drvReap } from './driver';
import { gdBytes } from './driver-state';
import {
  benchPackedCollect,
  benchPackedRefill,
  benchPackedSetup,
  benchSplitCollect,
  benchSplitRefill,
  benchSplitSetup,
  drain,
  one,
  oneIrq,
  postMany,
  pump,
} from './loopback-traffic';
import { auditBytes, auditInit, auditMissing, drainAudited, pumpAudited, pumpAuditedIrq } from './audit';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x7473657567; // "guest"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function gdrv_bytes(n: u32): u32 {
  return gdBytes(n);
}

export function gdrv_init(
  drv: usize,
  flags: u32,
  n: u32,
  ramBase: usize,
  ramBytes: u32,
  descGpa: u64,
  driverGpa: u64,
  deviceGpa: u64,
  doorbell: usize,
  sleepWord: usize,
  irq: usize,
  tablesGpa: u64,
): i32 {
  return driverInit(
    drv,
    flags,
    n,
    ramBase,
    ramBytes,
    descGpa,
    driverGpa,
    deviceGpa,
    doorbell,
    sleepWord,
    irq,
    tablesGpa,
  );
}

export function gdrv_add(drv: usize, outGpa: u64, outLen: u32, inGpa: u64, inLen: u32): i32 {
  return drvAdd(drv, outGpa, outLen, inGpa, inLen);
}

export function gdrv_kick(drv: usize): i32 {
  return drvKick(drv);
}

export function gdrv_reap(drv: usize, out: usize, max: u32): u32 {
  return drvReap(drv, out, max);
}

export function gdrv_enable_irq(drv: usize): i32 {
  return drvEnableIrq(drv);
}

export function gdrv_disable_irq(drv: usize): void {
  drvDisableIrq(drv);
}

export function gloop_pump(drv: usize, bufGpa: u64, scratch: usize, budget: u32): u32 {
  return pump(drv, bufGpa, scratch, budget);
}

export function gbench_post(drv: usize, bufGpa: u64, len: u32, count: u32): u32 {
  return postMany(drv, bufGpa, len, count);
}

export function gbench_split_setup(drv: usize, bufGpa: u64, len: u32): void {
  benchSplitSetup(drv, bufGpa, len);
}

export function gbench_split_refill(drv: usize, count: u32): void {
  benchSplitRefill(drv, count);
}

export function gbench_split_collect(drv: usize): u32 {
  return benchSplitCollect(drv);
}

export function gbench_packed_setup(drv: usize, bufGpa: u64, len: u32): void {
  benchPackedSetup(drv, bufGpa, len);
}

export function gbench_packed_refill(drv: usize, count: u32): void {
  benchPackedRefill(drv, count);
}

export function gbench_packed_collect(drv: usize): u32 {
  return benchPackedCollect(drv);
}

export function gloop_drain(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32): u32 {
  return drain(drv, bufGpa, scratch, spinLimit);
}

export function gloop_one(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32): i32 {
  return one(drv, bufGpa, scratch, spinLimit);
}

export function gloop_one_irq(drv: usize, bufGpa: u64, scratch: usize, timeoutNs: i64): i32 {
  return oneIrq(drv, bufGpa, scratch, timeoutNs);
}

export {
  GD_MAGIC,
  DF_PACKED,
  DF_EVENT_IDX,
  DF_INDIRECT,
  DF_IN_ORDER,
  TABLE_BYTES,
  GD_REAP_BYTES,
  GD_KICKS,
  GD_KICKS_SUPPRESSED,
  GD_ADDED,
  GD_COMPLETED,
  GD_IRQ_WAITS,
  GD_ERRORS,
} from './driver-state';

// Exactly-once audit of loopback traffic (assembly/guest/audit.ts).
export function gaudit_bytes(maxTransitions: u32, bits: u32): u32 {
  return auditBytes(maxTransitions, bits);
}

export function gaudit_init(audit: usize, maxTransitions: u32, bits: u32): i32 {
  return auditInit(audit, maxTransitions, bits);
}

export function gaudit_missing(audit: usize, upTo: u64): u64 {
  return auditMissing(audit, upTo);
}

export function gloop_pump_audit(drv: usize, bufGpa: u64, scratch: usize, budget: u32, audit: usize): u32 {
  return pumpAudited(drv, bufGpa, scratch, budget, audit);
}

export function gloop_pump_audit_irq(
  drv: usize,
  bufGpa: u64,
  scratch: usize,
  budget: u32,
  audit: usize,
  waitNs: i64,
): u32 {
  return pumpAuditedIrq(drv, bufGpa, scratch, budget, audit, waitNs);
}

export function gloop_drain_audit(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32, audit: usize): u32 {
  return drainAudited(drv, bufGpa, scratch, spinLimit, audit);
}

export {
  GA_MAGIC,
  GA_MAX_TRANSITIONS,
  GA_TRANSITIONS,
  GA_LAST_VERSION,
  GA_BITS,
  GA_DUPLICATES,
  GA_WRONG,
  GA_BEYOND,
  GA_UNTALLIED,
  GA_TALLY,
  GA_TALLY_SLOTS,
  GA_TRANSITION_BYTES,
  GA_SLOT_BYTES,
  GA_SLOT_VERSION,
  GA_SLOT_USED,
  GA_SLOT_COUNT,
  GA_TR_SEQ,
  GA_TR_FROM,
  GA_TR_TO,
} from './audit';
export { GLOOP_PAIR_BYTES, GLOOP_HALF_BYTES } from './loopback-traffic';
