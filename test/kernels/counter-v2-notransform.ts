// Test kernel: counter 2.0.1, state layout 2 but no qt_state_transform export. A swap from
// layout 1 to it must be refused (missing export) before anything is staged.
import { run2 } from './lib/counter';

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x7265746e756f63; // "counter"
export const QT_VERSION: i32 = (2 << 16) | 1; // 2.0.1
export const QT_STATE_LAYOUT: i32 = 2;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function qt_self_test(scratch: usize, bytes: u32): i32 {
  return 0;
}

export function counter_run(state: usize, budget: i32): i32 {
  return run2(state);
}
