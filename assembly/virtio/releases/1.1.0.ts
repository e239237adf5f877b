// Release 1.1.0 of the virtio module, built from the same device sources as assembly/virtio
// (1.0.0) under its own version number, to build/releases/virtio-1.1.0.wasm. It is the version
// `qingtian demo` and `qingtian bench hotswap` swap in and out of live DPU cores; a response it
// serves with LBF_STAMP set carries 0x010100.
//
// AssemblyScript lets a module's own exports shadow those of `export *`: everything else —
// every vq_* and vloop_* entry, the self-test, the layout constants — is the 1.0.0 code.

import { loopbackBind } from '../loopback';

export * from '../index';

export const QT_VERSION: i32 = (1 << 16) | (1 << 8) | 0; // 1.1.0

export function qt_init(tables: usize, build: i32): i32 {
  loopbackBind(<u32>QT_VERSION);
  return 0;
}
