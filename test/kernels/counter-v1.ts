// Test kernel: counter 1.0.0, state layout 1 (a 32-bit count). It knows no other layout.
import { run1, selfTest1 } from './lib/counter';

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x7265746e756f63; // "counter"
export const QT_VERSION: i32 = 1 << 16; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function qt_self_test(scratch: usize, bytes: u32): i32 {
  return selfTest1(scratch, bytes);
}

export function counter_run(state: usize, budget: i32): i32 {
  return run1(state);
}
