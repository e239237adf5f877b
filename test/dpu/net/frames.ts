/**
 * Test-side frame builder for the net tests: Ethernet (optional VLAN tags), IPv4 / IPv6, UDP,
 * TCP, ICMP echo, with correct checksums (unless asked otherwise), and the checks a receiver
 * makes. Addresses are strings ("02:00:00:00:00:01", "198.18.0.1").
 */
import { ipv4Bytes, macBytes } from '../../../src/dpu/net/net-address.js';

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const be16 = (n: number): number[] => [(n >> 8) & 255, n & 255];

/** RFC 1071 checksum of `b` (plus an initial 32-bit sum). */
export function inetSum(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export const csum = (b: Uint8Array, init = 0): number => ~inetSum(b, init) & 0xffff;

export function ether(dst: string, src: string, etype: number, payload: Uint8Array, vlans: number[] = []): Uint8Array {
  const tags = vlans.flatMap((v) => [0x81, 0x00, ...be16(v)]);
  return concat(macBytes(dst), macBytes(src), tags, be16(etype), payload);
}

export function ipv4(
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  opts: { ttl?: number; id?: number; df?: boolean } = {},
): Uint8Array {
  const h = new Uint8Array(20);
  h[0] = 0x45;
  h.set(be16(20 + payload.length), 2);
  h.set(be16(opts.id ?? 1), 4);
  h.set(be16(opts.df ? 0x4000 : 0), 6);
  h[8] = opts.ttl ?? 64;
  h[9] = proto;
  h.set(ipv4Bytes(src), 12);
  h.set(ipv4Bytes(dst), 16);
  h.set(be16(csum(h)), 10);
  return concat(h, payload);
}

function pseudo4(src: string, dst: string, proto: number, len: number): number {
  return inetSum(concat(ipv4Bytes(src), ipv4Bytes(dst), [0, proto], be16(len)));
}

export function udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  data: Uint8Array,
  opts: { checksum?: 'full' | 'partial' | 'none' } = {},
): Uint8Array {
  const u = concat(be16(sport), be16(dport), be16(8 + data.length), [0, 0], data);
  const mode = opts.checksum ?? 'full';
  const ps = pseudo4(src, dst, 17, u.length);
  if (mode === 'full') u.set(be16(csum(u, ps) || 0xffff), 6);
  // NEEDS_CSUM convention: the field holds the (uncomplemented) pseudo-header sum.
  if (mode === 'partial') u.set(be16(ps), 6);
  return u;
}

export function tcp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  seq: number,
  flags: number,
  data: Uint8Array,
  partial = false,
): Uint8Array {
  const t = concat(
    be16(sport),
    be16(dport),
    [(seq >>> 24) & 255, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255],
    [0, 0, 0, 0],
    [0x50, flags],
    be16(65535),
    [0, 0, 0, 0],
    data,
  );
  const ps = pseudo4(src, dst, 6, t.length);
  t.set(be16(partial ? ps : csum(t, ps)), 16);
  return t;
}

export function icmpEcho(type: 0 | 8, id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = concat([type, 0, 0, 0], be16(id), be16(seq), data);
  m.set(be16(csum(m)), 2);
  return m;
}

/** A UDP/IPv4 frame of exactly `frameBytes` bytes (>= 42). */
export function udpFrame(o: {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  sport: number;
  dport: number;
  frameBytes: number;
  fill?: number;
  vlans?: number[];
}): Uint8Array {
  const data = new Uint8Array(Math.max(0, o.frameBytes - 42 - 4 * (o.vlans?.length ?? 0))).fill(o.fill ?? 0x5a);
  return ether(
    o.dstMac,
    o.srcMac,
    0x0800,
    ipv4(o.srcIp, o.dstIp, 17, udp(o.srcIp, o.dstIp, o.sport, o.dport, data)),
    o.vlans,
  );
}

/** True when the IPv4 header at `l3` and the UDP/TCP checksum over it verify. */
export function l4ChecksumOk(frame: Uint8Array, l3: number): boolean {
  const ihl = (frame[l3]! & 15) * 4;
  if (csum(frame.subarray(l3, l3 + ihl)) !== 0) return false;
  const total = (frame[l3 + 2]! << 8) | frame[l3 + 3]!;
  const proto = frame[l3 + 9]!;
  const l4 = frame.subarray(l3 + ihl, l3 + total);
  const ps = inetSum(concat(frame.subarray(l3 + 12, l3 + 20), [0, proto], be16(l4.length)));
  return csum(l4, ps) === 0;
}
