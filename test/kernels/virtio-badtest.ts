// Test kernel: virtio 2.1.0 whose self-test fails. A hot swap to it must be refused after
// staging, and the staged version dropped from every core.
import { loopbackBind } from '../../assembly/virtio/loopback';

export * from '../../assembly/virtio/index';

export const QT_VERSION: i32 = (2 << 16) | (1 << 8); // 2.1.0

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}

export function qt_self_test(scratch: usize, bytes: u32): i32 {
  return -42;
}
