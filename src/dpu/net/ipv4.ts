/**
 * IPv4 (RFC 791) with ICMP echo (RFC 792) and UDP (RFC 768): headers the slow path reads from a
 * missed frame, and whole packets built with correct checksums (what real peers such as Linux
 * check and tshark verifies).
 */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;
const IPV4_HEADER_BYTES = 20;

export interface Ipv4Header {
  src: number;
  dst: number;
  proto: number;
  ttl: number;
  /** Header length in bytes (IHL × 4). */
  headerBytes: number;
  /** Total length from the header. */
  totalBytes: number;
  /** More-fragments set or a non-zero offset. */
  fragment: boolean;
}

/** Reads the IPv4 header at `at`; null when it is short, not version 4, or its lengths contradict the frame. */
export function parseIpv4(frame: Uint8Array, at: number): Ipv4Header | null {
  if (frame.length < at + IPV4_HEADER_BYTES) return null;
  const v = new DataView(frame.buffer, frame.byteOffset + at, frame.length - at);
  const vihl = v.getUint8(0);
  const headerBytes = (vihl & 0xf) * 4;
  const totalBytes = v.getUint16(2);
  if (vihl >> 4 !== 4 || headerBytes < IPV4_HEADER_BYTES || totalBytes < headerBytes || totalBytes > v.byteLength) {
    return null;
  }
  const frag = v.getUint16(6);
  return {
    src: v.getUint32(12),
    dst: v.getUint32(16),
    proto: v.getUint8(9),
    ttl: v.getUint8(8),
    headerBytes,
    totalBytes,
    fragment: (frag & 0x3fff) !== 0,
  };
}

/** The Internet checksum (RFC 1071) of `b`, folded, complemented; `initial` carries a pseudo-header sum. */
export function internetChecksum(b: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = b.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/** An IPv4 packet (20-byte header, DF clear, TTL 64 unless given) around `payload`. */
export function buildIpv4(
  h: { src: number; dst: number; proto: number; ttl?: number; id?: number },
  payload: Uint8Array,
): Uint8Array {
  const p = new Uint8Array(IPV4_HEADER_BYTES + payload.length);
  const v = new DataView(p.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, p.length);
  v.setUint16(4, h.id ?? 0);
  v.setUint8(8, h.ttl ?? 64);
  v.setUint8(9, h.proto);
  v.setUint32(12, h.src >>> 0);
  v.setUint32(16, h.dst >>> 0);
  v.setUint16(10, internetChecksum(p.subarray(0, IPV4_HEADER_BYTES)));
  p.set(payload, IPV4_HEADER_BYTES);
  return p;
}

/** An ICMP echo request or reply (type 8 or 0) with its checksum. */
export function buildIcmpEcho(type: number, id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  const v = new DataView(m.buffer);
  v.setUint8(0, type);
  v.setUint16(4, id);
  v.setUint16(6, seq);
  m.set(data, 8);
  v.setUint16(2, internetChecksum(m));
  return m;
}

/** A UDP datagram with its checksum over the IPv4 pseudo-header (0 is sent as 0xffff, RFC 768). */
export function buildUdp(src: number, dst: number, srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const d = new Uint8Array(8 + data.length);
  const v = new DataView(d.buffer);
  v.setUint16(0, srcPort);
  v.setUint16(2, dstPort);
  v.setUint16(4, d.length);
  d.set(data, 8);
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_UDP + d.length;
  const sum = internetChecksum(d, pseudo);
  v.setUint16(6, sum === 0 ? 0xffff : sum);
  return d;
}
