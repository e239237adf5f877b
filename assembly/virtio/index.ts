// Kernel family "virtio": device-side virtqueues (split and packed) and the loopback device.
// Exports are flat and prefixed: vq_* (queue operations), vloop_* (loopback device job entries),
// and the layout constants (exports.ts) that src/generated/virtio.ts is generated from.

import { KERNEL_ABI } from '../common/abi';
import { burstBytes, burstInit, vqArm, vqPop, vqPush, vqPushRange, vqRefresh } from './vq';
import { queueReset, queueRestoreCheck, queueRestoreIndices, queueRestoreInflight, queueSetup } from './queue';
import { vqStateBytes } from './queue-state';
import { loopbackArm, loopbackBind, loopbackRun } from './loopback';
import { SELF_TEST_BYTES, loopbackSelfTest } from './self-test';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x6f6974726976; // "virtio"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}

/** Hot-swap self-test on shadow data (assembly/virtio/self-test.ts): 0 = pass. */
export function qt_self_test(scratch: usize, bytes: u32): i32 {
  return loopbackSelfTest(scratch, bytes);
}

export const QT_SELF_TEST_BYTES: u32 = SELF_TEST_BYTES;

export function vq_state_bytes(size: u32, packed: u32): u32 {
  return vqStateBytes(size, packed != 0);
}

export function vq_setup(
  vq: usize,
  regionBytes: u32,
  size: u32,
  packed: u32,
  features: u64,
  descGpa: u64,
  driverGpa: u64,
  deviceGpa: u64,
  gmap: usize,
  irq: usize,
): i32 {
  return queueSetup(vq, regionBytes, size, packed != 0, features, descGpa, driverGpa, deviceGpa, gmap, irq);
}

export function vq_reset(vq: usize): void {
  queueReset(vq);
}

export function vq_restore_indices(
  vq: usize,
  nextAvail: u32,
  nextUsed: u32,
  availWrap: u32,
  usedWrap: u32,
  signalledUsed: u32,
  signalledValid: u32,
): i32 {
  return queueRestoreIndices(vq, nextAvail, nextUsed, availWrap, usedWrap, signalledUsed, signalledValid);
}

export function vq_restore_inflight(vq: usize, token: u32, id: u32, descCount: u32): i32 {
  return queueRestoreInflight(vq, token, id, descCount);
}

export function vq_restore_check(vq: usize): i32 {
  return queueRestoreCheck(vq);
}

export function vq_burst_bytes(maxChains: u32, segCap: u32): u32 {
  return burstBytes(maxChains, segCap);
}

export function vq_burst_init(burst: usize, regionBytes: u32, maxChains: u32, segCap: u32): i32 {
  return burstInit(burst, regionBytes, maxChains, segCap);
}

export function vq_pop(vq: usize, burst: usize, max: u32): i32 {
  return vqPop(vq, burst, max);
}

export function vq_push(vq: usize, burst: usize, count: u32): i32 {
  return vqPush(vq, burst, count);
}

export function vq_push_range(vq: usize, burst: usize, first: u32, count: u32): i32 {
  return vqPushRange(vq, burst, first, count);
}

export function vq_refresh(vq: usize, burst: usize, first: u32, count: u32): u32 {
  return vqRefresh(vq, burst, first, count);
}

export function vq_arm(vq: usize): u32 {
  return vqArm(vq);
}

export function vloop_run(state: usize, budget: i32): i32 {
  return loopbackRun(state, budget);
}

export function vloop_arm(state: usize, budget: i32): i32 {
  return loopbackArm(state);
}

export * from './exports';
