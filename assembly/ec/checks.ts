// Argument checks shared by the exported entry points. Every pointer a kernel is handed is
// checked against the memory before the trusted loops run: a bad call fails with a status and
// writes nothing.

import { rangeOk } from '../common/bounds';

export const EC_OK: i32 = 0;
/** k, rows, a source index or a length out of range. */
export const EC_E_ARGS: i32 = -1;
/** A pointer or a range outside memory. */
export const EC_E_RANGE: i32 = -2;
/** A job state region whose header does not match. */
export const EC_E_STATE: i32 = -3;

/** Largest k and rows: GF(2^8) has 255 non-zero elements (k + m <= 255 is checked by the TS side). */
export const EC_MAX_SHARDS: i32 = 255;

/**
 * Checks an array of `count` u32 shard pointers at `ptrs`, and every [ptr, ptr + len), against a
 * memory of `limit` bytes.
 */
export function shardsOk(ptrs: usize, count: i32, len: usize, limit: u64): bool {
  if (!rangeOk(ptrs, (<usize>count) << 2, limit)) return false;
  for (let i = 0; i < count; i++) {
    // SAFETY: ptrs + 4 * count is inside memory (checked above).
    if (!rangeOk(<usize>load<u32>(ptrs + ((<usize>i) << 2)), len, limit)) return false;
  }
  return true;
}

@inline export function countOk(n: i32): bool {
  return n >= 1 && n <= EC_MAX_SHARDS;
}
