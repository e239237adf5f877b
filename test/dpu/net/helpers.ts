import { arpFrame, ARP_REQUEST } from '../../../src/dpu/net/arp.js';
import { buildEthernet, ETHERTYPE_IPV4 } from '../../../src/dpu/net/ethernet.js';
import {
  buildIcmpEcho,
  buildIpv4,
  buildUdp,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../../../src/dpu/net/ipv4.js';
import type { MissedPacket } from '../../../src/dpu/net/slow-path-types.js';
import { NET_KEY_IN_PORT } from '../../../src/dpu/net/net-layout.js';
import { PacketParser } from '../../../src/dpu/flow/packet-parser.js';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';

export interface FrameSpec {
  srcMac: number;
  dstMac: number;
  vlan?: number;
  src: string | number;
  dst: string | number;
  /** 'icmp' (echo request unless `icmpType`), 'udp', 'tcp'. */
  proto: 'icmp' | 'udp' | 'tcp';
  icmpType?: number;
  id?: number;
  srcPort?: number;
  dstPort?: number;
  tcpFlags?: number;
  ttl?: number;
}

const ip = (a: string | number): number => (typeof a === 'string' ? parseIPv4(a) : a);

export function ipFrame(s: FrameSpec): Uint8Array {
  const src = ip(s.src);
  const dst = ip(s.dst);
  let l4: Uint8Array;
  let proto: number;
  if (s.proto === 'icmp') {
    l4 = buildIcmpEcho(s.icmpType ?? 8, s.id ?? 1, 1, new Uint8Array(32));
    proto = IPPROTO_ICMP;
  } else if (s.proto === 'udp') {
    l4 = buildUdp(src, dst, s.srcPort ?? 40000, s.dstPort ?? 7, new Uint8Array(16));
    proto = IPPROTO_UDP;
  } else {
    l4 = new Uint8Array(20);
    const v = new DataView(l4.buffer);
    v.setUint16(0, s.srcPort ?? 40000);
    v.setUint16(2, s.dstPort ?? 80);
    l4[12] = 0x50;
    l4[13] = s.tcpFlags ?? 0x02;
    proto = IPPROTO_TCP;
  }
  const eth: { dst: number; src: number; ethertype: number; vlan?: number } = {
    dst: s.dstMac,
    src: s.srcMac,
    ethertype: ETHERTYPE_IPV4,
  };
  if (s.vlan !== undefined) eth.vlan = s.vlan;
  return buildEthernet(eth, buildIpv4({ src, dst, proto, ttl: s.ttl ?? 64 }, l4));
}

export function arpRequest(from: { mac: number; ip: number }, target: string | number, vlan?: number): Uint8Array {
  const eth: { dst: number; src: number; vlan?: number } = { dst: 0xffffffffffff, src: from.mac };
  if (vlan !== undefined) eth.vlan = vlan;
  return arpFrame({ op: ARP_REQUEST, senderMac: from.mac, senderIp: from.ip, targetMac: 0, targetIp: ip(target) }, eth);
}

let parser: PacketParser | undefined;
let seq = 0;

/** An upcall as the fast path would send it: the kernel parser's key with the in-port written in. */
export function missed(port: number, frame: Uint8Array, extra: Partial<MissedPacket> = {}): MissedPacket {
  parser ??= new PacketParser();
  const p = parser.parse(frame);
  const key = p.key.slice();
  new DataView(key.buffer).setUint16(NET_KEY_IN_PORT, port, true);
  return { seq: ++seq, port, reason: 'miss', key, tcpFlags: p.tcpFlags, frame, truncated: false, ...extra };
}

/** A frame from port `p` to `to` (MAC `toMac`, default the other port's). */
export function from(p: Port, to: { ip: number; mac: number }, spec: Partial<FrameSpec> = {}): Uint8Array {
  const s: FrameSpec = { srcMac: p.mac, dstMac: to.mac, src: p.ip, dst: to.ip, proto: 'icmp', ...spec };
  if (p.kind === 'sub' && spec.vlan === undefined) s.vlan = p.vlan;
  return ipFrame(s);
}
