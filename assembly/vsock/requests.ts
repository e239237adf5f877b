// The engine's pass over its connections before it transmits: apply what the application asked
// for (connect, shut down, close, abort, release), decide which credit packets are owed, and
// count the packets it will send. Application requests are taken here only, never while
// packets are being written, so the count cannot shrink under the transmit side (the device
// pops exactly that many receive buffers from the guest, and a buffer popped must be used).

import {
  AR_ABORT,
  AR_CLOSE,
  AR_CONNECT,
  AR_RELEASE,
  AR_SHUT_RCV,
  AR_SHUT_SEND,
  CF_CREDIT_ASKED,
  CF_SHUT_SENT,
  CONN_APP_REQ,
  CONN_BUF_ALLOC,
  CONN_FLAGS,
  CONN_LAST_FWD_SENT,
  CONN_LOCAL_PORT,
  CONN_LOCAL_SHUT,
  CONN_PEER_PORT,
  CONN_PEER_SHUT,
  CONN_PENDING,
  CONN_RX_CNT,
  CONN_RX_TAIL,
  CONN_STATE,
  CONN_TX_CNT,
  CONN_TX_HEAD,
  CR_ABORTED,
  CS_CLAIMED,
  CS_CLOSED,
  CS_CLOSING,
  CS_CONNECTING,
  CS_ESTABLISHED,
  CS_FREE,
  EPC_CONNS_OPENED,
  EP_EPHEMERAL_FIRST,
  EP_HIGH_WATER,
  EP_NEXT_PORT,
  EP_RST_HEAD,
  EP_RST_TAIL,
  ORIGIN_OUTGOING,
  P_CREDIT_REQUEST,
  P_CREDIT_UPDATE,
  P_REQUEST,
  P_RESPONSE,
  P_RST,
  P_SHUTDOWN,
  bumpCounter,
  closeConn,
  connAt,
  findConn,
  listening,
  markAppSignal,
  peerFree,
} from './endpoint';
import { initConn } from './receive';
import { VSOCK_SHUTDOWN_BOTH, VSOCK_SHUTDOWN_RCV, VSOCK_SHUTDOWN_SEND } from './packet';

/**
 * Applies application requests and owed credit packets; returns how many packets the transmit
 * side can send now, at least (data packets estimated with `payloadRoom` bytes each).
 */
export function epScan(ep: usize, payloadRoom: u32): u32 {
  const hw = atomic.load<u32>(ep, EP_HIGH_WATER);
  let want = load<u32>(ep, EP_RST_TAIL) - load<u32>(ep, EP_RST_HEAD);
  for (let i: u32 = 0; i < hw; i++) {
    const c = connAt(ep, i);
    if (atomic.load<u32>(c, CONN_APP_REQ) != 0) applyRequests(ep, c);
    want += owed(c, payloadRoom);
  }
  return want;
}

function applyRequests(ep: usize, c: usize): void {
  const req = atomic.load<u32>(c, CONN_APP_REQ);
  let done: u32 = req;
  const s = atomic.load<u32>(c, CONN_STATE);
  if ((req & AR_CONNECT) != 0 && s == CS_CLAIMED) {
    connect(ep, c);
  } else if ((req & AR_ABORT) != 0) {
    if (s >= CS_CONNECTING && s <= CS_CLOSING) closeConn(ep, c, CR_ABORTED, true);
  } else if ((req & AR_CLOSE) != 0) {
    if (s == CS_CONNECTING) closeConn(ep, c, CR_ABORTED, true);
    else if (s == CS_ESTABLISHED) shut(c, VSOCK_SHUTDOWN_BOTH);
  } else if ((req & (AR_SHUT_SEND | AR_SHUT_RCV)) != 0) {
    if (s == CS_ESTABLISHED)
      shut(
        c,
        ((req & AR_SHUT_SEND) != 0 ? VSOCK_SHUTDOWN_SEND : 0) | ((req & AR_SHUT_RCV) != 0 ? VSOCK_SHUTDOWN_RCV : 0),
      );
  }
  // Release waits for the owed RST to go out; a live connection is aborted first.
  if ((req & AR_RELEASE) != 0) {
    const now = atomic.load<u32>(c, CONN_STATE);
    if (now >= CS_CONNECTING && now <= CS_CLOSING) closeConn(ep, c, CR_ABORTED, true);
    if (atomic.load<u32>(c, CONN_STATE) == CS_CLOSED && (load<u32>(c, CONN_PENDING) & P_RST) == 0) {
      store<u32>(c, 0, CONN_PENDING);
      atomic.store<u32>(c, CS_FREE, CONN_STATE);
      markAppSignal(ep); // the app forgets its socket once it sees the slot free
    } else {
      done &= ~AR_RELEASE;
    }
  }
  // CONNECT on a slot that is not CLAIMED (the app lost a race it should not run) is dropped too.
  atomic.and<u32>(c + CONN_APP_REQ, ~done);
}

/** AR_CONNECT on a CLAIMED slot: pick a local port if the app left it 0, then owe a REQUEST. */
function connect(ep: usize, c: usize): void {
  let local = load<u32>(c, CONN_LOCAL_PORT);
  const peer = load<u32>(c, CONN_PEER_PORT);
  if (local == 0) {
    // Ephemeral ports: the next one that neither a listener nor a live flow to this peer port uses.
    for (let tries: u32 = 0; tries < 16384; tries++) {
      let p = load<u32>(ep, EP_NEXT_PORT);
      if (p < EP_EPHEMERAL_FIRST || p > 65535) p = EP_EPHEMERAL_FIRST;
      store<u32>(ep, p + 1, EP_NEXT_PORT);
      if (!listening(ep, p) && findConn(ep, p, peer) == 0) {
        local = p;
        break;
      }
    }
  }
  initConn(ep, c, local, peer, ORIGIN_OUTGOING);
  store<u32>(c, P_REQUEST, CONN_PENDING);
  atomic.store<u32>(c, CS_CONNECTING, CONN_STATE);
  bumpCounter(ep, EPC_CONNS_OPENED);
  markAppSignal(ep);
}

/** Owes a SHUTDOWN with `flags` added; both directions shut means CLOSING (waiting for the peer's RST). */
function shut(c: usize, flags: u32): void {
  const all = load<u32>(c, CONN_LOCAL_SHUT) | flags;
  store<u32>(c, all, CONN_LOCAL_SHUT);
  store<u32>(c, load<u32>(c, CONN_PENDING) | P_SHUTDOWN, CONN_PENDING);
  if (all == VSOCK_SHUTDOWN_BOTH) atomic.store<u32>(c, CS_CLOSING, CONN_STATE);
}

/** Bytes the transmit side may send on `c` now: unsent data, within the peer's credit. */
export function sendable(c: usize): u32 {
  if ((load<u32>(c, CONN_FLAGS) & CF_SHUT_SENT) != 0) return 0; // no data after our SHUTDOWN(SEND)
  if ((load<u32>(c, CONN_PEER_SHUT) & VSOCK_SHUTDOWN_RCV) != 0) return 0; // the peer receives no more (§5.10.6.5)
  const avail = atomic.load<u32>(c, CONN_TX_HEAD) - load<u32>(c, CONN_TX_CNT);
  const credit = peerFree(c);
  return avail < credit ? avail : credit;
}

/** True when nothing written is waiting to go out (or can ever go: the peer shut its receiving side). */
export function txDrained(c: usize): bool {
  if ((load<u32>(c, CONN_PEER_SHUT) & VSOCK_SHUTDOWN_RCV) != 0) return true;
  return atomic.load<u32>(c, CONN_TX_HEAD) == load<u32>(c, CONN_TX_CNT);
}

/**
 * Decides the credit packets owed on `c` and returns the packets it wants to send now (a lower
 * bound: each data packet counted at `room` bytes, what one peer buffer held in the last round).
 */
function owed(c: usize, room: u32): u32 {
  const s = atomic.load<u32>(c, CONN_STATE);
  let p = load<u32>(c, CONN_PENDING);
  if (s == CS_CLOSED) return (p & P_RST) != 0 ? 1 : 0;
  if (s != CS_CONNECTING && s != CS_ESTABLISHED && s != CS_CLOSING) return 0;
  if (s != CS_CONNECTING) {
    const bufAlloc = load<u32>(c, CONN_BUF_ALLOC);
    const lastFwd = load<u32>(c, CONN_LAST_FWD_SENT);
    const freed = atomic.load<u32>(c, CONN_RX_TAIL) - lastFwd;
    // What the peer believes is free: it learnt fwd_cnt = lastFwd from our last packet.
    const peerView = bufAlloc - (load<u32>(c, CONN_RX_CNT) - lastFwd);
    // Tell it once a quarter of the buffer was freed, or sooner when it is nearly out of credit.
    if (freed != 0 && (freed >= bufAlloc >> 2 || peerView < bufAlloc >> 2)) p |= P_CREDIT_UPDATE;
    const unsent = atomic.load<u32>(c, CONN_TX_HEAD) - load<u32>(c, CONN_TX_CNT);
    // Data waits for credit: ask for it once (§5.10.6.3), until a packet from the peer answers.
    if (unsent != 0 && peerFree(c) == 0 && (load<u32>(c, CONN_FLAGS) & CF_CREDIT_ASKED) == 0) {
      p |= P_CREDIT_REQUEST;
      store<u32>(c, load<u32>(c, CONN_FLAGS) | CF_CREDIT_ASKED, CONN_FLAGS);
    }
    store<u32>(c, p, CONN_PENDING);
  }
  let n: u32 = 0;
  if ((p & P_REQUEST) != 0) n++;
  if ((p & P_RESPONSE) != 0) n++;
  if ((p & P_CREDIT_REQUEST) != 0) n++;
  const data = s == CS_CONNECTING ? 0 : sendable(c);
  const r = room == 0 ? 1 : room;
  const packets = (data + r - 1) / r;
  n += packets;
  if ((p & P_CREDIT_UPDATE) != 0 && packets == 0) n++;
  if ((p & P_SHUTDOWN) != 0 && txDrained(c)) n++;
  return n;
}
