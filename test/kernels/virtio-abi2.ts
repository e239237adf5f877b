// Test kernel: virtio 2.2.0 declaring kernel ABI 2, which this runtime does not speak.
import { loopbackBind } from '../../assembly/virtio/loopback';

export * from '../../assembly/virtio/index';

export const QT_ABI: i32 = 2;
export const QT_VERSION: i32 = (2 << 16) | (2 << 8); // 2.2.0

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}
