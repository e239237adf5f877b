// Test kernel: counter 2.0.0, state layout 2 (a 64-bit count). As the newer layout's owner it
// carries the state transform both ways (1 → 2 on upgrade, 2 → 1 on rollback or downgrade).
import { run2, selfTest2, transform } from './lib/counter';

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x7265746e756f63; // "counter"
export const QT_VERSION: i32 = 2 << 16; // 2.0.0
export const QT_STATE_LAYOUT: i32 = 2;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function qt_self_test(scratch: usize, bytes: u32): i32 {
  return selfTest2(scratch, bytes);
}

export function qt_state_transform(state: usize, fromLayout: i32, toLayout: i32): i32 {
  return transform(state, fromLayout, toLayout);
}

export function counter_run(state: usize, budget: i32): i32 {
  return run2(state);
}
