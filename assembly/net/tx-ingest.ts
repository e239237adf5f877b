// Where packets enter the switch: a VNIC's TX queue (each request checked against the
// virtio-net header rules, H1-H5a), a tunnel's RX ring (a VXLAN datagram from the socket worker)
// and a re-injection from the slow path. Each fills the scratch's packet records for one
// sub-burst; the pipeline (vswitch.ts) does the rest.

import {
  CH_READ_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_USED_LEN,
  CH_WRITE_SEGS,
  SEG_BYTES,
  chainAt,
  segsBase,
} from '../virtio/burst';
import { vqPop } from '../virtio/vq';
import { ETH_HDR_BYTES, NET_HDR_BYTES, NET_HDR_FLAGS, NET_HDR_GSO_TYPE, txHeaderCheck } from './net-hdr';
import {
  NET_BAD_H1,
  NET_BAD_H2,
  NET_BAD_H3,
  NET_BAD_RING,
  NET_QS_TX_BYTES,
  NET_QS_TX_CSUM,
  NET_QS_TX_ERRORS,
  NET_QS_TX_PACKETS,
  NET_QS_TX_TSO,
  bumpAt,
  countBad,
  pairStats,
  txVq,
} from './net-state';
import { needsReset } from './rx-deliver';
import {
  NET_SC_GATHER_BYTES,
  PKF_DROP,
  PKF_NET_HDR,
  PKF_TUNNEL,
  PK_DEV_PORT,
  PK_FLAGS,
  PK_HDR,
  PK_IN_PORT,
  PK_LEN,
  PK_PAIR,
  PK_REMOTE_IP,
  PK_REMOTE_PORT,
  PK_SRC,
  offGather,
  offTxBurst,
  pktAt,
} from './scratch';
import { NET_PS_ERRORS, NET_SW_STAT_BAD_REQUESTS, NET_SW_STAT_TUNNEL_IN } from './switch-state';
import { portStat, swStat } from './switch-stats';
import {
  NET_TIO_ADDR,
  NET_TIO_LEN,
  NET_TIO_PAYLOAD,
  NET_TIO_PAYLOAD_CAP,
  NET_TIO_PORT,
  NET_TIO_RX_BAD,
  NET_TIO_RX_PACKETS,
  NET_VXLAN_FLAG_I,
  NET_VXLAN_HDR_BYTES,
} from './tunnel-io';
import { ringAvailable, ringPeek } from './io-ring';

/** Starts a packet record with no flags, nothing known yet. */
@inline function pktBegin(pkt: usize, port: u32, pair: u32): void {
  const z = i32x4.splat(0);
  v128.store(pkt, z, 0);
  v128.store(pkt, z, 16);
  v128.store(pkt, z, 32);
  v128.store(pkt, z, 48);
  store<u16>(pkt, <u16>port, PK_IN_PORT);
  store<u16>(pkt, <u16>port, PK_DEV_PORT);
  store<u16>(pkt, <u16>pair, PK_PAIR);
}

/** A request refused: counted under its bad-input id on the device, the pair and the switch. */
function refuse(sw: usize, dev: usize, port: u32, pair: u32, pkt: usize, bad: u32): void {
  store<u16>(pkt, <u16>PKF_DROP, PK_FLAGS);
  countBad(dev, bad);
  bumpAt(pairStats(dev, pair), NET_QS_TX_ERRORS, 1);
  swStat(sw, NET_SW_STAT_BAD_REQUESTS, 1);
  portStat(sw, port, NET_PS_ERRORS, 1);
}

/** Copies `len` readable bytes of the chain from byte `from` to `dst`. */
function gather(segs: usize, nr: u32, from: u32, dst: usize, len: u32): void {
  let i: u32 = 0;
  while (len != 0 && i < nr) {
    const s = segs + <usize>i * SEG_BYTES;
    const sl = load<u32>(s, 4);
    if (from >= sl) {
      from -= sl;
      i++;
      continue;
    }
    const take = min<u32>(sl - from, len);
    // SAFETY: [addr + from, addr + from + take) lies inside a segment the pop checked.
    memory.copy(dst, <usize>load<u32>(s) + <usize>from, take);
    dst += take;
    len -= take;
    from = 0;
    i++;
  }
}

/**
 * Pops up to `max` TX requests of queue pair `pair` of device `dev` (port `port`) into packet
 * records 0..n-1. Refused requests are marked PKF_DROP. Returns n, or -1 when the queue broke.
 */
export function ingestTx(sw: usize, sc: usize, mb: u32, dev: usize, port: u32, pair: u32, max: u32): i32 {
  const vq = txVq(dev, pair);
  if (vq == 0) return 0;
  const burst = sc + <usize>offTxBurst(mb);
  const n = vqPop(vq, burst, max);
  if (n < 0) {
    needsReset(dev);
    return -1;
  }
  const segs = segsBase(burst);
  const gatherBase = sc + <usize>offGather(mb);
  const st = pairStats(dev, pair);
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = chainAt(burst, i);
    store<u32>(rec, 0, CH_USED_LEN); // TX: the device writes nothing (used.len 0)
    const pkt = pktAt(sc, i);
    pktBegin(pkt, port, pair);
    if (load<u16>(rec, CH_STATUS) != 0) {
      refuse(sw, dev, port, pair, pkt, NET_BAD_RING);
      continue;
    }
    if (load<u16>(rec, CH_WRITE_SEGS) != 0) {
      refuse(sw, dev, port, pair, pkt, NET_BAD_H3); // H3: a TX chain with writable descriptors
      continue;
    }
    const total = load<u32>(rec, CH_READ_BYTES);
    if (total <= NET_HDR_BYTES) {
      refuse(sw, dev, port, pair, pkt, NET_BAD_H1); // H1: nothing after the header
      continue;
    }
    const frameLen = total - NET_HDR_BYTES;
    if (frameLen > NET_SC_GATHER_BYTES - 1) {
      refuse(sw, dev, port, pair, pkt, NET_BAD_H2); // H2: above any frame the device takes
      continue;
    }
    const cs = segs + <usize>load<u32>(rec, CH_SEG_START) * SEG_BYTES;
    const nr = <u32>load<u16>(rec, CH_READ_SEGS);
    // The header is read once into the packet record (the guest may rewrite its buffer).
    const s0len = load<u32>(cs, 4);
    let src: usize = 0;
    if (s0len >= total) {
      // SAFETY: the first segment holds header and frame: [addr, addr + total) was checked.
      const a = <usize>load<u32>(cs);
      store<u64>(pkt + PK_HDR, load<u64>(a));
      store<u32>(pkt + PK_HDR, load<u32>(a, 8), 8);
      src = a + NET_HDR_BYTES;
    } else {
      gather(cs, nr, 0, pkt + PK_HDR, NET_HDR_BYTES);
      if (s0len == NET_HDR_BYTES && nr >= 2 && load<u32>(cs + SEG_BYTES, 4) == frameLen) {
        src = <usize>load<u32>(cs + SEG_BYTES);
      } else {
        // The frame arrived in pieces: one copy into this packet's gather slot.
        src = gatherBase + <usize>i * NET_SC_GATHER_BYTES;
        gather(cs, nr, NET_HDR_BYTES, src, frameLen);
      }
    }
    store<u32>(pkt, <u32>src, PK_SRC);
    store<u32>(pkt, frameLen, PK_LEN);
    let tagged = false;
    if (frameLen >= ETH_HDR_BYTES) {
      // SAFETY: 14 <= frameLen: bytes 12..13 are inside the frame.
      const t = <u32>bswap<u16>(load<u16>(src + 12));
      tagged = t == 0x8100 || t == 0x88a8;
    }
    const bad = txHeaderCheck(dev, pkt + PK_HDR, frameLen, tagged);
    if (bad != 0) {
      refuse(sw, dev, port, pair, pkt, bad - 1);
      continue;
    }
    const hf = <u32>load<u8>(pkt + PK_HDR, NET_HDR_FLAGS);
    const gso = <u32>load<u8>(pkt + PK_HDR, NET_HDR_GSO_TYPE);
    if (hf != 0 || gso != 0) {
      store<u16>(pkt, <u16>PKF_NET_HDR, PK_FLAGS);
      if (gso != 0) bumpAt(st, NET_QS_TX_TSO, 1);
      else bumpAt(st, NET_QS_TX_CSUM, 1);
    }
    bumpAt(st, NET_QS_TX_PACKETS, 1);
    bumpAt(st, NET_QS_TX_BYTES, frameLen);
  }
  return n;
}

/**
 * Takes up to `max` datagrams from a tunnel's RX ring into packet records: the VXLAN header is
 * checked (I flag, RFC 7348 §5) and stripped, the inner frame stays in the ring record until the
 * sub-burst ends (the caller releases the records). Returns n; vnis[i] (u32 at `vnis`) gets each VNI.
 */
export function ingestTunnel(sw: usize, sc: usize, tio: usize, ring: usize, port: u32, max: u32, vnis: usize): u32 {
  const avail = ringAvailable(ring);
  const n = min<u32>(avail, max);
  for (let i: u32 = 0; i < n; i++) {
    const r = ringPeek(ring, i);
    const pkt = pktAt(sc, i);
    pktBegin(pkt, port, 0);
    store<u16>(pkt, <u16>PKF_TUNNEL, PK_FLAGS);
    // SAFETY: the record lies inside the ring region (ringOk checked it); len is bounded below.
    const len = <u32>load<u16>(r, NET_TIO_LEN);
    const v = r + NET_TIO_PAYLOAD;
    if (
      len > NET_TIO_PAYLOAD_CAP ||
      len < NET_VXLAN_HDR_BYTES + ETH_HDR_BYTES ||
      ((<u32>load<u8>(v)) & NET_VXLAN_FLAG_I) == 0
    ) {
      store<u16>(pkt, <u16>(PKF_DROP | PKF_TUNNEL), PK_FLAGS);
      store<u64>(tio + NET_TIO_RX_BAD, load<u64>(tio + NET_TIO_RX_BAD) + 1);
      portStat(sw, port, NET_PS_ERRORS, 1);
      store<u32>(vnis + ((<usize>i) << 2), 0);
      continue;
    }
    store<u32>(vnis + ((<usize>i) << 2), bswap<u32>(load<u32>(v, 4)) >> 8);
    store<u32>(pkt, <u32>(v + NET_VXLAN_HDR_BYTES), PK_SRC);
    store<u32>(pkt, len - NET_VXLAN_HDR_BYTES, PK_LEN);
    store<u32>(pkt, load<u32>(r, NET_TIO_ADDR), PK_REMOTE_IP);
    store<u16>(pkt, load<u16>(r, NET_TIO_PORT), PK_REMOTE_PORT);
    store<u64>(tio + NET_TIO_RX_PACKETS, load<u64>(tio + NET_TIO_RX_PACKETS) + 1);
    swStat(sw, NET_SW_STAT_TUNNEL_IN, 1);
  }
  return n;
}
