// Hosts: the sender (flows in a round-robin ring on the NIC, window and pacing from the CC law,
// selective retransmission with an IRN-style in-flight cap and RTO, or go-back-N on timeout)
// and the receiver (cumulative ACK + the sequence that triggered it + ECN echo + INT echo, one
// ACK per data packet; the ACK reuses the data packet's record, so INT is echoed without a copy).
//
// Sequence numbers count packets; packet i carries MTU payload bytes except the last.
// SACK maps are 256-bit rings indexed by sequence mod SACK_BITS: valid because at most
// SACK_BITS packets are outstanding in SACK mode (C_INFLIGHT_CAP <= SACK_BITS).
import { S_RATE, S_WINDOW } from '../cc/layout';
import { ccAdvance, ccInit, ccOnAck, ccOnTimeout } from '../cc/law';
import * as C from './ctx';
import * as L from './layout';
import { enqueue, kick } from './port';

const NONE: u32 = 0xffffffff;

@inline function bitAddr(f: usize, map: usize, seq: u32): usize {
  return f + map + <usize>(((seq & (L.SACK_BITS - 1)) >> 6) << 3);
}
@inline function bitGet(f: usize, map: usize, seq: u32): bool {
  return ((load<u64>(bitAddr(f, map, seq)) >> (<u64>(seq & 63))) & 1) != 0;
}
@inline function bitSet(f: usize, map: usize, seq: u32): void {
  const a = bitAddr(f, map, seq);
  store<u64>(a, load<u64>(a) | ((<u64>1) << u64(seq & 63)));
}
@inline function bitClear(f: usize, map: usize, seq: u32): void {
  const a = bitAddr(f, map, seq);
  store<u64>(a, load<u64>(a) & ~((<u64>1) << u64(seq & 63)));
}

@inline function payloadOf(f: usize, seq: u32): u32 {
  const last = load<u32>(f, L.F_PKTS) - 1;
  return seq < last ? C.MTU : load<u32>(f, L.F_SIZE) - last * C.MTU;
}

/** The NIC port of host node `h` (a host has exactly one port). */
function hostPort(h: u32): u32 {
  return load<u32>(C.node(h), L.N_FIRST_PORT);
}

// ---- active ring ---------------------------------------------------------------------------
function ringAdd(nd: usize, fi: u32): void {
  const f = C.flow(fi);
  const head = load<u32>(nd, L.N_ACTIVE);
  if (head == 0) {
    store<u32>(f, fi + 1, L.F_NEXT_ACTIVE);
    store<u32>(f, fi + 1, L.F_PREV_ACTIVE);
    store<u32>(nd, fi + 1, L.N_ACTIVE);
    return;
  }
  // Insert before head (= at the tail of the round).
  const h = C.flow(head - 1);
  const tail = load<u32>(h, L.F_PREV_ACTIVE);
  store<u32>(f, head, L.F_NEXT_ACTIVE);
  store<u32>(f, tail, L.F_PREV_ACTIVE);
  store<u32>(C.flow(tail - 1), fi + 1, L.F_NEXT_ACTIVE);
  store<u32>(h, fi + 1, L.F_PREV_ACTIVE);
}

function ringRemove(nd: usize, fi: u32): void {
  const f = C.flow(fi);
  const next = load<u32>(f, L.F_NEXT_ACTIVE);
  if (next == fi + 1) {
    store<u32>(nd, 0, L.N_ACTIVE);
    return;
  }
  const prev = load<u32>(f, L.F_PREV_ACTIVE);
  store<u32>(C.flow(prev - 1), next, L.F_NEXT_ACTIVE);
  store<u32>(C.flow(next - 1), prev, L.F_PREV_ACTIVE);
  if (load<u32>(nd, L.N_ACTIVE) == fi + 1) store<u32>(nd, next, L.N_ACTIVE);
}

// ---- sender ----------------------------------------------------------------------------------
/** FLOW_START: the flow joins its host's ring; the next flow's start is scheduled. */
export function onFlowStart(fi: u32, now: i64): void {
  const f = C.flow(fi);
  store<u32>(f, L.FS_ACTIVE, L.F_STATE);
  store<i64>(f, now, L.F_NEXT_AVAIL);
  store<i64>(f, now, L.F_PROGRESS_PS);
  ccInit(C.PARAMS, C.ccState(fi));
  const h = load<u32>(f, L.F_SRC);
  ringAdd(C.node(h), fi);
  store<i64>(C.node(h), 0, L.N_IDLE_UNTIL);
  kick(hostPort(h), now);
  const next = fi + 1;
  store<u32>(C.S, next, L.C_NEXT_FLOW);
  if (next < load<u32>(C.S, L.C_FLOWS)) C.schedule(load<i64>(C.flow(next), L.F_START_PS), L.EV_FLOW_START, next);
}

/** The next sequence flow `f` may send now (a hole to repair first, then new data), or NONE. */
function nextSeq(f: usize, fi: u32): u32 {
  const una = load<u32>(f, L.F_SND_UNA);
  const nxt = load<u32>(f, L.F_SND_NXT);
  if ((load<u32>(f, L.F_STATE) & L.FS_RECOVERY) != 0) {
    let s = load<u32>(f, L.F_RTX_CURSOR);
    if (s < una) s = una;
    let high = load<u32>(f, L.F_SACK_HIGH);
    if (high > nxt) high = nxt;
    while (s < high && bitGet(f, L.F_SND_MAP, s)) s++;
    store<u32>(f, s, L.F_RTX_CURSOR);
    if (s < high) return s;
  }
  if (nxt >= load<u32>(f, L.F_PKTS)) return NONE;
  const out = nxt - una;
  const win = load<f64>(C.ccState(fi), S_WINDOW);
  if (win > 0 && <f64>out * <f64>C.MTU >= win) return NONE;
  if ((C.FLAGS & L.CF_SACK) != 0 && out >= load<u32>(C.S, L.C_INFLIGHT_CAP)) return NONE;
  return nxt;
}

/**
 * The host NIC's next data packet: round robin over flows that may send now. A scan that finds
 * none records until when none can (N_IDLE_UNTIL: the earliest pacing release); the events that
 * can make a flow eligible earlier (a flow starts, an ACK, a timeout, a wake-up) clear or lower
 * it, so a NIC whose flows are all paced or window-bound does not rescan its ring per packet.
 */
export function hostNextPacket(nd: usize, now: i64): u32 {
  const head = load<u32>(nd, L.N_ACTIVE);
  if (head == 0) return NONE;
  if (load<i64>(nd, L.N_IDLE_UNTIL) > now) return NONE;
  let fi1 = head;
  let wake: i64 = i64.MAX_VALUE;
  do {
    const fi = fi1 - 1;
    const f = C.flow(fi);
    fi1 = load<u32>(f, L.F_NEXT_ACTIVE);
    const avail = load<i64>(f, L.F_NEXT_AVAIL);
    if (avail > now) {
      if (avail < wake) wake = avail;
      continue;
    }
    const seq = nextSeq(f, fi);
    if (seq == NONE) continue;
    store<u32>(nd, fi1, L.N_ACTIVE); // the round resumes after this flow
    return buildData(f, fi, seq, now);
  } while (fi1 != head);
  store<i64>(nd, wake, L.N_IDLE_UNTIL);
  if (wake != i64.MAX_VALUE) wakeAt(nd, wake, now);
  return NONE;
}

/** Makes sure host `nd` gets a WAKE at or before `t`. */
function wakeAt(nd: usize, t: i64, now: i64): void {
  const pending = load<i64>(nd, L.N_WAKE_PS);
  if (pending <= now || pending > t) {
    store<i64>(nd, t, L.N_WAKE_PS);
    C.schedule(t, L.EV_WAKE, <u32>((nd - C.NODES) / <usize>L.NODE_BYTES));
  }
}

function buildData(f: usize, fi: u32, seq: u32, now: i64): u32 {
  const k = C.pktAlloc();
  if (k == NONE) return NONE;
  const kp = C.pkt(k);
  const payload = payloadOf(f, seq);
  const wire = payload + C.HDR + C.INT_WIRE;
  store<u32>(kp, fi, L.K_FLOW);
  store<u32>(kp, seq, L.K_SEQ);
  store<u32>(kp, wire, L.K_WIRE);
  store<u32>(kp, L.KT_DATA, L.K_TYPE);
  store<i64>(kp, now, L.K_TS);
  store<u32>(kp, 0, L.K_NHOP);
  store<u32>(kp, load<u32>(C.node(load<u32>(f, L.F_DST)), L.N_INDEX), L.K_DST);
  store<u32>(kp, load<u32>(f, L.F_HASH), L.K_HASH);
  store<u32>(kp, payload, L.K_PAYLOAD);
  const nxt = load<u32>(f, L.F_SND_NXT);
  if (seq < nxt) {
    store<u32>(kp, L.KF_RTX, L.K_FLAGS);
    store<u32>(f, load<u32>(f, L.F_RTX_COUNT) + 1, L.F_RTX_COUNT);
    C.addU64(L.C_RTX, 1);
    store<u32>(f, seq + 1, L.F_RTX_CURSOR);
  } else {
    store<u32>(kp, 0, L.K_FLAGS);
    store<u32>(f, nxt + 1, L.F_SND_NXT);
    C.addU64(L.C_INJECTED_BYTES, <u64>payload);
  }
  const cc = C.ccState(fi);
  ccAdvance(C.PARAMS, cc, <f64>now);
  // Pacing: the next packet of this flow no earlier than one packet time at the CC rate.
  store<i64>(f, now + <i64>((<f64>wire * 8e12) / load<f64>(cc, S_RATE)), L.F_NEXT_AVAIL);
  if (load<i64>(f, L.F_TIMER_PS) == 0) armRto(f, fi, now);
  return k;
}

@inline function rtoOf(f: usize): i64 {
  return load<u32>(f, L.F_SND_NXT) - load<u32>(f, L.F_SND_UNA) <= 3
    ? load<i64>(C.S, L.C_RTO_LOW_PS)
    : load<i64>(C.S, L.C_RTO_HIGH_PS);
}

function armRto(f: usize, fi: u32, now: i64): void {
  const t = load<i64>(f, L.F_PROGRESS_PS) + rtoOf(f);
  const at = t > now ? t : now + rtoOf(f);
  store<i64>(f, at, L.F_TIMER_PS);
  C.schedule(at, L.EV_RTO, fi);
}

/** RTO timer: fires lazily; a flow that made progress since is re-armed, not timed out. */
export function onRto(fi: u32, now: i64): void {
  const f = C.flow(fi);
  store<i64>(f, 0, L.F_TIMER_PS);
  const state = load<u32>(f, L.F_STATE);
  if ((state & L.FS_DONE) != 0) return;
  const una = load<u32>(f, L.F_SND_UNA);
  const nxt = load<u32>(f, L.F_SND_NXT);
  if (una >= nxt) return; // nothing outstanding: re-armed by the next send
  const deadline = load<i64>(f, L.F_PROGRESS_PS) + rtoOf(f);
  if (now < deadline) {
    store<i64>(f, deadline, L.F_TIMER_PS);
    C.schedule(deadline, L.EV_RTO, fi);
    return;
  }
  C.addU64(L.C_TIMEOUTS, 1);
  store<u32>(f, load<u32>(f, L.F_TIMEOUTS) + 1, L.F_TIMEOUTS);
  ccOnTimeout(C.PARAMS, C.ccState(fi));
  if ((C.FLAGS & L.CF_SACK) != 0) {
    store<u32>(f, state | L.FS_RECOVERY, L.F_STATE);
    store<u32>(f, nxt, L.F_RECOVER);
    store<u32>(f, una, L.F_RTX_CURSOR);
    store<u32>(f, nxt, L.F_SACK_HIGH);
  } else {
    store<u32>(f, una, L.F_SND_NXT); // go-back-N
  }
  store<i64>(f, now, L.F_PROGRESS_PS);
  store<i64>(f, now, L.F_NEXT_AVAIL);
  armRto(f, fi, now);
  store<i64>(C.node(load<u32>(f, L.F_SRC)), 0, L.N_IDLE_UNTIL);
  kick(hostPort(load<u32>(f, L.F_SRC)), now);
}

/** WAKE: a paced flow of this host may send now. */
export function onWake(h: u32, now: i64): void {
  const nd = C.node(h);
  if (load<i64>(nd, L.N_WAKE_PS) == now) store<i64>(nd, 0, L.N_WAKE_PS);
  if (load<i64>(nd, L.N_IDLE_UNTIL) <= now) store<i64>(nd, 0, L.N_IDLE_UNTIL);
  kick(hostPort(h), now);
}

/** An ACK reached the sender. */
function onAck(k: u32, now: i64): void {
  const kp = C.pkt(k);
  const fi = load<u32>(kp, L.K_FLOW);
  const f = C.flow(fi);
  let state = load<u32>(f, L.F_STATE);
  if ((state & L.FS_DONE) != 0) {
    C.pktFree(k);
    return;
  }
  const ackSeq = load<u32>(kp, L.K_ACK_SEQ);
  const sackSeq = load<u32>(kp, L.K_SACK_SEQ);
  let una = load<u32>(f, L.F_SND_UNA);
  let acked: u32 = 0;
  const sack = (C.FLAGS & L.CF_SACK) != 0;
  if (sack && sackSeq >= ackSeq && sackSeq >= una && sackSeq - una < L.SACK_BITS) {
    if (!bitGet(f, L.F_SND_MAP, sackSeq)) {
      bitSet(f, L.F_SND_MAP, sackSeq);
      acked++;
    }
    if (sackSeq + 1 > load<u32>(f, L.F_SACK_HIGH)) store<u32>(f, sackSeq + 1, L.F_SACK_HIGH);
    if ((state & L.FS_RECOVERY) == 0) {
      // A later packet arrived before ackSeq: with per-flow ECMP paths and FIFO queues only a
      // loss reorders, so the hole is repaired at once (IRN).
      state |= L.FS_RECOVERY;
      store<u32>(f, state, L.F_STATE);
      store<u32>(f, load<u32>(f, L.F_SND_NXT), L.F_RECOVER);
      store<u32>(f, ackSeq, L.F_RTX_CURSOR);
    }
  }
  if (ackSeq > una) {
    let bytes: u64 = 0;
    for (let s = una; s < ackSeq; s++) {
      if (sack && bitGet(f, L.F_SND_MAP, s)) bitClear(f, L.F_SND_MAP, s);
      else acked++;
      bytes += <u64>payloadOf(f, s);
    }
    una = ackSeq;
    store<u32>(f, una, L.F_SND_UNA);
    store<i64>(f, now, L.F_PROGRESS_PS);
    store<u64>(f, load<u64>(f, L.F_ACKED_BYTES) + bytes, L.F_ACKED_BYTES);
    if ((state & L.FS_RECOVERY) != 0 && una >= load<u32>(f, L.F_RECOVER)) {
      state &= ~L.FS_RECOVERY;
      store<u32>(f, state, L.F_STATE);
    }
  }
  const nhop = load<u32>(kp, L.K_NHOP);
  store<u32>(f, nhop, L.F_HOPS);
  ccOnAck(
    C.PARAMS,
    C.ccState(fi),
    <f64>now,
    acked,
    (load<u32>(kp, L.K_FLAGS) & L.KF_ECE) != 0,
    una,
    load<u32>(f, L.F_SND_NXT),
    <f64>(now - load<i64>(kp, L.K_TS)),
    nhop,
    C.pktInt(k),
  );
  C.pktFree(k);
  const h = load<u32>(f, L.F_SRC);
  if (una >= load<u32>(f, L.F_PKTS)) {
    store<u32>(f, L.FS_DONE, L.F_STATE);
    store<i64>(f, now, L.F_FINISH_PS);
    store<u32>(C.S, load<u32>(C.S, L.C_FINISHED) + 1, L.C_FINISHED);
    ringRemove(C.node(h), fi);
    return;
  }
  // This ACK can only have made this flow eligible: keep the host's idle bound exact.
  const nd = C.node(h);
  const until = load<i64>(nd, L.N_IDLE_UNTIL);
  if (until > now) {
    const avail = load<i64>(f, L.F_NEXT_AVAIL);
    if (avail <= now) {
      if (nextSeq(f, fi) != NONE) store<i64>(nd, 0, L.N_IDLE_UNTIL);
    } else if (avail < until) {
      store<i64>(nd, avail, L.N_IDLE_UNTIL);
      wakeAt(nd, avail, now);
    }
  }
  kick(hostPort(h), now);
}

// ---- receiver --------------------------------------------------------------------------------
/** A data packet reached its destination: deliver, and turn the record into the ACK. */
function onData(h: u32, k: u32, now: i64): void {
  const kp = C.pkt(k);
  const fi = load<u32>(kp, L.K_FLOW);
  const f = C.flow(fi);
  const seq = load<u32>(kp, L.K_SEQ);
  let rcv = load<u32>(f, L.F_RCV_NXT);
  if (seq == rcv) {
    let bytes = <u64>payloadOf(f, seq);
    rcv++;
    while (bitGet(f, L.F_RCV_MAP, rcv)) {
      bitClear(f, L.F_RCV_MAP, rcv);
      bytes += <u64>payloadOf(f, rcv);
      rcv++;
    }
    store<u32>(f, rcv, L.F_RCV_NXT);
    C.addU64(L.C_DELIVERED_BYTES, bytes);
  } else if (seq > rcv) {
    C.addU64(L.C_OOO_ARRIVALS, 1);
    if (seq - rcv < L.SACK_BITS && (C.FLAGS & L.CF_SACK) != 0) bitSet(f, L.F_RCV_MAP, seq);
  }
  const ce = (load<u32>(kp, L.K_FLAGS) & L.KF_CE) != 0;
  store<u32>(kp, L.KT_ACK, L.K_TYPE);
  store<u32>(kp, C.ACK_BYTES, L.K_WIRE);
  store<u32>(kp, ce ? L.KF_ECE : 0, L.K_FLAGS);
  store<u32>(kp, rcv, L.K_ACK_SEQ);
  store<u32>(kp, seq, L.K_SACK_SEQ);
  store<u32>(kp, load<u32>(C.node(load<u32>(f, L.F_SRC)), L.N_INDEX), L.K_DST);
  store<u32>(kp, load<u32>(f, L.F_HASH) ^ 0x5bd1e995, L.K_HASH);
  store<u32>(kp, 0, L.K_PAYLOAD);
  const pi = hostPort(h);
  enqueue(C.port(pi), k, (C.FLAGS & L.CF_ACK_HIGH_PRIO) != 0 ? 0 : 1);
  kick(pi, now);
}

/** A data packet or ACK arrived at host `h`. */
export function hostReceive(h: u32, k: u32, now: i64): void {
  if (load<u32>(C.pkt(k), L.K_TYPE) == L.KT_DATA) onData(h, k, now);
  else onAck(k, now);
}
