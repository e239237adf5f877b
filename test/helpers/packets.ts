/**
 * A test-side packet builder: frames assembled layer by layer, with the fields the parser must
 * report. Checksums are left zero (the parser does not check them).
 */
export interface L4Spec {
  proto: number;
  srcPort?: number;
  dstPort?: number;
  /** ICMP type/code/identifier. */
  icmp?: { type: number; code: number; id: number };
  payload?: number;
}

export interface PacketSpec {
  vlans?: number[];
  ip:
    | { v: 4; src: number; dst: number; fragOffset?: number }
    | { v: 6; src: bigint; dst: bigint; ext?: number[]; fragOffset?: number };
  l4: L4Spec;
  /** Wrap the whole frame in VXLAN (outer IPv4/UDP to 4789) with this VNI. */
  vxlan?: number;
}

export interface Expected {
  srcPort: number;
  dstPort: number;
  proto: number;
  fragment: boolean;
  /** Where the IP packet (outer, when tunnelled) ends: truncating before it must give 'malformed'. */
  ipEnd: number;
}

function be16(n: number): number[] {
  return [(n >> 8) & 255, n & 255];
}

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

function addr6(a: bigint): number[] {
  return Array.from({ length: 16 }, (_, i) => Number((a >> BigInt(120 - 8 * i)) & 0xffn));
}

function l4Bytes(s: L4Spec): number[] {
  const pay = new Array<number>(s.payload ?? 0).fill(0xab);
  switch (s.proto) {
    case 6:
      // prettier-ignore
      return [
        ...be16(s.srcPort ?? 0), ...be16(s.dstPort ?? 0),
        0, 0, 0, 1,
        0, 0, 0, 0,
        0x50, 0x18, ...be16(512),
        0, 0, 0, 0,
        ...pay,
      ];
    case 17:
      return [...be16(s.srcPort ?? 0), ...be16(s.dstPort ?? 0), ...be16(8 + pay.length), 0, 0, ...pay];
    case 132:
      return [...be16(s.srcPort ?? 0), ...be16(s.dstPort ?? 0), 0, 0, 0, 1, 0, 0, 0, 0, ...pay];
    case 1:
    case 58:
      return [s.icmp!.type, s.icmp!.code, 0, 0, ...be16(s.icmp!.id), 0, 1, ...pay];
    default:
      return pay;
  }
}

/** Expected ports as the parser reports them (ICMP: type << 8 | code, echo id). */
function ports(s: L4Spec, fragment: boolean): [number, number] {
  if (fragment) return [0, 0];
  if (s.proto === 6 || s.proto === 17 || s.proto === 132) return [s.srcPort ?? 0, s.dstPort ?? 0];
  if (s.proto === 1 || s.proto === 58) {
    const { type, code, id } = s.icmp!;
    const echo = s.proto === 1 ? type === 8 || type === 0 : type === 128 || type === 129;
    return [(type << 8) | code, echo ? id : 0];
  }
  return [0, 0];
}

function ipPacket(spec: PacketSpec): { bytes: number[]; proto: number; fragment: boolean } {
  const ip = spec.ip;
  const l4 = l4Bytes(spec.l4);
  if (ip.v === 4) {
    const frag = ip.fragOffset ?? 0;
    const total = 20 + l4.length;
    // prettier-ignore
    const hdr = [
      0x45, 0, ...be16(total),
      0, 1, ...be16(frag & 0x1fff),
      64, spec.l4.proto, 0, 0,
      ...be32(ip.src),
      ...be32(ip.dst),
    ];
    return { bytes: [...hdr, ...l4], proto: spec.l4.proto, fragment: frag !== 0 };
  }
  // IPv6 with the listed extension headers, then (optionally) a fragment header.
  const chain = [...(ip.ext ?? []), ...(ip.fragOffset !== undefined ? [44] : [])];
  const ext: number[] = [];
  chain.forEach((h, i) => {
    const next = i + 1 < chain.length ? chain[i + 1]! : spec.l4.proto;
    if (h === 44) ext.push(next, 0, ...be16((ip.fragOffset ?? 0) << 3), 0, 0, 0, 7);
    else if (h === 51)
      ext.push(next, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0); // AH: (1 + 2) * 4 = 12 bytes
    else ext.push(next, 1, ...new Array<number>(14).fill(0)); // (1 + 1) * 8 = 16 bytes
  });
  const payload = [...ext, ...l4];
  const first = chain.length ? chain[0]! : spec.l4.proto;
  const hdr = [0x60, 0, 0, 0, ...be16(payload.length), first, 64, ...addr6(ip.src), ...addr6(ip.dst)];
  return { bytes: [...hdr, ...payload], proto: spec.l4.proto, fragment: (ip.fragOffset ?? 0) !== 0 };
}

function ethernet(vlans: number[], etype: number, body: number[]): number[] {
  // 802.1ad outer tag (0x88a8) then 802.1Q inner; the first TPID sits where the ethertype would.
  const mac = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
  if (!vlans.length) return [...mac, ...be16(etype), ...body];
  const tpids = vlans.map((_, i) => (i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100));
  const out = [...mac, ...be16(tpids[0]!)];
  vlans.forEach((v, i) => out.push(...be16(v), ...be16(i + 1 < vlans.length ? tpids[i + 1]! : etype)));
  return [...out, ...body];
}

export function buildPacket(spec: PacketSpec): { frame: Uint8Array; expected: Expected } {
  const { bytes, proto, fragment } = ipPacket(spec);
  const etype = spec.ip.v === 4 ? 0x0800 : 0x86dd;
  let frame = ethernet(spec.vlans ?? [], etype, bytes);
  const [srcPort, dstPort] = ports(spec.l4, fragment);
  let ipEnd = frame.length;
  if (spec.vxlan !== undefined) {
    const vx = [0x08, 0, 0, 0, (spec.vxlan >> 16) & 255, (spec.vxlan >> 8) & 255, spec.vxlan & 255, 0];
    const udp = [...be16(40000), ...be16(4789), ...be16(8 + vx.length + frame.length), 0, 0];
    // prettier-ignore
    const outerIp = [
      0x45, 0, ...be16(20 + udp.length + vx.length + frame.length),
      0, 2, 0, 0,
      64, 17, 0, 0,
      ...be32(0x0a000001),
      ...be32(0x0a000002),
    ];
    frame = ethernet([], 0x0800, [...outerIp, ...udp, ...vx, ...frame]);
    ipEnd = frame.length;
  }
  return { frame: Uint8Array.from(frame), expected: { srcPort, dstPort, proto, fragment, ipEnd } };
}
