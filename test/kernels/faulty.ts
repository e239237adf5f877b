// Test kernel "faulty": a job that traps or fails on request.
// State: +64 u64 count  +72 u32 action (0 run, 1 trap with unreachable, 2 return -7, 3 out-of-bounds load)

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x79746c756166; // "faulty"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0;
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function faulty_run(state: usize, budget: i32): i32 {
  const action = atomic.load<u32>(state, 72);
  if (action == 1) unreachable();
  if (action == 2) return -7;
  if (action == 3) return <i32>load<u32>(<usize>0xfffffff0);
  store<u64>(state, load<u64>(state, 64) + 1, 64);
  return 1;
}
