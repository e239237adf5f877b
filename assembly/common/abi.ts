// The kernel-module ABI shared by every kernel family.
//
// Every module exports these (checked by the loader, src/common/kernel-image.ts):
//   QT_ABI: i32           ABI version spoken by the module (the loader accepts KERNEL_ABI)
//   QT_NAME: u64          module name: up to 8 ASCII bytes packed little-endian (byte 0 = 1st char)
//   QT_VERSION: i32       semantic version, major << 16 | minor << 8 | patch, written as a
//                         literal expression (a call would need a start function)
//   QT_STATE_LAYOUT: i32  layout version of the state regions its jobs work on
//   QT_TABLES_BYTES: i32  size of the table region the module needs (0: none)
//   qt_init(tables: usize, build: i32): i32
//                         build = 1: build the lookup tables into `tables` (done once, by the
//                         loader, on the main thread); build = 0: only remember `tables` (done
//                         by each core's instance). Returns 0 or a negative status.
//
// Kernel rule (docs/design.md, "Kernel rules", rules 2-3; decision 1): a module has NO data
// segments. An instantiation would re-write them at the absolute addresses they were compiled for,
// over whatever another module version keeps there. Tables are built at init into a region the
// loader hands over, whose base the module keeps in a Wasm global (per instance, so per core). The
// loader refuses a module with an active data segment or a start function.
//
// Job entry points have the signature (state: usize, budget: i32) => i32 and return the number
// of items handled (>= 0) or a negative status; a negative status fails the job.

export const KERNEL_ABI: i32 = 1;
