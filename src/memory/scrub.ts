/** Scrub granularity: one compare per 64 KiB. */
const CHUNK = 65536;
const ZERO = Buffer.alloc(CHUNK);

/**
 * Zeroes `u8[start, end)`, writing only the 64 KiB chunks that hold a non-zero byte. A freed
 * guest region is mostly memory the guest never wrote; reading such a page costs no memory
 * (the kernel's shared zero page backs it) where writing it would commit a page per 4 KiB.
 */
export function scrub(u8: Uint8Array, start: number, end: number): void {
  const bytes = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  for (let at = start; at < end; at += CHUNK) {
    const to = Math.min(end, at + CHUNK);
    if (bytes.compare(ZERO, 0, to - at, at, to) !== 0) u8.fill(0, at, to);
  }
}
