// A small guest network stack over the virtio-net driver: frames in and out through two
// virtqueues (receive buffers posted by token, so the buffer of a completion is known from its
// token), ARP (RFC 826) with a cache, IPv4 (RFC 791), ICMP echo (RFC 792) and UDP (RFC 768): an
// echo server and the receiving end of the traffic generator (net-traffic.ts).

import { drvAdd, drvFree, drvKick, drvNextToken, drvReap } from './driver';
import {
  GNC_ARP_REPLIES,
  GNC_ARP_REQUESTS,
  GNC_ECHO_REPLIES,
  GNC_ECHO_REQUESTS,
  GNC_NO_ARP,
  GNC_RX_BAD,
  GNC_RX_FRAMES,
  GNC_RX_IGNORED,
  GNC_TX_FRAMES,
  GNC_TX_FULL,
  GNC_UDP_ECHOED,
  GNET_REAP,
  GNF_CSUM_OFFLOAD,
  GN_ARP,
  GN_ARP_ENTRIES,
  GN_BUF_BYTES,
  GN_ECHO_PORT,
  GN_FLAGS,
  GN_GATEWAY,
  GN_IP,
  GN_NETMASK,
  GN_MAC,
  GN_MAGIC,
  GN_PING_IDENT,
  GN_PING_LAST,
  GN_PING_REPLIES,
  GN_QSIZE,
  GN_RAM,
  GN_REAP,
  GN_RX_BUF,
  GN_RX_DRV,
  GN_SINK_PORT,
  GN_STATE_BYTES,
  GN_TX_BUF,
  GN_TX_DRV,
  GN_VLAN,
  gnBump,
} from './net-state';
import { sinkTake } from './net-traffic';

export const NET_HDR: u32 = 12;

@inline export function be16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}
@inline export function putBe16(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v));
}

/** RFC 1071 sum of `len` bytes at p, folded, as a big-endian 16-bit value (not complemented). */
export function sum16(p: usize, len: u32, acc: u32): u32 {
  let i: u32 = 0;
  for (; i + 1 < len; i += 2) acc += be16(p + <usize>i);
  if (i < len) acc += (<u32>load<u8>(p + <usize>i)) << 8;
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >> 16);
  return acc;
}

/** Host address of the buffer `i` (receive or transmit) of `bytes` at GPA `base`. */
@inline function bufAt(st: usize, base: u64, i: u32): usize {
  return <usize>load<u32>(st, GN_RAM) + <usize>(base + <u64>i * <u64>load<u32>(st, GN_BUF_BYTES));
}

/** Sets the stack up over two bound drivers; posts every receive buffer. Returns 0 or -1. */
export function netInit(
  st: usize,
  rxDrv: usize,
  txDrv: usize,
  ramBase: usize,
  rxBufGpa: u64,
  txBufGpa: u64,
  bufBytes: u32,
  qsize: u32,
  macLo: u32,
  macHi: u32,
  ip: u32,
  flags: u32,
): i32 {
  if (bufBytes < 64 || qsize == 0) return -1;
  memory.fill(st, 0, GN_STATE_BYTES);
  store<u32>(st, <u32>rxDrv, GN_RX_DRV);
  store<u32>(st, <u32>txDrv, GN_TX_DRV);
  store<u32>(st, <u32>ramBase, GN_RAM);
  store<u64>(st, rxBufGpa, GN_RX_BUF);
  store<u64>(st, txBufGpa, GN_TX_BUF);
  store<u32>(st, bufBytes, GN_BUF_BYTES);
  store<u32>(st, qsize, GN_QSIZE);
  store<u32>(st, macLo, GN_MAC);
  store<u16>(st, <u16>macHi, GN_MAC + 4);
  store<u16>(st, <u16>flags, GN_FLAGS);
  store<u32>(st, ip, GN_IP);
  store<u32>(st, <u32>(st + GN_STATE_BYTES), GN_REAP);
  // Every receive buffer, each under the token it will come back with.
  for (let i: u32 = 0; i < qsize; i++) {
    const t = drvNextToken(rxDrv);
    if (drvAdd(rxDrv, rxBufGpa + <u64>t * <u64>bufBytes, 0, rxBufGpa + <u64>t * <u64>bufBytes, bufBytes) < 0) break;
  }
  drvKick(rxDrv);
  // Last: another vCPU may start running the stack (a trunk's split) as soon as it sees the magic.
  atomic.store<u32>(st, GN_MAGIC);
  return 0;
}

/** Bytes after GN_STATE_BYTES the stack needs (its reap scratch). */
export const NET_STACK_EXTRA: u32 = GNET_REAP * 8;

/**
 * A transmit slot: the host address where a frame goes (after the 12-byte header, zeroed), or 0
 * when the ring is full even after reaping completions. `send(len)` then posts it.
 */
export function txSlot(st: usize): usize {
  const tx = <usize>load<u32>(st, GN_TX_DRV);
  if (drvFree(tx) == 0) {
    drvReap(tx, <usize>load<u32>(st, GN_REAP), GNET_REAP);
    if (drvFree(tx) == 0) {
      gnBump(st, GNC_TX_FULL);
      return 0;
    }
  }
  const b = bufAt(st, load<u64>(st, GN_TX_BUF), drvNextToken(tx));
  memory.fill(b, 0, NET_HDR);
  return b + NET_HDR;
}

/**
 * Posts the frame written at txSlot() (`len` bytes). A stack on a VLAN (a container's, over its
 * host's trunk) tags it here: the 802.1Q tag goes in after the MACs, and a checksum left to the
 * device starts 4 bytes later.
 */
export function txSend(st: usize, len: u32): void {
  const tx = <usize>load<u32>(st, GN_TX_DRV);
  const t = drvNextToken(tx);
  const bytes = load<u32>(st, GN_BUF_BYTES);
  const gpa = load<u64>(st, GN_TX_BUF) + <u64>t * <u64>bytes;
  const vlan = <u32>load<u16>(st, GN_VLAN);
  if (vlan != 0) {
    if (NET_HDR + len + 4 > bytes) return gnBump(st, GNC_TX_FULL);
    const h = bufAt(st, load<u64>(st, GN_TX_BUF), t);
    const f = h + NET_HDR;
    memory.copy(f + 16, f + 12, len - 12);
    putBe16(f + 12, 0x8100);
    putBe16(f + 14, vlan);
    if ((load<u8>(h) & 1) != 0) store<u16>(h, load<u16>(h, 6) + 4, 6);
    len += 4;
  }
  drvAdd(tx, gpa, NET_HDR + len, 0, 0);
  gnBump(st, GNC_TX_FRAMES);
}

/**
 * A stack that shares another's NIC (`parent`: its drivers, buffers and reap scratch) with an
 * address and MAC of its own, every frame it sends tagged `vlan` (1-4094): a container's stack
 * over its host's trunk. Receives only what the trunk's split hands it (net-trunk.ts).
 */
export function netInitShared(st: usize, parent: usize, macLo: u32, macHi: u32, ip: u32, vlan: u32): i32 {
  if (load<u32>(parent) != GN_MAGIC || vlan == 0 || vlan > 4094) return -1;
  memory.fill(st, 0, GN_STATE_BYTES);
  memory.copy(st + GN_RX_DRV, parent + GN_RX_DRV, GN_MAC - GN_RX_DRV);
  store<u16>(st, load<u16>(parent, GN_FLAGS), GN_FLAGS);
  store<u32>(st, load<u32>(parent, GN_REAP), GN_REAP);
  store<u32>(st, macLo, GN_MAC);
  store<u16>(st, <u16>macHi, GN_MAC + 4);
  store<u32>(st, ip, GN_IP);
  store<u16>(st, <u16>vlan, GN_VLAN);
  atomic.store<u32>(st, GN_MAGIC);
  return 0;
}

/**
 * Gives the stack a route: addresses outside `netmask` of its own go to `gateway` (its MAC is
 * what ARP for the gateway answers: the VPC router's). Both in network order; gateway 0: none.
 */
export function netSetRoute(st: usize, netmask: u32, gateway: u32): void {
  store<u32>(st, netmask, GN_NETMASK);
  store<u32>(st, gateway, GN_GATEWAY);
}

/** Where a packet to `dst` goes first: `dst` itself on-link, else the gateway (when there is one). */
@inline export function nextHop(st: usize, dst: u32): u32 {
  const gw = load<u32>(st, GN_GATEWAY);
  if (gw == 0 || ((dst ^ load<u32>(st, GN_IP)) & load<u32>(st, GN_NETMASK)) == 0) return dst;
  return gw;
}

/** The MAC for `ip` from the ARP cache (host address of its 6 bytes), or 0. */
export function arpLookup(st: usize, ip: u32): usize {
  for (let i: u32 = 0; i < GN_ARP_ENTRIES; i++) {
    const e = st + GN_ARP + <usize>i * 16;
    if (load<u16>(e, 10) != 0 && load<u32>(e) == ip) return e + 4;
  }
  return 0;
}

function arpLearn(st: usize, ip: u32, mac: usize): void {
  let free: usize = 0;
  for (let i: u32 = 0; i < GN_ARP_ENTRIES; i++) {
    const e = st + GN_ARP + <usize>i * 16;
    if (load<u16>(e, 10) != 0 && load<u32>(e) == ip) {
      memory.copy(e + 4, mac, 6);
      return;
    }
    if (free == 0 && load<u16>(e, 10) == 0) free = e;
  }
  if (free == 0) free = st + GN_ARP + <usize>((ip >> 24) % GN_ARP_ENTRIES) * 16;
  store<u32>(free, ip);
  memory.copy(free + 4, mac, 6);
  store<u16>(free, 1, 10);
}

/** Writes an ARP packet (op 1 request, 2 reply) to `tha`/`tip` from us. Returns false when no TX slot. */
export function arpSend(st: usize, op: u32, dstMac: usize, tha: usize, tip: u32): bool {
  const f = txSlot(st);
  if (f == 0) return false;
  memory.copy(f, dstMac, 6);
  memory.copy(f + 6, st + GN_MAC, 6);
  putBe16(f + 12, 0x0806);
  const a = f + 14;
  putBe16(a, 1);
  putBe16(a + 2, 0x0800);
  store<u8>(a, 6, 4);
  store<u8>(a, 4, 5);
  putBe16(a + 6, op);
  memory.copy(a + 8, st + GN_MAC, 6);
  store<u32>(a + 14, load<u32>(st, GN_IP));
  if (tha != 0) memory.copy(a + 18, tha, 6);
  else memory.fill(a + 18, 0, 6);
  store<u32>(a + 24, tip);
  txSend(st, 42);
  return true;
}

/**
 * Starts an IPv4 packet to `dst` (proto, payload of `plen` bytes to be written by the caller at
 * the returned address + 34). Returns the frame's host address, or 0 (no TX slot, or its next
 * hop, `dst` or the gateway, not in the ARP cache: then an ARP request goes out).
 */
export function ipStart(st: usize, dst: u32, proto: u32, plen: u32): usize {
  const hop = nextHop(st, dst);
  const mac = arpLookup(st, hop);
  if (mac == 0) {
    gnBump(st, GNC_NO_ARP);
    const bcast = st + GN_ARP + GN_ARP_ENTRIES * 16; // 6 bytes of 0xff kept after the cache
    memory.fill(bcast, 0xff, 6);
    arpSend(st, 1, bcast, 0, hop);
    return 0;
  }
  const f = txSlot(st);
  if (f == 0) return 0;
  memory.copy(f, mac, 6);
  memory.copy(f + 6, st + GN_MAC, 6);
  putBe16(f + 12, 0x0800);
  const ip = f + 14;
  store<u8>(ip, 0x45);
  store<u8>(ip, 0, 1);
  putBe16(ip + 2, 20 + plen);
  putBe16(ip + 4, 0);
  putBe16(ip + 6, 0x4000);
  store<u8>(ip, 64, 8);
  store<u8>(ip, <u8>proto, 9);
  putBe16(ip + 10, 0);
  store<u32>(ip + 12, load<u32>(st, GN_IP));
  store<u32>(ip + 16, dst);
  putBe16(ip + 10, ~sum16(ip, 20, 0) & 0xffff);
  return f;
}

/**
 * Finishes a UDP datagram in frame `f` (payload of `plen` already at f + 42): its checksum is
 * computed here, or left to the device (NEEDS_CSUM) when offload was negotiated. Sends it.
 */
export function udpFinish(st: usize, f: usize, sport: u32, dport: u32, plen: u32): void {
  const u = f + 34;
  putBe16(u, sport);
  putBe16(u + 2, dport);
  putBe16(u + 4, 8 + plen);
  putBe16(u + 6, 0);
  // Pseudo header: source, destination, protocol, UDP length.
  const ps = sum16(f + 26, 8, 17 + 8 + plen);
  if (((<u32>load<u16>(st, GN_FLAGS)) & GNF_CSUM_OFFLOAD) != 0) {
    putBe16(u + 6, ps);
    const h = f - NET_HDR;
    store<u8>(h, 1); // NEEDS_CSUM
    store<u16>(h, 34, 6); // csum_start
    store<u16>(h, 6, 8); // csum_offset
  } else {
    const c = ~sum16(u, 8 + plen, ps) & 0xffff;
    putBe16(u + 6, c == 0 ? 0xffff : c);
  }
  txSend(st, 42 + plen);
}

/**
 * One pass of the stack: reaps received frames (up to `budget`), answers what needs an answer,
 * re-posts their buffers, reaps transmit completions, kicks both queues. Returns frames handled.
 */
export function netPoll(st: usize, budget: u32): u32 {
  if (load<u32>(st) != GN_MAGIC) return 0;
  const rx = <usize>load<u32>(st, GN_RX_DRV);
  const tx = <usize>load<u32>(st, GN_TX_DRV);
  const out = <usize>load<u32>(st, GN_REAP);
  const rxBase = load<u64>(st, GN_RX_BUF);
  const bytes = load<u32>(st, GN_BUF_BYTES);
  let done: u32 = 0;
  while (done < budget) {
    const n = drvReap(rx, out, min<u32>(GNET_REAP, budget - done));
    if (n == 0) break;
    for (let i: u32 = 0; i < n; i++) {
      const tok = load<u32>(out + ((<usize>i) << 3));
      const len = load<u32>(out + ((<usize>i) << 3), 4);
      const buf = bufAt(st, rxBase, tok);
      if (len > NET_HDR && len <= bytes) input(st, buf + NET_HDR, len - NET_HDR);
      else gnBump(st, GNC_RX_BAD);
    }
    repostRx(rx, rxBase, bytes, n);
    done += n;
  }
  finishPoll(rx, tx, out, done);
  return done;
}

/** Gives `n` receive buffers back, under the tokens the driver will hand out next. */
@inline export function repostRx(rx: usize, rxBase: u64, bytes: u32, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const t = drvNextToken(rx);
    drvAdd(rx, rxBase + <u64>t * <u64>bytes, 0, rxBase + <u64>t * <u64>bytes, bytes);
  }
}

/** The end of a poll pass: kicks RX if buffers went back, reaps transmit completions, kicks TX. */
@inline export function finishPoll(rx: usize, tx: usize, out: usize, done: u32): void {
  if (done != 0) drvKick(rx);
  drvReap(tx, out, GNET_REAP);
  drvKick(tx);
}

/** One received frame (Ethernet, no tag) for the stack `st`. */
export function input(st: usize, f: usize, len: u32): void {
  gnBump(st, GNC_RX_FRAMES);
  if (len < 14) return gnBump(st, GNC_RX_BAD);
  const et = be16(f + 12);
  if (et == 0x0806) return arpInput(st, f, len);
  if (et != 0x0800 || len < 34) return gnBump(st, GNC_RX_IGNORED);
  const ip = f + 14;
  const ihl = ((<u32>load<u8>(ip)) & 15) << 2;
  const total = be16(ip + 2);
  if ((<u32>load<u8>(ip)) >> 4 != 4 || ihl < 20 || total < ihl || total + 14 > len) return gnBump(st, GNC_RX_BAD);
  if ((~sum16(ip, ihl, 0) & 0xffff) != 0) return gnBump(st, GNC_RX_BAD);
  if (load<u32>(ip + 16) != load<u32>(st, GN_IP)) return gnBump(st, GNC_RX_IGNORED);
  const proto = <u32>load<u8>(ip, 9);
  const l4 = ip + <usize>ihl;
  const l4len = total - ihl;
  const src = load<u32>(ip + 12);
  // The sender's MAC answers for its IP, or for the gateway when the sender is off-link (it came
  // through the router): saves an ARP round trip for replies.
  arpLearn(st, nextHop(st, src), f + 6);
  if (proto == 1 && l4len >= 8) {
    const type = <u32>load<u8>(l4);
    if (type == 8) {
      const r = ipStart(st, src, 1, l4len);
      if (r == 0) return;
      memory.copy(r + 34, l4, l4len);
      store<u8>(r + 34, 0);
      putBe16(r + 36, 0);
      putBe16(r + 36, ~sum16(r + 34, l4len, 0) & 0xffff);
      txSend(st, 34 + l4len);
      gnBump(st, GNC_ECHO_REQUESTS);
    } else if (type == 0 && be16(l4 + 4) == <u32>load<u16>(st, GN_PING_IDENT)) {
      store<u32>(st, be16(l4 + 6), GN_PING_LAST);
      atomic.add<u32>(st, 1, GN_PING_REPLIES);
      gnBump(st, GNC_ECHO_REPLIES);
    }
    return;
  }
  if (proto == 17 && l4len >= 8) {
    const dport = be16(l4 + 2);
    const ulen = be16(l4 + 4);
    if (ulen < 8 || ulen > l4len) return gnBump(st, GNC_RX_BAD);
    const echo = <u32>load<u16>(st, GN_ECHO_PORT);
    if (echo != 0 && dport == echo) {
      const plen = ulen - 8;
      const r = ipStart(st, src, 17, 8 + plen);
      if (r == 0) return;
      memory.copy(r + 42, l4 + 8, plen);
      udpFinish(st, r, echo, be16(l4), plen);
      gnBump(st, GNC_UDP_ECHOED);
      return;
    }
    const sink = <u32>load<u16>(st, GN_SINK_PORT);
    if (sink != 0 && dport == sink) return sinkTake(st, l4 + 8, ulen - 8);
  }
  gnBump(st, GNC_RX_IGNORED);
}

function arpInput(st: usize, f: usize, len: u32): void {
  if (len < 42) return gnBump(st, GNC_RX_BAD);
  const a = f + 14;
  if (be16(a) != 1 || be16(a + 2) != 0x0800 || load<u8>(a, 4) != 6 || load<u8>(a, 5) != 4)
    return gnBump(st, GNC_RX_IGNORED);
  const op = be16(a + 6);
  const spa = load<u32>(a + 14);
  const tpa = load<u32>(a + 24);
  if (tpa != load<u32>(st, GN_IP)) return gnBump(st, GNC_RX_IGNORED);
  arpLearn(st, spa, a + 8);
  if (op == 1) {
    if (arpSend(st, 2, a + 8, a + 8, spa)) gnBump(st, GNC_ARP_REQUESTS);
  } else if (op == 2) gnBump(st, GNC_ARP_REPLIES);
}
