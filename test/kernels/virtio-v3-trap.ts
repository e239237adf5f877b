// Test kernel: virtio 3.0.0 whose loopback entry traps on every call (before touching any
// state), while its self-test — which drives the echo code directly — passes. A hot swap to it
// commits, then must roll back.
import { loopbackBind } from '../../assembly/virtio/loopback';

export * from '../../assembly/virtio/index';

export const QT_VERSION: i32 = 3 << 16; // 3.0.0

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}

export function vloop_run(state: usize, budget: i32): i32 {
  unreachable();
  return 0;
}
