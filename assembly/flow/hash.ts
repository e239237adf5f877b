// Hash finalising and range checks shared by the flow kernels. Hash seeds always come from the
// caller's state region (never from static data): a table built with a secret seed cannot be
// flooded by keys chosen to collide.

/** 64-bit finaliser (xor-shift-multiply): the flow cache's NH sum, seed expansion. */
@inline export function finish64(x: u64): u64 {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccd;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53;
  x ^= x >> 33;
  return x;
}

/** Memory size in bytes (the module imports the shared host memory; it never grows). */
@inline export function memoryBytes(): u64 {
  return (<u64>memory.size()) << 16;
}

/** True when [ptr, ptr + len) lies inside memory and ptr is not the null page (below 64 KiB). */
@inline export function rangeOk(ptr: usize, len: u64): bool {
  return ptr >= 65536 && <u64>ptr + len <= memoryBytes();
}
