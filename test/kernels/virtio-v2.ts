// Test kernel: virtio 2.0.0 — the production virtio module under another version number (every
// entry, the self-test and the constants come from assembly/virtio; local exports shadow
// `export *`). Responses it serves with LBF_STAMP carry 0x020000.
import { loopbackBind } from '../../assembly/virtio/loopback';

export * from '../../assembly/virtio/index';

export const QT_VERSION: i32 = 2 << 16; // 2.0.0

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}
