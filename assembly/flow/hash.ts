// Hash mixing shared by the flow kernels. Seeds always come from the caller's state region
// (never from static data): a table built with a secret seed cannot be flooded by keys chosen
// to collide.

/** One 32-bit word folded into a running hash (multiply-rotate-multiply, then rotate-add). */
@inline export function mixWord(h: u32, k: u32): u32 {
  k *= 0xcc9e2d51;
  k = rotl<u32>(k, 15);
  k *= 0x1b873593;
  h ^= k;
  h = rotl<u32>(h, 13);
  return h * 5 + 0xe6546b64;
}

/** Final avalanche: every input bit affects every output bit. */
@inline export function finish32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/** 64-bit finaliser (xor-shift-multiply), used after the NH-style sum of the flow cache. */
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
