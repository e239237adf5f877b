// Bounds checks for addresses a kernel is handed (by the control plane or, through it, by a guest).

/** Bytes of the imported memory (host memory never grows, but this is read, not assumed). */
@inline export function memoryBytes(): u64 {
  return (<u64>memory.size()) << 16;
}

/**
 * True when [addr, addr + len) is non-null and lies inside a memory of `limit` bytes. u64
 * arithmetic: addr + len cannot wrap.
 */
@inline export function rangeOk(addr: usize, len: usize, limit: u64): bool {
  return addr != 0 && <u64>addr + <u64>len <= limit;
}
