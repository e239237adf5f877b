// Test kernel "probe": a module whose table content depends on its version, so that two
// versions loaded at once prove that neither overwrites the other's tables.
//
// Tables: PROBE_ENTRIES u32 words, word i = i * mul + add (mul/add differ per version).
// State 'PROB' (layout 1): +64 u64 checks  +72 u64 mismatches  +80 u32 cursor  +84 u32 lastVersion

export const PROBE_ENTRIES: u32 = 16384;
const STATE_MAGIC: u32 = 0x424f5250; // 'PROB'

let tables: usize = 0;

export function init(t: usize, build: i32, mul: u32, add: u32): i32 {
  if (t == 0) return -1;
  tables = t;
  if (build) {
    for (let i: u32 = 0; i < PROBE_ENTRIES; i++) store<u32>(t + ((<usize>i) << 2), i * mul + add);
  }
  return 0;
}

export function run(state: usize, budget: i32, mul: u32, add: u32, version: u32): i32 {
  if (load<u32>(state) != STATE_MAGIC) return -1;
  let cursor = load<u32>(state, 80);
  let bad: u64 = 0;
  const n = (<u32>budget) << 6;
  for (let k: u32 = 0; k < n; k++) {
    const i = cursor & (PROBE_ENTRIES - 1);
    if (load<u32>(tables + ((<usize>i) << 2)) != i * mul + add) bad++;
    cursor++;
  }
  store<u32>(state, cursor, 80);
  store<u64>(state, load<u64>(state, 64) + <u64>n, 64);
  store<u64>(state, load<u64>(state, 72) + bad, 72);
  store<u32>(state, version, 84);
  return budget;
}
