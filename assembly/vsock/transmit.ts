// The next packet for the peer, written into one of its buffers (a segment list of `cap`
// bytes): the owed RST replies first, then one packet per connection in round-robin order, so
// that a busy connection cannot starve the others. Per connection: RST, REQUEST, RESPONSE, data
// (RW, within the peer's credit, §5.10.6.3), SHUTDOWN once the data is out, CREDIT_UPDATE,
// CREDIT_REQUEST. Every packet carries our buf_alloc and fwd_cnt, so data piggybacks the
// credit update it would otherwise owe.

import {
  CF_SHUT_SENT,
  CONN_BUF_ALLOC,
  CONN_FLAGS,
  CONN_LAST_FWD_SENT,
  CONN_LOCAL_PORT,
  CONN_LOCAL_SHUT,
  CONN_PEER_PORT,
  CONN_PENDING,
  CONN_RX_TAIL,
  CONN_STATE,
  CONN_TX_CNT,
  CS_CLOSING,
  CS_CONNECTING,
  CS_ESTABLISHED,
  EPC_CREDIT_REQUESTS,
  EPC_CREDIT_UPDATES,
  EPC_RST_SENT,
  EPC_TX_BYTES,
  EPC_TX_PACKETS,
  EP_HIGH_WATER,
  EP_LOCAL_CID,
  EP_MAX_PAYLOAD,
  EP_PEER_CID,
  EP_RING_BYTES,
  guestMap,
  EP_RR_NEXT,
  EP_RST_HEAD,
  EP_RST_QUEUE,
  EP_RST_SLOTS,
  EP_RST_TAIL,
  EP_SCRATCH,
  P_CREDIT_REQUEST,
  P_CREDIT_UPDATE,
  P_REQUEST,
  P_RESPONSE,
  P_RST,
  P_SHUTDOWN,
  bumpCounter,
  connAt,
  markAppSignal,
  txRing,
} from './endpoint';
import {
  VSOCK_HDR_BYTES,
  VSOCK_OP_CREDIT_REQUEST,
  VSOCK_OP_CREDIT_UPDATE,
  VSOCK_OP_REQUEST,
  VSOCK_OP_RESPONSE,
  VSOCK_OP_RST,
  VSOCK_OP_RW,
  VSOCK_OP_SHUTDOWN,
  VSOCK_SHUTDOWN_SEND,
  writeHeader,
} from './packet';
import { segScatter } from '../virtio/segments';
import { ringToSegs } from './seg-copy';
import { sendable, txDrained } from './requests';

/**
 * Writes the next packet into the segments (at least a header's room: `cap` >= 44) with at most
 * `room` payload bytes. Returns the bytes written (header + payload), or 0 when nothing is owed.
 */
export function epEmit(ep: usize, segs: usize, nsegs: u32, cap: u32, room: u32): u32 {
  const head = load<u32>(ep, EP_RST_HEAD);
  if (head != load<u32>(ep, EP_RST_TAIL)) {
    const e = ep + EP_RST_QUEUE + <usize>((head & (EP_RST_SLOTS - 1)) * 8);
    store<u32>(ep, head + 1, EP_RST_HEAD);
    bumpCounter(ep, EPC_RST_SENT);
    return control(ep, segs, nsegs, load<u32>(e, 0), load<u32>(e, 4), VSOCK_OP_RST, 0, 0, 0);
  }
  const hw = atomic.load<u32>(ep, EP_HIGH_WATER);
  if (hw == 0) return 0;
  let i = load<u32>(ep, EP_RR_NEXT);
  if (i >= hw) i = 0;
  let payloadRoom = cap - VSOCK_HDR_BYTES;
  if (payloadRoom > room) payloadRoom = room;
  const maxPayload = load<u32>(ep, EP_MAX_PAYLOAD);
  if (payloadRoom > maxPayload) payloadRoom = maxPayload;
  for (let k: u32 = 0; k < hw; k++) {
    const n = connPacket(ep, connAt(ep, i), i, segs, nsegs, payloadRoom);
    i = i + 1 == hw ? 0 : i + 1;
    if (n != 0) {
      store<u32>(ep, i, EP_RR_NEXT);
      return n;
    }
  }
  return 0;
}

/** One packet owed on connection `c` (index i), or 0. */
function connPacket(ep: usize, c: usize, i: u32, segs: usize, nsegs: u32, payloadRoom: u32): u32 {
  const s = atomic.load<u32>(c, CONN_STATE);
  const p = load<u32>(c, CONN_PENDING);
  const local = load<u32>(c, CONN_LOCAL_PORT);
  const peer = load<u32>(c, CONN_PEER_PORT);
  if ((p & P_RST) != 0) {
    store<u32>(c, p & ~P_RST, CONN_PENDING);
    bumpCounter(ep, EPC_RST_SENT);
    markAppSignal(ep); // a release may have been waiting for this RST
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_RST, 0, 0, 0);
  }
  if (s != CS_CONNECTING && s != CS_ESTABLISHED && s != CS_CLOSING) return 0;
  if ((p & P_REQUEST) != 0) {
    store<u32>(c, p & ~P_REQUEST, CONN_PENDING);
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_REQUEST, 0, c, 0);
  }
  if ((p & P_RESPONSE) != 0) {
    store<u32>(c, p & ~P_RESPONSE, CONN_PENDING);
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_RESPONSE, 0, c, 0);
  }
  if (s == CS_CONNECTING) return 0;
  let n = sendable(c);
  if (n != 0 && payloadRoom != 0) {
    if (n > payloadRoom) n = payloadRoom;
    const tx = load<u32>(c, CONN_TX_CNT);
    ringToSegs(guestMap(ep), segs, nsegs, VSOCK_HDR_BYTES, txRing(ep, i), load<u32>(ep, EP_RING_BYTES), tx, n);
    // Release: the app may reuse the ring space once it sees the new consumer index.
    atomic.store<u32>(c, tx + n, CONN_TX_CNT);
    store<u32>(c, p & ~P_CREDIT_UPDATE, CONN_PENDING);
    bumpCounter(ep, EPC_TX_BYTES, n);
    markAppSignal(ep); // room in the tx ring for a writer that waits
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_RW, 0, c, n);
  }
  if ((p & P_SHUTDOWN) != 0 && txDrained(c)) {
    const flags = load<u32>(c, CONN_LOCAL_SHUT);
    store<u32>(c, p & ~P_SHUTDOWN, CONN_PENDING);
    if ((flags & VSOCK_SHUTDOWN_SEND) != 0) store<u32>(c, load<u32>(c, CONN_FLAGS) | CF_SHUT_SENT, CONN_FLAGS);
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_SHUTDOWN, flags, c, 0);
  }
  if ((p & P_CREDIT_UPDATE) != 0) {
    store<u32>(c, p & ~P_CREDIT_UPDATE, CONN_PENDING);
    bumpCounter(ep, EPC_CREDIT_UPDATES);
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_CREDIT_UPDATE, 0, c, 0);
  }
  if ((p & P_CREDIT_REQUEST) != 0) {
    store<u32>(c, p & ~P_CREDIT_REQUEST, CONN_PENDING);
    bumpCounter(ep, EPC_CREDIT_REQUESTS);
    return control(ep, segs, nsegs, local, peer, VSOCK_OP_CREDIT_REQUEST, 0, c, 0);
  }
  return 0;
}

/**
 * Writes the header of a packet with `len` payload bytes (already in place after it) and
 * returns the packet's size. With a connection, the header carries its credit (buf_alloc,
 * fwd_cnt) and records what fwd_cnt the peer now knows; an RST for no connection carries none.
 */
function control(
  ep: usize,
  segs: usize,
  nsegs: u32,
  local: u32,
  peer: u32,
  op: u16,
  flags: u32,
  c: usize,
  len: u32,
): u32 {
  let bufAlloc: u32 = 0;
  let fwd: u32 = 0;
  if (c != 0) {
    bufAlloc = load<u32>(c, CONN_BUF_ALLOC);
    fwd = atomic.load<u32>(c, CONN_RX_TAIL);
    store<u32>(c, fwd, CONN_LAST_FWD_SENT);
  }
  const h = ep + EP_SCRATCH;
  writeHeader(h, load<u32>(ep, EP_LOCAL_CID), load<u32>(ep, EP_PEER_CID), local, peer, len, op, flags, bufAlloc, fwd);
  segScatter(guestMap(ep), segs, nsegs, 0, h, VSOCK_HDR_BYTES);
  bumpCounter(ep, EPC_TX_PACKETS);
  return VSOCK_HDR_BYTES + len;
}
