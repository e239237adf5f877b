// Test kernel library "counter": a job that counts what a producer posts, in two state layouts,
// and the state transform between them.
//
// State 'CNTR' (192 bytes):
//   layout 1:  +64 u32 count   +68 u32 seen
//   layout 2:  +64 u64 count   +72 u32 seen
//   both:      +128 u32 posted  (the producer's running total, atomic store)
// Each burst adds posted - seen to count (u32 wrap-around arithmetic on the running totals).

import { HDR_LAYOUT_VERSION, headerOk } from '../../../assembly/common/header';

export const CNTR_MAGIC: u32 = 0x52544e43; // 'CNTR'
export const CNTR_BYTES: u32 = 192;
const POSTED: usize = 128;

export function run1(state: usize): i32 {
  if (!headerOk(state, CNTR_MAGIC, 1, CNTR_BYTES)) return -1;
  const posted = atomic.load<u32>(state, POSTED);
  const d = posted - load<u32>(state, 68);
  if (d == 0) return 0;
  store<u32>(state, load<u32>(state, 64) + d, 64);
  store<u32>(state, posted, 68);
  return <i32>(d & 0x3fffffff);
}

export function run2(state: usize): i32 {
  if (!headerOk(state, CNTR_MAGIC, 2, CNTR_BYTES)) return -1;
  const posted = atomic.load<u32>(state, POSTED);
  const d = posted - load<u32>(state, 72);
  if (d == 0) return 0;
  store<u64>(state, load<u64>(state, 64) + <u64>d, 64);
  store<u32>(state, posted, 72);
  return <i32>(d & 0x3fffffff);
}

/** In place, all or nothing: a state it refuses is left untouched. */
export function transform(state: usize, from: i32, to: i32): i32 {
  if (from == 1 && to == 2) {
    if (!headerOk(state, CNTR_MAGIC, 1, CNTR_BYTES)) return -1;
    const count = load<u32>(state, 64);
    const seen = load<u32>(state, 68);
    store<u64>(state, <u64>count, 64);
    store<u32>(state, seen, 72);
    store<u32>(state, 2, HDR_LAYOUT_VERSION);
    return 0;
  }
  if (from == 2 && to == 1) {
    if (!headerOk(state, CNTR_MAGIC, 2, CNTR_BYTES)) return -1;
    const count = load<u64>(state, 64);
    if (count > 0xffffffff) return -2; // does not fit the old layout
    const seen = load<u32>(state, 72);
    store<u32>(state, <u32>count, 64);
    store<u32>(state, seen, 68);
    store<u32>(state, 0, 72);
    store<u32>(state, 1, HDR_LAYOUT_VERSION);
    return 0;
  }
  return -3;
}

@inline function header(s: usize, layout: u32): void {
  memory.fill(s, 0, CNTR_BYTES);
  store<u32>(s, CNTR_MAGIC);
  store<u32>(s, layout, 4);
  store<u32>(s, CNTR_BYTES, 8);
}

/** Self-test of layout 1 on shadow data. */
export function selfTest1(s: usize, bytes: u32): i32 {
  if (bytes < CNTR_BYTES) return -1;
  header(s, 1);
  atomic.store<u32>(s, 5, POSTED);
  if (run1(s) != 5 || load<u32>(s, 64) != 5 || run1(s) != 0) return -2;
  return 0;
}

/** Self-test of layout 2 and of the transform both ways, on shadow data. */
export function selfTest2(s: usize, bytes: u32): i32 {
  if (bytes < CNTR_BYTES) return -1;
  header(s, 1);
  store<u32>(s, 7, 64);
  store<u32>(s, 7, 68);
  atomic.store<u32>(s, 10, POSTED);
  if (transform(s, 1, 2) != 0 || run2(s) != 3 || load<u64>(s, 64) != 10) return -2;
  if (transform(s, 2, 1) != 0 || load<u32>(s, 64) != 10 || load<u32>(s, 68) != 10) return -3;
  store<u64>(s, (<u64>1) << 32, 64);
  store<u32>(s, 2, 4);
  if (transform(s, 2, 1) != -2 || load<u64>(s, 64) != (<u64>1) << 32) return -4;
  return 0;
}
