// Internet checksums (RFC 1071) for the device's checksum offload (VIRTIO_NET_F_CSUM: the driver
// leaves the pseudo-header sum in the field, the device completes the sum from csum_start to the
// end of the frame, §5.1.6.2) and for the headers segmentation and encapsulation make.

/** The 32-bit one's-complement accumulation of `len` bytes at `p` (big-endian 16-bit words). */
export function sumBytes(p: usize, len: u32, acc: u64): u64 {
  let i: u32 = 0;
  // 8 bytes at a time: byte-swapped 64-bit loads summed as four 16-bit words, folded at the end.
  while (i + 8 <= len) {
    const w = load<u64>(p + <usize>i);
    acc += (w & 0xffff) + ((w >> 16) & 0xffff) + ((w >> 32) & 0xffff) + (w >> 48);
    i += 8;
  }
  let tail: u64 = 0;
  while (i + 2 <= len) {
    tail += <u64>load<u16>(p + <usize>i);
    i += 2;
  }
  if (i < len) tail += <u64>load<u8>(p + <usize>i);
  return acc + tail;
}

/**
 * Folds an accumulation of little-endian 16-bit loads to the 16-bit one's-complement sum, in
 * network order (the loads above read words byte-swapped; one swap at the end fixes them all,
 * since the one's-complement sum commutes with byte swapping, RFC 1071 §2 (B)).
 */
export function foldSum(acc: u64): u32 {
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  let s = <u32>acc;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return <u32>bswap<u16>(<u16>s);
}

/** The checksum field value for bytes summed into `acc` (complement, network order). */
@inline export function csumOf(acc: u64): u32 {
  return ~foldSum(acc) & 0xffff;
}

/** Writes a 16-bit value in network order at p. */
@inline export function storeBe16(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v));
}

@inline export function loadBe16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}

/** The IPv4 header checksum of the header at `ip` (`ihl` bytes, its checksum field zeroed first). */
export function ipv4HeaderChecksum(ip: usize, ihl: u32): void {
  store<u16>(ip, 0, 10);
  storeBe16(ip + 10, csumOf(sumBytes(ip, ihl, 0)));
}
