// Workloads of the guest network stack: ping (ICMP echo) and a UDP traffic generator whose
// datagrams carry a sequence number, with the sink that counts what arrives, out of order, twice.
//
// Datagram payload: +0 u32 seq (big-endian)  +4 u32 magic 0x51545446 ('QTTF')  then filler.

import { drvFree } from './driver';
import {
  GNC_UDP_SENT,
  GN_GEN_DST_IP,
  GN_GEN_DST_PORT,
  GN_GEN_PAYLOAD,
  GN_GEN_SEQ,
  GN_GEN_SRC_PORT,
  GN_GEN_WINDOW,
  GN_PING_IDENT,
  GN_SEEN,
  GN_SEEN_BITS,
  GN_SINK_DUPLICATES,
  GN_SINK_NEXT,
  GN_SINK_RECEIVED,
  GN_SINK_REORDERED,
  GN_TX_DRV,
  gnBump,
} from './net-state';
import { arpLookup, ipStart, netPoll, nextHop, putBe16, sum16, txSend, udpFinish } from './net-stack';

export const TRAFFIC_MAGIC: u32 = 0x51545446;

/** Sends one ICMP echo request (identifier `ident`, sequence `seq`, `plen` bytes of data). */
export function pingSend(st: usize, dst: u32, ident: u32, seq: u32, plen: u32): i32 {
  store<u16>(st, <u16>ident, GN_PING_IDENT);
  const f = ipStart(st, dst, 1, 8 + plen);
  if (f == 0) return 0;
  const m = f + 34;
  store<u8>(m, 8);
  store<u8>(m, 0, 1);
  putBe16(m + 2, 0);
  putBe16(m + 4, ident);
  putBe16(m + 6, seq);
  for (let i: u32 = 0; i < plen; i++) store<u8>(m + 8 + <usize>i, <u8>i);
  putBe16(m + 2, ~sum16(m, 8 + plen, 0) & 0xffff);
  txSend(st, 34 + 8 + plen);
  netPoll(st, 0);
  return 1;
}

/**
 * Points the generator at `dst:dport` from `sport`, `payload` bytes a datagram (>= 8), seq from
 * 0. With `window` > 0 at most that many datagrams are sent beyond those the sink has received
 * (for a stream echoed back to the sink's port: flow control by the echoes); 0: no limit.
 */
export function genSetup(st: usize, dst: u32, dport: u32, sport: u32, payload: u32, window: u32): void {
  store<u32>(st, window, GN_GEN_WINDOW);
  store<u32>(st, dst, GN_GEN_DST_IP);
  store<u16>(st, <u16>dport, GN_GEN_DST_PORT);
  store<u16>(st, <u16>sport, GN_GEN_SRC_PORT);
  store<u32>(st, 0, GN_GEN_SEQ);
  store<u32>(st, max<u32>(payload, 8), GN_GEN_PAYLOAD);
}

/**
 * Sends up to `count` datagrams while the transmit ring has room (never more than `limit` in
 * total: the generator stops at seq == limit), then polls the stack once. Returns datagrams sent.
 */
export function genRun(st: usize, count: u32, limit: u32): u32 {
  const dst = load<u32>(st, GN_GEN_DST_IP);
  const dport = <u32>load<u16>(st, GN_GEN_DST_PORT);
  const sport = <u32>load<u16>(st, GN_GEN_SRC_PORT);
  const plen = load<u32>(st, GN_GEN_PAYLOAD);
  const tx = <usize>load<u32>(st, GN_TX_DRV);
  let sent: u32 = 0;
  const window = load<u32>(st, GN_GEN_WINDOW);
  while (sent < count && load<u32>(st, GN_GEN_SEQ) < limit) {
    if (drvFree(tx) == 0) break;
    if (window != 0 && <u64>load<u32>(st, GN_GEN_SEQ) >= load<u64>(st, GN_SINK_RECEIVED) + <u64>window) break;
    const f = ipStart(st, dst, 17, 8 + plen);
    if (f == 0) break;
    const seq = load<u32>(st, GN_GEN_SEQ);
    const p = f + 42;
    store<u32>(p, bswap<u32>(seq));
    store<u32>(p + 4, bswap<u32>(TRAFFIC_MAGIC));
    memory.fill(p + 8, <u8>seq, plen - 8);
    udpFinish(st, f, sport, dport, plen);
    store<u32>(st, seq + 1, GN_GEN_SEQ);
    gnBump(st, GNC_UDP_SENT);
    sent++;
  }
  netPoll(st, 256);
  return sent;
}

/** Sink: one datagram of the generator's arrived (payload at p). */
export function sinkTake(st: usize, p: usize, len: u32): void {
  if (len < 8 || bswap<u32>(load<u32>(p, 4)) != TRAFFIC_MAGIC) return;
  const seq = bswap<u32>(load<u32>(p));
  const bit = seq & (GN_SEEN_BITS - 1);
  const w = st + GN_SEEN + <usize>(bit >> 3);
  const m = <u8>((<u32>1) << (bit & 7));
  const next = load<u32>(st, GN_SINK_NEXT);
  // A seq seen already (within the window of GN_SEEN_BITS) is a duplicate; one below the
  // highest seen so far arrived out of order.
  if (seq < next && (load<u8>(w) & m) != 0) {
    store<u64>(st, load<u64>(st, GN_SINK_DUPLICATES) + 1, GN_SINK_DUPLICATES);
    return;
  }
  store<u8>(w, load<u8>(w) | m);
  if (seq + 1 > next) {
    // Clear the bits of the seqs skipped over: they may still arrive (late) and must not look seen.
    for (let s = next; s < seq && s - next < GN_SEEN_BITS; s++) {
      const b = s & (GN_SEEN_BITS - 1);
      const ww = st + GN_SEEN + <usize>(b >> 3);
      store<u8>(ww, load<u8>(ww) & ~(<u8>((<u32>1) << (b & 7))));
    }
    store<u8>(w, load<u8>(w) | m);
    store<u32>(st, seq + 1, GN_SINK_NEXT);
  } else {
    store<u64>(st, load<u64>(st, GN_SINK_REORDERED) + 1, GN_SINK_REORDERED);
  }
  atomic.store<u64>(st, load<u64>(st, GN_SINK_RECEIVED) + 1, GN_SINK_RECEIVED);
}

/** 1 when `dst`'s next hop is in the ARP cache; else sends an ARP request for it, polls once, and returns 0. */
export function resolve(st: usize, dst: u32): i32 {
  if (arpLookup(st, nextHop(st, dst)) != 0) return 1;
  ipStart(st, dst, 17, 0); // finds no entry: sends the request
  netPoll(st, 64);
  return arpLookup(st, nextHop(st, dst)) != 0 ? 1 : 0;
}
