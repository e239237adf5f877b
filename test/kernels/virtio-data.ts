// Test kernel: virtio 2.3.0 with a static table, i.e. a data segment that instantiation would
// write at a fixed address of host memory, over whatever a live region keeps there.
import { loopbackBind } from '../../assembly/virtio/loopback';

export * from '../../assembly/virtio/index';

export const QT_VERSION: i32 = (2 << 16) | (3 << 8); // 2.3.0

const TABLE: StaticArray<u32> = [0xdeadbeef, 0xfeedface, 0x01020304, 0x05060708];

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}

export function vloop_table(i: i32): u32 {
  return TABLE[i & 3];
}
