// Test kernel without qt_init. The loader must refuse it.

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x74696e696f6e; // "noinit"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0;
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function something(p: usize): u32 {
  return load<u32>(p);
}
