// A vsock endpoint (state region 'VSEP'): one side's socket table. The device keeps one for the
// host side of each device (local CID 2, peer = the guest's CID); a guest's driver keeps one in
// its RAM (local = its CID, peer = 2). The same code runs both (assembly/vsock/receive.ts,
// transmit.ts, requests.ts); only the transport that moves packets differs.
//
// The application (the control plane's sockets, a host agent, a guest agent) shares this region
// with the protocol engine: it claims connections, reads its receive ring, writes its transmit
// ring and posts requests in per-connection words; the engine does everything on the wire.
//
//   +64  u32 flags        EPF_*
//   +68  u32 localCid     +72 u32 peerCid       (§5.10.4: CIDs are 32-bit in practice)
//   +76  u32 maxConns     +80 u32 ringBytes      per direction per connection, a power of two
//   +84  u32 appDoorbell  host address of the word the engine bumps and notifies (0: none)
//   +88  u32 highWater    connections [0, highWater) have been used at least once
//   +92  u32 rrNext       round-robin cursor of the transmit side
//   +96  u32 rstHead      +100 u32 rstTail   queue of RST replies owed to packets with no connection
//   +104 u32 nextPort     next ephemeral port
//   +108 u32 payloadHint  largest payload room seen in one peer buffer (device side estimate)
//   +112 u32 maxPayload   largest payload this side puts in one packet
//   +116 u32 appSignal    1 when the app must be woken at the end of this run
//   +120 u32 guestMap     device side: the guest memory map its writes into the peer's buffers go
//                         through (dirty log); 0 on the driver side (its own buffers)
//   +128 u64 counters[EPC_COUNT]
//   +384 listeners[16]    { u32 port, u32 active }   written by the app, read by the engine
//   +512 rst queue[32]    { u32 localPort, u32 peerPort }
//   +768 header scratch   64 bytes: one header gathered from, or scattered into, segments
//   +832 conns[maxConns]  128 bytes each (CONN_* below)
//   then, 64-aligned, per connection: rx ring (ringBytes), tx ring (ringBytes)
//
// Connection (128 bytes). Who writes each word: E = engine, A = application.
//   +0  u32 state        E (A: FREE -> CLAIMED by compare-exchange)     CS_*
//   +4  u32 localPort    +8 u32 peerPort          (A while CLAIMED, E otherwise)
//   +12 u32 pending      E  control packets owed to the peer            P_*
//   +16 u32 peerBufAlloc +20 u32 peerFwdCnt      E  the peer's credit, from its last packet
//   +24 u32 txCnt        E  bytes sent = consumer index of the tx ring (§5.10.6.3 tx_cnt)
//   +28 u32 rxCnt        E  bytes received = producer index of the rx ring
//   +32 u32 lastFwdSent  E  fwd_cnt carried by our last packet
//   +36 u32 bufAlloc     E  our receive buffer (the rx ring size)
//   +40 u32 peerShut     E  SHUTDOWN flags received (permanent, §5.10.6.5)
//   +44 u32 localShut    E  SHUTDOWN flags sent or owed
//   +48 u32 appReq       A sets bits (atomic or), E clears them         AR_*
//   +52 u32 closeReason  E  why the connection is CLOSED                CR_*
//   +56 u32 generation   A/E  bumped by whoever claims the slot
//   +60 u32 origin       E  ORIGIN_*
//   +64 u32 rxTail       A  bytes the app consumed = our fwd_cnt
//   +68 u32 txHead       A  bytes the app wrote into the tx ring
//   +72 u32 connFlags    E  CF_*

import { HDR_BYTES, HDR_LAYOUT_VERSION, HDR_MAGIC, HDR_SIZE_BYTES, headerOk } from '../common/header';

export const EP_MAGIC: u32 = 0x50455356; // 'VSEP'
export const EP_LAYOUT: u32 = 1;

export const EP_FLAGS: u32 = 64;
export const EP_LOCAL_CID: u32 = 68;
export const EP_PEER_CID: u32 = 72;
export const EP_MAX_CONNS: u32 = 76;
export const EP_RING_BYTES: u32 = 80;
export const EP_APP_DOORBELL: u32 = 84;
export const EP_HIGH_WATER: u32 = 88;
export const EP_RR_NEXT: u32 = 92;
export const EP_RST_HEAD: u32 = 96;
export const EP_RST_TAIL: u32 = 100;
export const EP_NEXT_PORT: u32 = 104;
export const EP_PAYLOAD_HINT: u32 = 108;
export const EP_MAX_PAYLOAD: u32 = 112;
export const EP_APP_SIGNAL: u32 = 116;
export const EP_GUEST_MAP: u32 = 120;
export const EP_COUNTERS: u32 = 128;
export const EP_LISTENERS: u32 = 384;
export const EP_LISTENER_BYTES: u32 = 8;
export const EP_MAX_LISTENERS: u32 = 16;
export const EP_RST_QUEUE: u32 = 512;
export const EP_RST_SLOTS: u32 = 32;
export const EP_SCRATCH: u32 = 768;
export const EP_CONNS: u32 = 832;
export const CONN_BYTES: u32 = 128;

/** EP_FLAGS: this endpoint is the device side (its writes into the peer's buffers are DMA into guest RAM). */
export const EPF_DEVICE: u32 = 1;

export const CONN_STATE: u32 = 0;
export const CONN_LOCAL_PORT: u32 = 4;
export const CONN_PEER_PORT: u32 = 8;
export const CONN_PENDING: u32 = 12;
export const CONN_PEER_BUF_ALLOC: u32 = 16;
export const CONN_PEER_FWD_CNT: u32 = 20;
export const CONN_TX_CNT: u32 = 24;
export const CONN_RX_CNT: u32 = 28;
export const CONN_LAST_FWD_SENT: u32 = 32;
export const CONN_BUF_ALLOC: u32 = 36;
export const CONN_PEER_SHUT: u32 = 40;
export const CONN_LOCAL_SHUT: u32 = 44;
export const CONN_APP_REQ: u32 = 48;
export const CONN_CLOSE_REASON: u32 = 52;
export const CONN_GENERATION: u32 = 56;
export const CONN_ORIGIN: u32 = 60;
export const CONN_RX_TAIL: u32 = 64;
export const CONN_TX_HEAD: u32 = 68;
export const CONN_FLAGS: u32 = 72;

// Connection states.
export const CS_FREE: u32 = 0;
/** The app took the slot to connect from it (compare-exchange from FREE); it fills the ports, then posts AR_CONNECT. */
export const CS_CLAIMED: u32 = 1;
/** REQUEST sent (or owed); waiting for RESPONSE. */
export const CS_CONNECTING: u32 = 2;
export const CS_ESTABLISHED: u32 = 3;
/** We shut down both directions (SHUTDOWN sent or owed) and wait for the peer's RST (§5.10.6.5). */
export const CS_CLOSING: u32 = 4;
/** Dead: nothing more goes on the wire but an owed RST; the app drains its rx ring, then releases the slot. */
export const CS_CLOSED: u32 = 5;
/** The engine is filling a slot it claimed for an incoming connection (the app ignores it). */
export const CS_INIT: u32 = 6;

// Control packets owed to the peer (CONN_PENDING).
export const P_REQUEST: u32 = 1;
export const P_RESPONSE: u32 = 2;
export const P_RST: u32 = 4;
export const P_SHUTDOWN: u32 = 8;
export const P_CREDIT_UPDATE: u32 = 16;
export const P_CREDIT_REQUEST: u32 = 32;

// Application requests (CONN_APP_REQ).
export const AR_CONNECT: u32 = 1;
export const AR_SHUT_SEND: u32 = 2;
export const AR_SHUT_RCV: u32 = 4;
export const AR_CLOSE: u32 = 8;
export const AR_ABORT: u32 = 16;
export const AR_RELEASE: u32 = 32;

// Why a connection closed (CONN_CLOSE_REASON).
export const CR_NONE: u32 = 0;
/** The peer answered our REQUEST with RST (nobody listening, or no room). */
export const CR_REFUSED: u32 = 1;
/** The peer reset an established connection. */
export const CR_RESET: u32 = 2;
/** A clean close: both sides shut down and the RST ended it (§5.10.6.5). */
export const CR_CLEAN: u32 = 3;
/** The app aborted it (RST sent). */
export const CR_ABORTED: u32 = 4;
/** The peer broke the protocol on it (a bad-input V id); we reset it. */
export const CR_VIOLATION: u32 = 5;
/** A transport reset (device reset, migration) ended every connection (§5.10.6.7). */
export const CR_TRANSPORT: u32 = 6;
/** No free connection slot for an outgoing connect. */
export const CR_NO_SLOT: u32 = 7;

export const ORIGIN_INCOMING: u32 = 1;
export const ORIGIN_OUTGOING: u32 = 2;

/** CONN_FLAGS: we asked the peer for credit and wait for its answer. */
export const CF_CREDIT_ASKED: u32 = 1;
/** CONN_FLAGS: a SHUTDOWN carrying SEND went out; no data may follow it. */
export const CF_SHUT_SENT: u32 = 2;

// Counters (u64 at EP_COUNTERS + 8·index). Numbers are stable: tests and docs name them.
export const EPC_RX_PACKETS: u32 = 0;
export const EPC_RX_BYTES: u32 = 1;
export const EPC_TX_PACKETS: u32 = 2;
export const EPC_TX_BYTES: u32 = 3;
export const EPC_RST_SENT: u32 = 4;
export const EPC_RST_RECEIVED: u32 = 5;
export const EPC_CONNS_OPENED: u32 = 6;
export const EPC_CONNS_CLOSED: u32 = 7;
export const EPC_MALFORMED: u32 = 8;
export const EPC_SPOOFED: u32 = 9;
export const EPC_UNKNOWN_TYPE: u32 = 10;
export const EPC_UNKNOWN_OP: u32 = 11;
export const EPC_CREDIT_VIOLATIONS: u32 = 12;
export const EPC_NO_CONNECTION: u32 = 13;
export const EPC_NO_LISTENER: u32 = 14;
export const EPC_NO_SLOT: u32 = 15;
export const EPC_RST_DROPPED: u32 = 16;
export const EPC_CREDIT_UPDATES: u32 = 17;
export const EPC_CREDIT_REQUESTS: u32 = 18;
export const EPC_PROTOCOL_ERRORS: u32 = 19;
export const EPC_BAD_FWD_CNT: u32 = 20;
export const EPC_RX_BUF_REJECTED: u32 = 21;
export const EPC_TRANSPORT_RESETS: u32 = 22;
/** Receive buffers popped and returned empty (the packet count was an overestimate: never expected). */
export const EPC_RX_WASTED: u32 = 23;
export const EPC_COUNT: u32 = 32;

/** First port handed out to outgoing connections that did not name one. */
export const EP_EPHEMERAL_FIRST: u32 = 49152;

@inline export function connAt(ep: usize, i: u32): usize {
  return ep + EP_CONNS + <usize>i * CONN_BYTES;
}

@inline export function ringsBase(ep: usize): usize {
  return ep + ((EP_CONNS + load<u32>(ep, EP_MAX_CONNS) * CONN_BYTES + 63) & ~63);
}

/** Host address of connection i's receive ring (peer → app). */
@inline export function rxRing(ep: usize, i: u32): usize {
  return ringsBase(ep) + <usize>i * 2 * <usize>load<u32>(ep, EP_RING_BYTES);
}

/** Host address of connection i's transmit ring (app → peer). */
@inline export function txRing(ep: usize, i: u32): usize {
  return rxRing(ep, i) + <usize>load<u32>(ep, EP_RING_BYTES);
}

@inline export function bumpCounter(ep: usize, c: u32, by: u64 = 1): void {
  const at = ep + EP_COUNTERS + ((<usize>c) << 3);
  store<u64>(at, load<u64>(at) + by);
}

/**
 * Connections [0, highWater) are scanned. Both sides claim slots (the app for outgoing
 * connections, the engine for incoming ones), so the mark only ever rises, by compare-exchange.
 */
export function raiseHighWater(ep: usize, i: u32): void {
  for (;;) {
    const hw = atomic.load<u32>(ep, EP_HIGH_WATER);
    if (i < hw || atomic.cmpxchg<u32>(ep + EP_HIGH_WATER, hw, i + 1) == hw) return;
  }
}

/** Bytes of an endpoint region (header included) for maxConns connections of ringBytes per direction. */
export function endpointBytes(maxConns: u32, ringBytes: u32): u32 {
  return ((EP_CONNS + maxConns * CONN_BYTES + 63) & ~63) + maxConns * 2 * ringBytes;
}

/**
 * Initialises an endpoint in `regionBytes` at `ep` and writes its header (magic, layout, size;
 * the kind word is left as the allocator wrote it). Returns 0, or -1 when the geometry is
 * refused: 1..1024 connections, rings a power of two in [4 KiB, 1 MiB], a payload limit in
 * [1, 64 KiB], a region large enough.
 */
export function endpointInit(
  ep: usize,
  regionBytes: u32,
  flags: u32,
  localCid: u32,
  peerCid: u32,
  maxConns: u32,
  ringBytes: u32,
  appDoorbell: usize,
  maxPayload: u32,
): i32 {
  if (maxConns == 0 || maxConns > 1024) return -1;
  if (ringBytes < 4096 || ringBytes > 1 << 20 || (ringBytes & (ringBytes - 1)) != 0) return -1;
  if (maxPayload == 0 || maxPayload > 65536) return -1;
  if (<u64>endpointBytes(maxConns, ringBytes) > <u64>regionBytes) return -1;
  store<u32>(ep, EP_MAGIC, HDR_MAGIC);
  store<u32>(ep, EP_LAYOUT, HDR_LAYOUT_VERSION);
  store<u32>(ep, regionBytes, HDR_SIZE_BYTES);
  memory.fill(ep + HDR_BYTES, 0, <usize>(EP_CONNS + maxConns * CONN_BYTES) - HDR_BYTES);
  store<u32>(ep, flags, EP_FLAGS);
  store<u32>(ep, localCid, EP_LOCAL_CID);
  store<u32>(ep, peerCid, EP_PEER_CID);
  store<u32>(ep, maxConns, EP_MAX_CONNS);
  store<u32>(ep, ringBytes, EP_RING_BYTES);
  store<u32>(ep, <u32>appDoorbell, EP_APP_DOORBELL);
  store<u32>(ep, EP_EPHEMERAL_FIRST, EP_NEXT_PORT);
  store<u32>(ep, maxPayload, EP_PAYLOAD_HINT);
  store<u32>(ep, maxPayload, EP_MAX_PAYLOAD);
  return 0;
}

/** The guest memory map the engine's writes into the peer's buffers go through; 0: plain copies. */
@inline export function guestMap(ep: usize): usize {
  return <usize>load<u32>(ep, EP_GUEST_MAP);
}

/** Check on entry of every engine call: magic, layout, and a geometry that fits the region. */
@inline export function endpointOk(ep: usize): bool {
  if (!headerOk(ep, EP_MAGIC, EP_LAYOUT, EP_CONNS)) return false;
  const n = load<u32>(ep, EP_MAX_CONNS);
  const rb = load<u32>(ep, EP_RING_BYTES);
  return (
    n != 0 &&
    n <= 1024 &&
    rb >= 4096 &&
    rb <= 1 << 20 &&
    <u64>endpointBytes(n, rb) <= <u64>load<u32>(ep, HDR_SIZE_BYTES) &&
    load<u32>(ep, EP_HIGH_WATER) <= n
  );
}

/** Wakes the application if something it can see changed during this run (one notify per run). */
export function signalApp(ep: usize): void {
  if (load<u32>(ep, EP_APP_SIGNAL) == 0) return;
  store<u32>(ep, 0, EP_APP_SIGNAL);
  const db = <usize>load<u32>(ep, EP_APP_DOORBELL);
  if (db != 0) {
    atomic.add<i32>(db, 1);
    atomic.notify(db, -1);
  }
}

@inline export function markAppSignal(ep: usize): void {
  store<u32>(ep, 1, EP_APP_SIGNAL);
}

/**
 * Moves a connection to CLOSED for `reason` (the app sees it and releases the slot). With
 * `rst`, an RST is owed to the peer and is the only thing still sent; unsent data is dropped.
 */
export function closeConn(ep: usize, c: usize, reason: u32, rst: bool): void {
  store<u32>(c, rst ? P_RST : 0, CONN_PENDING);
  store<u32>(c, reason, CONN_CLOSE_REASON);
  // Unsent data is dropped: the transmit ring's consumer catches up with the app's writes.
  atomic.store<u32>(c, atomic.load<u32>(c, CONN_TX_HEAD), CONN_TX_CNT);
  atomic.store<u32>(c, CS_CLOSED, CONN_STATE);
  bumpCounter(ep, EPC_CONNS_CLOSED);
  markAppSignal(ep);
}

/** Queues an RST reply to a packet that names no connection; counts it when the queue is full. */
export function queueRst(ep: usize, localPort: u32, peerPort: u32): void {
  const head = load<u32>(ep, EP_RST_HEAD);
  const tail = load<u32>(ep, EP_RST_TAIL);
  if (tail - head >= EP_RST_SLOTS) {
    bumpCounter(ep, EPC_RST_DROPPED);
    return;
  }
  const e = ep + EP_RST_QUEUE + <usize>((tail & (EP_RST_SLOTS - 1)) * 8);
  store<u32>(e, localPort, 0);
  store<u32>(e, peerPort, 4);
  store<u32>(ep, tail + 1, EP_RST_TAIL);
}

/** The established-or-opening connection for (localPort, peerPort), or 0. */
export function findConn(ep: usize, localPort: u32, peerPort: u32): usize {
  const hw = load<u32>(ep, EP_HIGH_WATER);
  for (let i: u32 = 0; i < hw; i++) {
    const c = connAt(ep, i);
    const s = atomic.load<u32>(c, CONN_STATE);
    if (s < CS_CONNECTING || s > CS_CLOSING) continue;
    if (load<u32>(c, CONN_LOCAL_PORT) == localPort && load<u32>(c, CONN_PEER_PORT) == peerPort) return c;
  }
  return 0;
}

/** True when an active listener exists for `port`. */
export function listening(ep: usize, port: u32): bool {
  for (let i: u32 = 0; i < EP_MAX_LISTENERS; i++) {
    const l = ep + EP_LISTENERS + <usize>(i * EP_LISTENER_BYTES);
    if (atomic.load<u32>(l, 4) != 0 && load<u32>(l) == port) return true;
  }
  return false;
}

/** Free bytes in our receive ring: the credit the peer may use (§5.10.6.3). */
@inline export function rxFree(c: usize): u32 {
  return load<u32>(c, CONN_BUF_ALLOC) - (load<u32>(c, CONN_RX_CNT) - atomic.load<u32>(c, CONN_RX_TAIL));
}

/** peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt), never below zero (§5.10.6.3). */
@inline export function peerFree(c: usize): u32 {
  const inFlight = load<u32>(c, CONN_TX_CNT) - load<u32>(c, CONN_PEER_FWD_CNT);
  const alloc = load<u32>(c, CONN_PEER_BUF_ALLOC);
  return inFlight >= alloc ? 0 : alloc - inFlight;
}

/**
 * Ends every live connection for `reason` without a word on the wire: after a transport reset
 * the peer drops its connections too (§5.10.6.7), and a broken device cannot send. Owed RST
 * replies are forgotten. Returns how many connections it closed.
 */
export function closeAll(ep: usize, reason: u32): u32 {
  const hw = atomic.load<u32>(ep, EP_HIGH_WATER);
  let n: u32 = 0;
  for (let i: u32 = 0; i < hw; i++) {
    const c = connAt(ep, i);
    const s = atomic.load<u32>(c, CONN_STATE);
    if (s >= CS_CONNECTING && s <= CS_CLOSING) {
      closeConn(ep, c, reason, false);
      n++;
    } else if (s == CS_CLOSED) {
      store<u32>(c, 0, CONN_PENDING);
    }
  }
  store<u32>(ep, load<u32>(ep, EP_RST_TAIL), EP_RST_HEAD);
  markAppSignal(ep);
  return n;
}
