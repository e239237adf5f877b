// Packet parser: Ethernet, 802.1Q / 802.1ad VLAN tags, IPv4, IPv6 (skipping its extension
// headers), TCP, UDP, SCTP, ICMP / ICMPv6, and VXLAN (RFC 7348) inner frames → a fixed-width
// flow key. Every read is checked against the packet's end first; a packet that ends early or
// contradicts its own length fields gets the verdict MALFORMED (with a reason), never a read
// past its end.
//
// Input: descriptors of 8 bytes (u32 host address, u32 length). Output: records of 64 bytes.
//
//   key (48 B, compared whole by the flow cache):
//   +0  src address, 16 B (IPv4: 4 bytes in network order, then zeros)
//   +16 dst address, 16 B
//   +32 u16 src port (ICMP/ICMPv6: type << 8 | code)   +34 u16 dst port (ICMP echo: identifier)
//   +36 u8 L4 protocol (after IPv6 extension headers)  +37 u8 flags: 1 = VXLAN inner, 2 = non-first fragment
//   +38 u16 ethertype (of the innermost frame)          +40 u16 VLAN id (first tag, 0 = none)
//   +42 u16 zero                                        +44 u32 VXLAN VNI (0 = not tunnelled)
//   meta (16 B, per packet, not part of the key):
//   +48 u8 verdict (0 IP flow, 1 malformed, 2 not IP)   +49 u8 TCP flags   +50 u8 VLAN tags
//   +51 u8 IP version   +52 u16 L3 offset   +54 u16 L4 offset (0 = none)   +56 u16 payload offset
//   +58 u16 inner L2 offset (VXLAN)   +60 u32 malformed reason (PR_*)
// Ports and the ethertype are numbers (host order); offsets are from the packet's start.

import { rangeOk } from './hash';

export const PARSE_REC_BYTES: u32 = 64;
export const PARSE_DESC_BYTES: u32 = 8;
export const PARSE_DESC_ADDR: usize = 0; // u32 host address of the frame
export const PARSE_DESC_LEN: usize = 4; // u32 length
export const PARSE_KEY_BYTES: u32 = 48; // the flow key: the record's first bytes (FC_KEY_BYTES)
export const VERDICT_OK: u32 = 0;
export const VERDICT_MALFORMED: u32 = 1;
export const VERDICT_NOT_IP: u32 = 2;
export const KEY_FLAG_TUNNEL: u32 = 1;
export const KEY_FLAG_FRAGMENT: u32 = 2;
export const VXLAN_PORT: u32 = 4789;
export const PARSE_E_RANGE: i32 = -2;

// Malformed reasons.
export const PR_RANGE: u32 = 1; // the packet is not inside memory
export const PR_L2: u32 = 2; // shorter than an Ethernet header or a VLAN tag
export const PR_IPV4: u32 = 3; // IPv4 header truncated, wrong version or IHL < 5
export const PR_IPV4_LEN: u32 = 4; // total length < header or beyond the frame
export const PR_IPV6: u32 = 5; // IPv6 header truncated or wrong version
export const PR_IPV6_LEN: u32 = 6; // payload length beyond the frame
export const PR_IPV6_EXT: u32 = 7; // an extension header runs past the payload, or too many
export const PR_TCP: u32 = 8; // TCP header truncated or data offset out of range
export const PR_UDP: u32 = 9; // UDP header truncated or length out of range
export const PR_ICMP: u32 = 10; // ICMP header truncated
export const PR_SCTP: u32 = 11; // SCTP common header truncated
export const PR_VXLAN: u32 = 12; // VXLAN header truncated

export const K_SRC: usize = 0;
export const K_DST: usize = 16;
export const K_SPORT: usize = 32;
export const K_DPORT: usize = 34;
export const K_PROTO: usize = 36;
export const K_FLAGS: usize = 37;
export const K_ETYPE: usize = 38;
export const K_VLAN: usize = 40;
export const K_VNI: usize = 44;
export const M_VERDICT: usize = 48;
export const M_TCP_FLAGS: usize = 49;
export const M_VLANS: usize = 50;
export const M_IPVER: usize = 51;
export const M_L3: usize = 52;
export const M_L4: usize = 54;
export const M_PAYLOAD: usize = 56;
export const M_INNER_L2: usize = 58;
export const M_REASON: usize = 60;
const MAX_EXT_HEADERS: u32 = 8;

@inline function be16(p: usize, off: u32): u32 {
  return <u32>bswap<u16>(load<u16>(p + <usize>off));
}

@inline function u8at(p: usize, off: u32): u32 {
  return <u32>load<u8>(p + <usize>off);
}

@inline function clearKey(rec: usize): void {
  const z = i32x4.splat(0);
  v128.store(rec, z, 0);
  v128.store(rec, z, 16);
  v128.store(rec, z, 32);
  v128.store(rec, z, 48);
}

@inline function malformed(rec: usize, reason: u32): void {
  clearKey(rec);
  store<u8>(rec, <u8>VERDICT_MALFORMED, M_VERDICT);
  store<u32>(rec, reason, M_REASON);
}

/**
 * Parses the frame [p + off, p + end) into `rec`. `inner` is set for a VXLAN inner frame (no
 * further decapsulation). Returns nothing: the verdict is in the record.
 */
function parseFrame(p: usize, off: u32, end: u32, rec: usize, inner: bool, vni: u32): void {
  clearKey(rec);
  if (inner) {
    store<u8>(rec, <u8>KEY_FLAG_TUNNEL, K_FLAGS);
    store<u32>(rec, vni, K_VNI);
    store<u16>(rec, <u16>off, M_INNER_L2);
  }
  // SAFETY (whole function): every read at p + x is preceded by a check that x + width <= end,
  // and end <= the packet length, which the caller checked lies inside memory.
  if (off > end || end - off < 14) return malformed(rec, PR_L2);
  let etype = be16(p, off + 12);
  let cur = off + 14;
  let tags: u32 = 0;
  while ((etype == 0x8100 || etype == 0x88a8) && tags < 2) {
    if (end - cur < 4) return malformed(rec, PR_L2);
    if (tags == 0) store<u16>(rec, <u16>(be16(p, cur) & 0xfff), K_VLAN);
    etype = be16(p, cur + 2);
    cur += 4;
    tags++;
  }
  store<u16>(rec, <u16>etype, K_ETYPE);
  store<u8>(rec, <u8>tags, M_VLANS);
  store<u16>(rec, <u16>cur, M_L3);
  let l4: u32 = 0;
  let l4end: u32 = 0;
  let proto: u32 = 0;
  if (etype == 0x0800) {
    if (end - cur < 20) return malformed(rec, PR_IPV4);
    const vihl = u8at(p, cur);
    const ihl = (vihl & 15) << 2;
    if (vihl >> 4 != 4 || ihl < 20) return malformed(rec, PR_IPV4);
    const total = be16(p, cur + 2);
    if (total < ihl || total > end - cur) return malformed(rec, PR_IPV4_LEN);
    store<u8>(rec, 4, M_IPVER);
    store<u32>(rec, load<u32>(p + <usize>(cur + 12)), 0);
    store<u32>(rec, load<u32>(p + <usize>(cur + 16)), 16);
    proto = u8at(p, cur + 9);
    store<u8>(rec, <u8>proto, K_PROTO);
    if ((be16(p, cur + 6) & 0x1fff) != 0) {
      store<u8>(rec, <u8>(load<u8>(rec, K_FLAGS) | KEY_FLAG_FRAGMENT), K_FLAGS);
      return;
    }
    l4 = cur + ihl;
    l4end = cur + total;
  } else if (etype == 0x86dd) {
    if (end - cur < 40) return malformed(rec, PR_IPV6);
    if (u8at(p, cur) >> 4 != 6) return malformed(rec, PR_IPV6);
    const plen = be16(p, cur + 4);
    if (plen > end - cur - 40) return malformed(rec, PR_IPV6_LEN);
    store<u8>(rec, 6, M_IPVER);
    v128.store(rec, v128.load(p + <usize>(cur + 8)), 0);
    v128.store(rec, v128.load(p + <usize>(cur + 24)), 16);
    l4end = cur + 40 + plen;
    let nh = u8at(p, cur + 6);
    let at = cur + 40;
    let hops: u32 = 0;
    // RFC 8200 §4: walk the extension-header chain to the upper-layer header.
    while (true) {
      if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140) {
        if (l4end - at < 8) return malformed(rec, PR_IPV6_EXT);
        const next = u8at(p, at);
        const hlen = (u8at(p, at + 1) + 1) << 3;
        if (hlen > l4end - at) return malformed(rec, PR_IPV6_EXT);
        at += hlen;
        nh = next;
      } else if (nh == 51) {
        // AH (RFC 4302): length in 4-byte units, minus 2
        if (l4end - at < 8) return malformed(rec, PR_IPV6_EXT);
        const next = u8at(p, at);
        const hlen = (u8at(p, at + 1) + 2) << 2;
        if (hlen > l4end - at) return malformed(rec, PR_IPV6_EXT);
        at += hlen;
        nh = next;
      } else if (nh == 44) {
        // Fragment: 8 bytes
        if (l4end - at < 8) return malformed(rec, PR_IPV6_EXT);
        const next = u8at(p, at);
        const fragOff = be16(p, at + 2) >> 3;
        at += 8;
        nh = next;
        if (fragOff != 0) {
          store<u8>(rec, <u8>nh, K_PROTO);
          store<u8>(rec, <u8>(load<u8>(rec, K_FLAGS) | KEY_FLAG_FRAGMENT), K_FLAGS);
          return;
        }
      } else {
        break;
      }
      if (++hops > MAX_EXT_HEADERS) return malformed(rec, PR_IPV6_EXT);
    }
    proto = nh;
    store<u8>(rec, <u8>proto, K_PROTO);
    l4 = at;
  } else {
    store<u8>(rec, <u8>VERDICT_NOT_IP, M_VERDICT);
    return;
  }
  parseL4(p, l4, l4end, rec, proto, inner);
}

function parseL4(p: usize, l4: u32, end: u32, rec: usize, proto: u32, inner: bool): void {
  const room = end - l4;
  store<u16>(rec, <u16>l4, M_L4);
  if (proto == 6) {
    if (room < 20) return malformed(rec, PR_TCP);
    const doff = (u8at(p, l4 + 12) >> 4) << 2;
    if (doff < 20 || doff > room) return malformed(rec, PR_TCP);
    store<u16>(rec, <u16>be16(p, l4), K_SPORT);
    store<u16>(rec, <u16>be16(p, l4 + 2), K_DPORT);
    store<u8>(rec, load<u8>(p + <usize>(l4 + 13)), M_TCP_FLAGS);
    store<u16>(rec, <u16>(l4 + doff), M_PAYLOAD);
  } else if (proto == 17) {
    if (room < 8) return malformed(rec, PR_UDP);
    const ulen = be16(p, l4 + 4);
    if (ulen < 8 || ulen > room) return malformed(rec, PR_UDP);
    const dport = be16(p, l4 + 2);
    store<u16>(rec, <u16>be16(p, l4), K_SPORT);
    store<u16>(rec, <u16>dport, K_DPORT);
    store<u16>(rec, <u16>(l4 + 8), M_PAYLOAD);
    // RFC 7348 §5: VXLAN is UDP to port 4789 with the I flag set; the inner frame follows its
    // 8-byte header and ends where the UDP datagram ends.
    if (!inner && dport == VXLAN_PORT) {
      if (ulen < 16) return malformed(rec, PR_VXLAN);
      if ((u8at(p, l4 + 8) & 0x08) != 0) {
        const vni = (be16(p, l4 + 12) << 8) | u8at(p, l4 + 14);
        parseFrame(p, l4 + 16, l4 + ulen, rec, true, vni);
      }
    }
  } else if (proto == 132) {
    if (room < 12) return malformed(rec, PR_SCTP);
    store<u16>(rec, <u16>be16(p, l4), K_SPORT);
    store<u16>(rec, <u16>be16(p, l4 + 2), K_DPORT);
    store<u16>(rec, <u16>(l4 + 12), M_PAYLOAD);
  } else if (proto == 1 || proto == 58) {
    if (room < 4) return malformed(rec, PR_ICMP);
    const type = u8at(p, l4);
    store<u16>(rec, <u16>((type << 8) | u8at(p, l4 + 1)), K_SPORT);
    const echo = proto == 1 ? type == 8 || type == 0 : type == 128 || type == 129;
    if (echo) {
      if (room < 8) return malformed(rec, PR_ICMP);
      store<u16>(rec, <u16>be16(p, l4 + 4), K_DPORT);
    }
    store<u16>(rec, <u16>(l4 + (echo ? 8 : 4)), M_PAYLOAD);
  } else {
    store<u16>(rec, <u16>l4, M_PAYLOAD);
  }
}

/**
 * Parses `count` packets described at `descs` (u32 address, u32 length each) into 64-byte
 * records at `out`. A packet outside memory gets MALFORMED (PR_RANGE). Returns count.
 */
export function flow_parse(descs: usize, count: i32, out: usize): i32 {
  if (count < 0 || !rangeOk(descs, <u64>count * PARSE_DESC_BYTES) || !rangeOk(out, <u64>count * PARSE_REC_BYTES))
    return PARSE_E_RANGE;
  for (let i: usize = 0; i < <usize>count; i++) {
    // SAFETY: i < count; both arrays were range-checked above. The descriptor is read once.
    const p = <usize>load<u32>(descs + i * PARSE_DESC_BYTES, PARSE_DESC_ADDR);
    const len = load<u32>(descs + i * PARSE_DESC_BYTES, PARSE_DESC_LEN);
    const rec = out + i * PARSE_REC_BYTES;
    if (len > 0xffff || !rangeOk(p, <u64>len)) {
      malformed(rec, PR_RANGE);
      continue;
    }
    parseFrame(p, 0, len, rec, false, 0);
  }
  return count;
}
