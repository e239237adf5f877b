// Test kernel that breaks the kernel rule: a static lookup table compiles to a data segment.
// The loader must refuse it.

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x61746164646162; // "baddata"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0;
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

const TABLE: StaticArray<u32> = [0x11111111, 0x22222222, 0x33333333, 0x44444444];

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function bad_lookup(i: i32): u32 {
  return TABLE[i & 3];
}
