// One packet from the peer: validate it, run the connection state machine, store its payload
// in the connection's receive ring. Shared by the device (packets the guest put on its tx
// queue) and the driver (packets the device put in its rx buffers). The peer is never trusted;
// every outcome is pinned by a bad-input id (docs/virtio-policy.md, "virtio-vsock"):
//
//   V1  fewer bytes than a header               dropped (no address to answer)
//   V2  hdr.len larger than the bytes present    RST (the stream cannot continue)
//   V3  hdr.len above VSOCK_MAX_PAYLOAD          RST
//   V5  type other than STREAM                   RST (§5.10.6.4: MUST reply RST)
//   V6  op INVALID or unknown                    RST
//   V7  src_cid not the peer's, V8 dst_cid not ours, V9 upper CID bits set   dropped silently
//   V10 RW beyond the credit we advertised       RST, connection closed
//   V11 a packet for no connection               RST (never in answer to an RST)
//   V12 REQUEST to a port nobody listens on, or no free slot   RST
//   V13 REQUEST for a flow that already exists   RST, the existing connection closed
//   V14 a control op carrying a payload          RST
//   V15 data after the peer's own SHUTDOWN(SEND), or RESPONSE/RW out of state   RST, closed
//   V16 fwd_cnt ahead of what we sent            RST, closed

import {
  AR_CONNECT,
  CF_CREDIT_ASKED,
  CONN_BUF_ALLOC,
  CONN_BYTES,
  CONN_CLOSE_REASON,
  CONN_FLAGS,
  CONN_GENERATION,
  CONN_LAST_FWD_SENT,
  CONN_LOCAL_PORT,
  CONN_LOCAL_SHUT,
  CONN_ORIGIN,
  CONN_PEER_BUF_ALLOC,
  CONN_PEER_FWD_CNT,
  CONN_PEER_PORT,
  CONN_PEER_SHUT,
  CONN_PENDING,
  CONN_APP_REQ,
  CONN_RX_CNT,
  CONN_RX_TAIL,
  CONN_STATE,
  CONN_TX_CNT,
  CONN_TX_HEAD,
  CR_CLEAN,
  CR_REFUSED,
  CR_RESET,
  CR_VIOLATION,
  CS_CLOSING,
  CS_CONNECTING,
  CS_ESTABLISHED,
  CS_FREE,
  CS_INIT,
  EPC_BAD_FWD_CNT,
  EPC_CONNS_OPENED,
  EPC_CREDIT_VIOLATIONS,
  EPC_MALFORMED,
  EPC_NO_CONNECTION,
  EPC_NO_LISTENER,
  EPC_NO_SLOT,
  EPC_PROTOCOL_ERRORS,
  EPC_RST_RECEIVED,
  EPC_RX_BYTES,
  EPC_RX_PACKETS,
  EPC_SPOOFED,
  EPC_UNKNOWN_OP,
  EPC_UNKNOWN_TYPE,
  EP_LOCAL_CID,
  EP_MAX_CONNS,
  EP_PEER_CID,
  EP_RING_BYTES,
  EP_SCRATCH,
  ORIGIN_INCOMING,
  P_CREDIT_UPDATE,
  P_RESPONSE,
  bumpCounter,
  closeConn,
  connAt,
  findConn,
  listening,
  markAppSignal,
  queueRst,
  raiseHighWater,
  rxFree,
  rxRing,
} from './endpoint';
import {
  VSOCK_HDR_BUF_ALLOC,
  VSOCK_HDR_BYTES,
  VSOCK_HDR_DST_CID,
  VSOCK_HDR_DST_PORT,
  VSOCK_HDR_FLAGS,
  VSOCK_HDR_FWD_CNT,
  VSOCK_HDR_LEN,
  VSOCK_HDR_OP,
  VSOCK_HDR_SRC_CID,
  VSOCK_HDR_SRC_PORT,
  VSOCK_HDR_TYPE,
  VSOCK_MAX_PAYLOAD,
  VSOCK_OP_CREDIT_REQUEST,
  VSOCK_OP_REQUEST,
  VSOCK_OP_RESPONSE,
  VSOCK_OP_RST,
  VSOCK_OP_RW,
  VSOCK_OP_SHUTDOWN,
  VSOCK_SHUTDOWN_BOTH,
  VSOCK_SHUTDOWN_SEND,
  VSOCK_TYPE_STREAM,
} from './packet';
import { segGather } from '../virtio/segments';
import { segsToRing } from './seg-copy';

/**
 * Handles one packet whose bytes are the first `total` bytes of the segment list. The header is
 * gathered once into the endpoint's scratch and read only from there (the peer may rewrite its
 * buffer meanwhile: read once, check the copy, never re-read, like descriptors, E3).
 */
export function epReceive(ep: usize, segs: usize, nsegs: u32, total: u32): void {
  if (total < VSOCK_HDR_BYTES) {
    bumpCounter(ep, EPC_MALFORMED); // V1
    return;
  }
  const h = ep + EP_SCRATCH;
  segGather(segs, nsegs, 0, h, VSOCK_HDR_BYTES);
  const srcCid = load<u64>(h, VSOCK_HDR_SRC_CID);
  const dstCid = load<u64>(h, VSOCK_HDR_DST_CID);
  const srcPort = load<u32>(h, VSOCK_HDR_SRC_PORT);
  const dstPort = load<u32>(h, VSOCK_HDR_DST_PORT);
  const len = load<u32>(h, VSOCK_HDR_LEN);
  const type = load<u16>(h, VSOCK_HDR_TYPE);
  const op = load<u16>(h, VSOCK_HDR_OP);
  const flags = load<u32>(h, VSOCK_HDR_FLAGS);
  const bufAlloc = load<u32>(h, VSOCK_HDR_BUF_ALLOC);
  const fwdCnt = load<u32>(h, VSOCK_HDR_FWD_CNT);
  bumpCounter(ep, EPC_RX_PACKETS);
  // V7, V8, V9: only the peer may speak, only to us. A reply would go to an address that is
  // not the sender's, so nothing is answered (as vhost-vsock drops misaddressed packets).
  if (srcCid != <u64>load<u32>(ep, EP_PEER_CID) || dstCid != <u64>load<u32>(ep, EP_LOCAL_CID)) {
    bumpCounter(ep, EPC_SPOOFED);
    return;
  }
  const conn = findConn(ep, dstPort, srcPort);
  if (op == VSOCK_OP_RST) {
    bumpCounter(ep, EPC_RST_RECEIVED);
    if (conn != 0) peerReset(ep, conn);
    return; // never answer an RST with an RST
  }
  if (type != VSOCK_TYPE_STREAM) {
    bumpCounter(ep, EPC_UNKNOWN_TYPE); // V5
    return refuse(ep, conn, dstPort, srcPort);
  }
  if (op == 0 || op > VSOCK_OP_CREDIT_REQUEST) {
    bumpCounter(ep, EPC_UNKNOWN_OP); // V6
    return refuse(ep, conn, dstPort, srcPort);
  }
  if (len > VSOCK_MAX_PAYLOAD || len > total - VSOCK_HDR_BYTES || (len != 0 && op != VSOCK_OP_RW)) {
    bumpCounter(ep, EPC_MALFORMED); // V3, V2, V14
    return refuse(ep, conn, dstPort, srcPort);
  }
  if (op == VSOCK_OP_REQUEST) {
    accept(ep, conn, dstPort, srcPort, bufAlloc, fwdCnt);
    return;
  }
  if (conn == 0) {
    bumpCounter(ep, EPC_NO_CONNECTION); // V11: RST on a closed port (§5.10.6.5)
    queueRst(ep, dstPort, srcPort);
    return;
  }
  const state = load<u32>(conn, CONN_STATE);
  if (op == VSOCK_OP_RESPONSE) {
    if (state != CS_CONNECTING) return violation(ep, conn, EPC_PROTOCOL_ERRORS); // V15
    if (!credit(ep, conn, bufAlloc, fwdCnt)) return;
    atomic.store<u32>(conn, CS_ESTABLISHED, CONN_STATE);
    markAppSignal(ep);
    return;
  }
  if (state == CS_CONNECTING) return violation(ep, conn, EPC_PROTOCOL_ERRORS); // V15: nothing else before RESPONSE
  if (!credit(ep, conn, bufAlloc, fwdCnt)) return;
  if (op == VSOCK_OP_RW) {
    // V15: data after the peer said it sends no more
    if ((load<u32>(conn, CONN_PEER_SHUT) & VSOCK_SHUTDOWN_SEND) != 0) return violation(ep, conn, EPC_PROTOCOL_ERRORS);
    if (len > rxFree(conn)) return violation(ep, conn, EPC_CREDIT_VIOLATIONS); // V10
    if (len != 0) {
      const i = <u32>((conn - connAt(ep, 0)) / CONN_BYTES);
      const rx = load<u32>(conn, CONN_RX_CNT);
      segsToRing(rxRing(ep, i), load<u32>(ep, EP_RING_BYTES), rx, segs, nsegs, VSOCK_HDR_BYTES, len);
      // Release: the payload is in the ring before the app can see the new producer index.
      atomic.store<u32>(conn, rx + len, CONN_RX_CNT);
      bumpCounter(ep, EPC_RX_BYTES, len);
      markAppSignal(ep);
    }
    return;
  }
  if (op == VSOCK_OP_SHUTDOWN) {
    // §5.10.6.5: the hints are permanent; unknown bits are ignored.
    const shut = load<u32>(conn, CONN_PEER_SHUT) | (flags & VSOCK_SHUTDOWN_BOTH);
    atomic.store<u32>(conn, shut, CONN_PEER_SHUT);
    markAppSignal(ep);
    // The peer will neither send nor receive: answer with the RST that ends a clean disconnect.
    if (shut == VSOCK_SHUTDOWN_BOTH) closeConn(ep, conn, CR_CLEAN, true);
    return;
  }
  if (op == VSOCK_OP_CREDIT_REQUEST) {
    store<u32>(conn, load<u32>(conn, CONN_PENDING) | P_CREDIT_UPDATE, CONN_PENDING);
  }
  // CREDIT_UPDATE: the credit was recorded above.
}

/** Records the peer's credit from a packet; false (and the connection reset) when fwd_cnt is impossible (V16). */
function credit(ep: usize, conn: usize, bufAlloc: u32, fwdCnt: u32): bool {
  const old = load<u32>(conn, CONN_PEER_FWD_CNT);
  // fwd_cnt is free-running and may lag, but it cannot count bytes we never sent:
  // old <= fwdCnt <= txCnt, modulo 2^32.
  if (fwdCnt - old > load<u32>(conn, CONN_TX_CNT) - old) {
    violation(ep, conn, EPC_BAD_FWD_CNT);
    return false;
  }
  store<u32>(conn, bufAlloc, CONN_PEER_BUF_ALLOC);
  store<u32>(conn, fwdCnt, CONN_PEER_FWD_CNT);
  store<u32>(conn, load<u32>(conn, CONN_FLAGS) & ~CF_CREDIT_ASKED, CONN_FLAGS);
  // The transmit side may have been waiting for this credit.
  markAppSignal(ep);
  return true;
}

/** A REQUEST: open a connection to a listener, or refuse it (V12, V13). */
function accept(ep: usize, existing: usize, localPort: u32, peerPort: u32, bufAlloc: u32, fwdCnt: u32): void {
  if (existing != 0) {
    // V13: the flow exists; a second REQUEST for it is a protocol error that ends both.
    violation(ep, existing, EPC_PROTOCOL_ERRORS);
    return;
  }
  if (!listening(ep, localPort)) {
    bumpCounter(ep, EPC_NO_LISTENER); // V12 (§5.10.6.5: RST when nobody listens)
    queueRst(ep, localPort, peerPort);
    return;
  }
  const n = load<u32>(ep, EP_MAX_CONNS);
  let c: usize = 0;
  for (let i: u32 = 0; i < n; i++) {
    const cand = connAt(ep, i);
    if (atomic.cmpxchg<u32>(cand, CS_FREE, CS_INIT, CONN_STATE) == CS_FREE) {
      c = cand;
      raiseHighWater(ep, i);
      break;
    }
  }
  if (c == 0) {
    bumpCounter(ep, EPC_NO_SLOT); // V12: "insufficient resources" (§5.10.6.5)
    queueRst(ep, localPort, peerPort);
    return;
  }
  initConn(ep, c, localPort, peerPort, ORIGIN_INCOMING);
  store<u32>(c, bufAlloc, CONN_PEER_BUF_ALLOC);
  store<u32>(c, fwdCnt, CONN_PEER_FWD_CNT);
  store<u32>(c, P_RESPONSE, CONN_PENDING);
  store<u32>(c, load<u32>(c, CONN_GENERATION) + 1, CONN_GENERATION);
  atomic.store<u32>(c, CS_ESTABLISHED, CONN_STATE);
  bumpCounter(ep, EPC_CONNS_OPENED);
  markAppSignal(ep);
}

/** Resets every per-connection word of a slot the caller owns (INIT or CLAIMED). */
export function initConn(ep: usize, c: usize, localPort: u32, peerPort: u32, origin: u32): void {
  store<u32>(c, localPort, CONN_LOCAL_PORT);
  store<u32>(c, peerPort, CONN_PEER_PORT);
  store<u32>(c, 0, CONN_PENDING);
  store<u32>(c, 0, CONN_PEER_BUF_ALLOC);
  store<u32>(c, 0, CONN_PEER_FWD_CNT);
  store<u32>(c, 0, CONN_TX_CNT);
  store<u32>(c, 0, CONN_RX_CNT);
  store<u32>(c, 0, CONN_LAST_FWD_SENT);
  store<u32>(c, load<u32>(ep, EP_RING_BYTES), CONN_BUF_ALLOC);
  store<u32>(c, 0, CONN_PEER_SHUT);
  store<u32>(c, 0, CONN_LOCAL_SHUT);
  store<u32>(c, 0, CONN_CLOSE_REASON);
  store<u32>(c, origin, CONN_ORIGIN);
  store<u32>(c, 0, CONN_RX_TAIL);
  store<u32>(c, 0, CONN_TX_HEAD);
  store<u32>(c, 0, CONN_FLAGS);
  // Requests other than CONNECT belong to an earlier life of the slot.
  atomic.and<u32>(c + CONN_APP_REQ, AR_CONNECT);
}

/** The peer's RST: the connection is over; why depends on where it was. */
function peerReset(ep: usize, conn: usize): void {
  const s = load<u32>(conn, CONN_STATE);
  const reason = s == CS_CONNECTING ? CR_REFUSED : s == CS_CLOSING ? CR_CLEAN : CR_RESET;
  closeConn(ep, conn, reason, false);
}

/** A packet we must answer with RST: closes its connection if it has one (V2, V3, V5, V6, V14). */
function refuse(ep: usize, conn: usize, localPort: u32, peerPort: u32): void {
  if (conn != 0) closeConn(ep, conn, CR_VIOLATION, true);
  else queueRst(ep, localPort, peerPort);
}

/** A protocol violation on a connection: counted, RST sent, connection closed. */
function violation(ep: usize, conn: usize, counter: u32): void {
  bumpCounter(ep, counter);
  closeConn(ep, conn, CR_VIOLATION, true);
}
