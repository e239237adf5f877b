import { init, run, PROBE_ENTRIES } from './lib/probe';

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x65626f7270; // "probe"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = <i32>PROBE_ENTRIES * 4;

export function qt_init(tables: usize, build: i32): i32 {
  return init(tables, build, 2654435761, 0x1111);
}

export function probe_run(state: usize, budget: i32): i32 {
  return run(state, budget, 2654435761, 0x1111, 1);
}
