// OUTPUT: one copy of the packet, as the actions so far have edited it, to one port — a VNIC's
// receive queue (rx-deliver.ts), a trunk sub-port (its tag pushed, then the parent VNIC), or a
// tunnel's socket worker (tunnel-io.ts). Checksums the sender left to the device are completed
// here unless the receiver takes them partial (GUEST_CSUM); TSO frames are cut into MSS-sized
// segments here, since no receiver is offered GUEST_TSO.

import { M_L3, M_L4 } from '../flow/parser';
import { loadBe16, storeBe16, sumBytes, csumOf, ipv4HeaderChecksum } from './csum';
import {
  NET_ACT_VXLAN_DST_IP,
  NET_ACT_VXLAN_DST_MAC,
  NET_ACT_VXLAN_SRC_IP,
  NET_ACT_VXLAN_SRC_MAC,
  NET_ACT_VXLAN_VNI,
  NET_ACT_ARG,
} from './actions';
import { PK_FLAGS, PK_HASH, PK_HDR, PK_LEN, PK_SRC, PKF_NET_HDR } from './scratch';
import {
  WS_BASE,
  WS_COVERED,
  WS_EDITED,
  WS_ENCAP,
  WS_HEAD,
  WS_HEAD_LEN,
  WS_L3,
  WS_OUTER_END,
  WS_PIECES,
  WS_RXHDR,
  WS_SEG,
  headCover,
  headDelta,
  headPopVlan,
  headPushVlan,
} from './head-edit';
import {
  NET_HDR_CSUM_OFFSET,
  NET_HDR_CSUM_START,
  NET_HDR_FLAGS,
  NET_HDR_F_NEEDS_CSUM,
  NET_HDR_GSO_SIZE,
  NET_HDR_GSO_TYPE,
  NET_GSO_ECN,
  NET_GSO_NONE,
  NET_GSO_TCPV4,
} from './net-hdr';
import { NET_F_GUEST_CSUM, NETD_CUR_PAIRS, hasFeature } from './net-state';
import {
  NET_PE_FLAGS,
  NET_PE_KIND,
  NET_PE_MIRROR,
  NET_PE_MTU,
  NET_PE_PARENT,
  NET_PE_TARGET,
  NET_PE_VLAN,
  NET_PF_MIRROR,
  NET_PF_UP,
  NET_PORT_TRUNK_SUB,
  NET_PORT_TUNNEL,
  NET_PORT_VNIC,
  NET_PT_ENTRIES,
  NET_PT_ENTRY_BYTES,
} from './port-table';
import { Pieces, RX_OK, deliver, piecesLen } from './rx-deliver';
import { mirrorFrame } from './mirror-write';
import { tunnelSend } from './tunnel-send';
import { NET_MIR_OUT } from './mirror';
import {
  NET_PS_OUT_BYTES,
  NET_PS_OUT_DROPS,
  NET_PS_OUT_PACKETS,
  NET_SW_STAT_CSUM_FILLED,
  NET_SW_STAT_OUTPUTS,
  NET_SW_STAT_OUTPUT_DROPS,
  NET_SW_STAT_TSO_SEGMENTS,
  NET_SW_STAT_TUNNEL_OUT,
} from './switch-state';
import { portStat, swStat } from './switch-stats';

export const WS_CSUM_DONE: u32 = 12;
const VXLAN_OUTER_BYTES: u32 = 50;

/** Everything an output needs about the packet being processed (no allocation: all in scratch). */
@unmanaged
export class OutCtx {
  sw: usize = 0;
  sc: usize = 0;
  mb: u32 = 0;
  ws: usize = 0;
  pkt: usize = 0;
  rec: usize = 0;
  pt: usize = 0;
  maxPorts: u32 = 0;
  now: u32 = 0;
  hint: u32 = 0;
}

@inline function entryOf(c: OutCtx, port: u32): usize {
  return c.pt + NET_PT_ENTRIES + <usize>port * NET_PT_ENTRY_BYTES;
}

/** Outputs the packet to `port`. Returns true when a copy was delivered. */
export function outputTo(c: OutCtx, port: u32): bool {
  if (port >= c.maxPorts) return dropOut(c, 0xffff);
  const e = entryOf(c, port);
  const kind = <u32>atomic.load<u8>(e, NET_PE_KIND);
  const flags = <u32>load<u8>(e, NET_PE_FLAGS);
  if ((flags & NET_PF_UP) == 0) return dropOut(c, port);
  if (kind == NET_PORT_VNIC) return sendFrames(c, port, e, 0, 0);
  if (kind == NET_PORT_TUNNEL) return sendFrames(c, port, e, 0, 0);
  if (kind == NET_PORT_TRUNK_SUB) {
    const parent = <u32>load<u16>(e, NET_PE_PARENT);
    if (parent >= c.maxPorts) return dropOut(c, port);
    const pe = entryOf(c, parent);
    if (<u32>atomic.load<u8>(pe, NET_PE_KIND) != NET_PORT_VNIC || ((<u32>load<u8>(pe, NET_PE_FLAGS)) & NET_PF_UP) == 0)
      return dropOut(c, port);
    return sendFrames(c, port, pe, 1, <u32>load<u16>(e, NET_PE_VLAN));
  }
  return dropOut(c, port);
}

function dropOut(c: OutCtx, port: u32): bool {
  swStat(c.sw, NET_SW_STAT_OUTPUT_DROPS, 1);
  if (port < c.maxPorts) portStat(c.sw, port, NET_PS_OUT_DROPS, 1);
  return false;
}

/** Sends the packet (cut into segments when it is a TSO frame) through port entry `e`. */
function sendFrames(c: OutCtx, port: u32, e: usize, pushTag: u32, vlan: u32): bool {
  const ws = c.ws;
  const pkt = c.pkt;
  const src = <usize>load<u32>(pkt, PK_SRC);
  const len = load<u32>(pkt, PK_LEN);
  const l3 = <u32>load<u16>(c.rec, M_L3);
  const gso =
    (load<u16>(pkt, PK_FLAGS) & PKF_NET_HDR) != 0
      ? (<u32>load<u8>(pkt + PK_HDR, NET_HDR_GSO_TYPE)) & ~NET_GSO_ECN
      : NET_GSO_NONE;
  if (pushTag != 0) {
    if (!headCover(ws, src, len, l3, l3 - load<u32>(ws, WS_BASE)) || !headPushVlan(ws, 0x8100, vlan))
      return dropOut(c, port);
  }
  let ok: bool;
  if (gso != NET_GSO_NONE) ok = sendSegments(c, port, e, src, len, l3, gso);
  else ok = sendOne(c, port, e, src, len, l3);
  if (pushTag != 0) headPopVlan(ws);
  return ok;
}

/** One frame: complete or pass on its checksum, then hand it to the port. */
function sendOne(c: OutCtx, port: u32, e: usize, src: usize, len: u32, l3: u32): bool {
  const ws = c.ws;
  const hdr = c.pkt + PK_HDR;
  const kind = <u32>load<u8>(e, NET_PE_KIND);
  const base = load<u32>(ws, WS_BASE);
  let partial = false;
  if (
    (load<u16>(c.pkt, PK_FLAGS) & PKF_NET_HDR) != 0 &&
    ((<u32>load<u8>(hdr, NET_HDR_FLAGS)) & NET_HDR_F_NEEDS_CSUM) != 0
  ) {
    const start = <u32>load<u16>(hdr, NET_HDR_CSUM_START);
    const at = start + <u32>load<u16>(hdr, NET_HDR_CSUM_OFFSET);
    const dev = <usize>load<u32>(e, NET_PE_TARGET);
    const passOn =
      kind == NET_PORT_VNIC &&
      load<u32>(ws, WS_ENCAP) == 0 &&
      load<u32>(ws, WS_CSUM_DONE) == 0 &&
      at >= base &&
      hasFeature(dev, NET_F_GUEST_CSUM);
    if (passOn) partial = true;
    else if (load<u32>(ws, WS_CSUM_DONE) == 0 && at >= base) {
      // Complete it in the head: the field must be copied out of the sender's buffer first.
      if (!headCover(ws, src, len, l3, at + 2 - base)) return dropOut(c, port);
      // SAFETY: start < at + 2 <= len (H5 was checked at ingest).
      const v = csumOf(sumBytes(src + <usize>start, len - start, 0));
      storeBe16(ws + WS_HEAD + <usize>(<i32>(at - base) + headDelta(ws)), v);
      store<u32>(ws, 1, WS_CSUM_DONE);
      swStat(c.sw, NET_SW_STAT_CSUM_FILLED, 1);
    }
  }
  const p = changetype<Pieces>(ws + WS_PIECES);
  framePieces(c, p, src, len);
  return handOff(c, port, e, p, partial);
}

/** The frame as pieces: [outer headers], [edited head], rest of the frame from the sender. */
function framePieces(c: OutCtx, p: Pieces, src: usize, len: u32): void {
  const ws = c.ws;
  const base = load<u32>(ws, WS_BASE);
  p.a0 = 0;
  p.l0 = 0;
  if (load<u32>(ws, WS_EDITED) != 0) {
    p.a1 = ws + WS_HEAD;
    p.l1 = load<u32>(ws, WS_HEAD_LEN);
    const covered = load<u32>(ws, WS_COVERED);
    p.a2 = src + <usize>(base + covered);
    p.l2 = len - base - covered;
  } else {
    p.a1 = 0;
    p.l1 = 0;
    p.a2 = src + <usize>base;
    p.l2 = len - base;
  }
}

/**
 * Hands a frame to the port: encapsulated when an ENCAP_VXLAN is in force (outer headers for a
 * VNIC, the VXLAN header alone for a tunnel, whose socket makes the rest).
 */
function handOff(c: OutCtx, port: u32, e: usize, p: Pieces, partial: bool): bool {
  const ws = c.ws;
  const kind = <u32>load<u8>(e, NET_PE_KIND);
  const encap = <usize>load<u32>(ws, WS_ENCAP);
  const inner = piecesLen(p);
  // The port's MTU bounds what it is given after the Ethernet header (and a tag, if any).
  const mtu = <u32>load<u16>(e, NET_PE_MTU);
  if (mtu != 0 && inner > mtu + 18 + (encap != 0 && kind != NET_PORT_TUNNEL ? 50 : 0)) return dropOut(c, port);
  if (kind == NET_PORT_TUNNEL) {
    if (encap == 0) return dropOut(c, port);
    const tio = <usize>load<u32>(e, NET_PE_TARGET);
    if (!tunnelSend(c.sc, tio, encap, p)) return dropOut(c, port);
    swStat(c.sw, NET_SW_STAT_TUNNEL_OUT, 1);
  } else {
    if (encap != 0) {
      if (p.l0 != 0) return dropOut(c, port);
      buildOuter(ws + WS_OUTER_END - VXLAN_OUTER_BYTES, encap, inner, load<u32>(c.pkt, PK_HASH));
      p.a0 = ws + WS_OUTER_END - VXLAN_OUTER_BYTES;
      p.l0 = VXLAN_OUTER_BYTES;
    }
    const dev = <usize>load<u32>(e, NET_PE_TARGET);
    const h = ws + WS_RXHDR;
    store<u64>(h, 0);
    store<u32>(h, 0, 8);
    if (partial) {
      const sh = c.pkt + PK_HDR;
      const shift = <i32>headDelta(ws) - <i32>load<u32>(ws, WS_BASE);
      store<u8>(h, <u8>NET_HDR_F_NEEDS_CSUM, NET_HDR_FLAGS);
      store<u16>(h, <u16>(<i32>load<u16>(sh, NET_HDR_CSUM_START) + shift), NET_HDR_CSUM_START);
      store<u16>(h, load<u16>(sh, NET_HDR_CSUM_OFFSET), NET_HDR_CSUM_OFFSET);
    }
    let pairs = <u32>load<u16>(dev, NETD_CUR_PAIRS);
    if (pairs == 0) pairs = 1;
    const pair = pairs == 1 ? 0 : load<u32>(c.pkt, PK_HASH) % pairs;
    if (deliver(c.sc, c.mb, dev, port, pair, p, h, c.hint) != RX_OK) return dropOut(c, port);
  }
  const total = piecesLen(p);
  portStat(c.sw, port, NET_PS_OUT_PACKETS, 1);
  portStat(c.sw, port, NET_PS_OUT_BYTES, total);
  swStat(c.sw, NET_SW_STAT_OUTPUTS, 1);
  const e0 = c.pt + NET_PT_ENTRIES + <usize>port * NET_PT_ENTRY_BYTES;
  if (((<u32>load<u8>(e0, NET_PE_FLAGS)) & NET_PF_MIRROR) != 0)
    mirrorFrame(c.sc, c.sw, <usize>load<u32>(e0, NET_PE_MIRROR), port, NET_MIR_OUT, p, c.now);
  return true;
}

/** Outer Ethernet + IPv4 + UDP + VXLAN headers (RFC 7348 §5) for an inner frame of `inner` bytes. */
function buildOuter(o: usize, act: usize, inner: u32, hash: u32): void {
  memory.copy(o, act + NET_ACT_VXLAN_DST_MAC, 6);
  memory.copy(o + 6, act + NET_ACT_VXLAN_SRC_MAC, 6);
  storeBe16(o + 12, 0x0800);
  const ip = o + 14;
  store<u8>(ip, 0x45);
  store<u8>(ip, 0, 1);
  storeBe16(ip + 2, 20 + 8 + 8 + inner);
  storeBe16(ip + 4, hash & 0xffff);
  storeBe16(ip + 6, 0x4000); // DF
  store<u8>(ip, 64, 8);
  store<u8>(ip, 17, 9);
  store<u32>(ip, load<u32>(act, NET_ACT_VXLAN_SRC_IP), 12);
  store<u32>(ip, load<u32>(act, NET_ACT_VXLAN_DST_IP), 16);
  ipv4HeaderChecksum(ip, 20);
  const udp = ip + 20;
  storeBe16(udp, 49152 | (hash & 0x3fff)); // RFC 7348 §5: source port from the inner flow's hash
  storeBe16(udp + 2, <u32>load<u16>(act, NET_ACT_ARG));
  storeBe16(udp + 4, 8 + 8 + inner);
  store<u16>(udp, 0, 6); // checksum 0 (RFC 7348 §5: SHOULD be 0 over IPv4)
  vxlanHeader(udp + 8, load<u32>(act, NET_ACT_VXLAN_VNI));
}

/** The 8-byte VXLAN header: I flag, 24-bit VNI. */
@inline export function vxlanHeader(v: usize, vni: u32): void {
  store<u32>(v, 0x08);
  store<u32>(v, bswap<u32>((vni & 0xffffff) << 8), 4);
}

/** TSO (§5.1.6.2, HOST_TSO4/6): MSS-sized TCP segments, headers rebuilt, checksums computed. */
function sendSegments(c: OutCtx, port: u32, e: usize, src: usize, len: u32, l3: u32, gso: u32): bool {
  const ws = c.ws;
  const hdr = c.pkt + PK_HDR;
  const l4 = <u32>load<u16>(c.rec, M_L4);
  const base = load<u32>(ws, WS_BASE);
  // SAFETY: ingest checked that the frame holds a full TCP header at l4 (H5a otherwise).
  const doff = ((<u32>load<u8>(src + <usize>l4 + 12)) >> 4) << 2;
  const hdrEnd = l4 + doff;
  const mss = <u32>load<u16>(hdr, NET_HDR_GSO_SIZE);
  if (!headCover(ws, src, len, l3, hdrEnd - base)) return dropOut(c, port);
  const headLen = load<u32>(ws, WS_HEAD_LEN);
  const ip = load<u32>(ws, WS_L3);
  const tcp = ip + (l4 - l3);
  const v4 = gso == NET_GSO_TCPV4;
  const seg = ws + WS_SEG;
  const h = ws + WS_HEAD;
  const seq0 = bswap<u32>(load<u32>(h + <usize>tcp, 4));
  const id0 = loadBe16(h + <usize>ip + 4);
  const flags0 = <u32>load<u8>(h + <usize>tcp + 13);
  const payload = len - hdrEnd;
  const p = changetype<Pieces>(ws + WS_PIECES);
  let delivered = false;
  // Bounded: ingest refused frames of more than NET_TSO_MAX_SEGS segments (H5a).
  for (let off: u32 = 0; off < payload; off += mss) {
    const n = min<u32>(mss, payload - off);
    memory.copy(seg, h, headLen);
    const s = seg + <usize>tcp;
    store<u32>(s, bswap<u32>(seq0 + off), 4);
    let f = flags0;
    if (off + n < payload) f &= ~0x09; // FIN and PSH only on the last segment
    if (off != 0) f &= ~0x80; // CWR only on the first
    store<u8>(s, <u8>f, 13);
    store<u16>(s, 0, 16);
    const tcpLen = doff + n;
    let acc: u64;
    if (v4) {
      const ipp = seg + <usize>ip;
      storeBe16(ipp + 2, tcp - ip + tcpLen);
      storeBe16(ipp + 4, (id0 + off / mss) & 0xffff);
      ipv4HeaderChecksum(ipp, tcp - ip);
      acc = sumBytes(ipp + 12, 8, 0) + <u64>bswap<u16>(<u16>6) + <u64>bswap<u16>(<u16>tcpLen);
    } else {
      const ipp = seg + <usize>ip;
      storeBe16(ipp + 4, tcp - ip - 40 + tcpLen);
      acc = sumBytes(ipp + 8, 32, 0) + <u64>bswap<u16>(<u16>6) + <u64>bswap<u16>(<u16>tcpLen);
    }
    acc = sumBytes(s, doff, acc);
    // SAFETY: hdrEnd + off + n <= len: inside the frame.
    acc = sumBytes(src + <usize>(hdrEnd + off), n, acc);
    storeBe16(s + 16, csumOf(acc));
    p.a0 = 0;
    p.l0 = 0;
    p.a1 = seg;
    p.l1 = headLen;
    p.a2 = src + <usize>(hdrEnd + off);
    p.l2 = n;
    if (handOff(c, port, e, p, false)) delivered = true;
    swStat(c.sw, NET_SW_STAT_TSO_SEGMENTS, 1);
  }
  return delivered;
}

export const NET_TSO_MAX_SEGS: u32 = 64;
