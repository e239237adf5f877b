// Test kernel declaring an ABI this runtime does not speak. The loader must refuse it.

export const QT_ABI: i32 = 99;
export const QT_NAME: u64 = 0x696261646162; // "badabi"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0;
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function bad_peek(p: usize): u32 {
  return load<u32>(p);
}
