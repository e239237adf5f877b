// Ports, queues and switches: strict-priority egress queues (control, data), serialization at the
// link rate, propagation, ECN/RED marking and INT stamping at dequeue, a shared switch buffer
// with PFC dynamic thresholds (lossless) or dynamic-threshold drops (lossy), and ECMP.
//
// Queues are singly linked lists of packet records (index + 1; 0 = empty):
//   PT_Q*_HEAD -> pkt.K_NEXT -> ... -> PT_Q*_TAIL
// Each switch's buffer accounting follows the HPCC authors' simulator (docs/congestion-control.md,
// "The simulator": Switches): an ingress port first fills its reserve, then the shared pool up to
// the dynamic threshold (buffer - headroom - reserve - shared used) >> shift, then its headroom,
// and pauses its upstream as soon as it uses headroom or reaches the threshold.
import { H_QLEN, H_RATE, H_TS, H_TX_BYTES, INT_HOP_BYTES, INT_MAX_HOPS } from '../cc/layout';
import * as C from './ctx';
import { hostNextPacket } from './host';
import * as L from './layout';

@inline function qHead(prio: u32): usize {
  return prio == 0 ? L.PT_Q0_HEAD : L.PT_Q1_HEAD;
}

export function enqueue(p: usize, k: u32, prio: u32): void {
  const q = p + qHead(prio); // q+0 head, q+4 tail, q+8 bytes
  const kp = C.pkt(k);
  store<u32>(kp, 0, L.K_NEXT);
  const tail = load<u32>(q + 4);
  if (tail == 0) store<u32>(q, k + 1);
  else store<u32>(C.pkt(tail - 1), k + 1, L.K_NEXT);
  store<u32>(q + 4, k + 1);
  const bytes = load<u32>(q + 8) + load<u32>(kp, L.K_WIRE);
  store<u32>(q + 8, bytes);
  if (prio != 0 && bytes > load<u32>(p, L.PT_MAX_Q)) store<u32>(p, bytes, L.PT_MAX_Q);
}

function dequeue(p: usize, prio: u32): u32 {
  const q = p + qHead(prio); // q+0 head, q+4 tail, q+8 bytes
  const k = load<u32>(q) - 1;
  const kp = C.pkt(k);
  const next = load<u32>(kp, L.K_NEXT);
  store<u32>(q, next);
  if (next == 0) store<u32>(q + 4, 0);
  store<u32>(q + 8, load<u32>(q + 8) - load<u32>(kp, L.K_WIRE));
  return k;
}

/** Makes the port transmit if it is idle, or makes sure it looks again when it frees up. */
export function kick(pi: u32, now: i64): void {
  const p = C.port(pi);
  const flags = load<u32>(p, L.PT_FLAGS);
  if ((flags & L.PTF_TXDONE_PENDING) != 0) return;
  const busy = load<i64>(p, L.PT_BUSY_UNTIL);
  if (busy > now) {
    store<u32>(p, flags | L.PTF_TXDONE_PENDING, L.PT_FLAGS);
    C.schedule(busy, L.EV_TXDONE, pi);
  } else {
    transmitNext(pi, now);
  }
}

/** TXDONE: the port finished a packet. */
export function onTxDone(pi: u32, now: i64): void {
  const p = C.port(pi);
  store<u32>(p, load<u32>(p, L.PT_FLAGS) & ~L.PTF_TXDONE_PENDING, L.PT_FLAGS);
  transmitNext(pi, now);
}

function transmitNext(pi: u32, now: i64): void {
  const p = C.port(pi);
  const nd = C.node(load<u32>(p, L.PT_NODE));
  const isSwitch = load<u32>(nd, L.N_KIND) == L.NK_SWITCH;
  const paused = (load<u32>(p, L.PT_FLAGS) & L.PTF_PAUSED) != 0;
  let k: u32 = 0xffffffff;
  if (load<u32>(p, L.PT_Q0_HEAD) != 0) k = dequeue(p, 0);
  else if (!paused && load<u32>(p, L.PT_Q1_HEAD) != 0) {
    k = dequeue(p, 1);
    if (isSwitch) leaveSwitch(nd, p, k, now);
  } else if (!isSwitch && !paused) k = hostNextPacket(nd, now);
  if (k == 0xffffffff) return;
  const kp = C.pkt(k);
  const wire = load<u32>(kp, L.K_WIRE);
  const end = now + <i64>wire * <i64>load<u32>(p, L.PT_PS_PER_BYTE);
  store<i64>(p, end, L.PT_BUSY_UNTIL);
  store<u64>(p, load<u64>(p, L.PT_TX_BYTES) + <u64>wire, L.PT_TX_BYTES);
  if (load<u32>(kp, L.K_TYPE) == L.KT_DATA) store<u32>(p, load<u32>(p, L.PT_DATA_TX) + 1, L.PT_DATA_TX);
  C.addU64(L.C_PKT_HOPS, 1);
  store<u32>(kp, load<u32>(p, L.PT_PEER), L.K_PORT);
  C.schedule(end + load<i64>(p, L.PT_DELAY_PS), L.EV_ARRIVE, k);
  // Look again when this packet is out if anything may be waiting: queued packets, or (host)
  // flows that may have another packet by then.
  const more =
    load<u32>(p, L.PT_Q0_HEAD) != 0 || load<u32>(p, L.PT_Q1_HEAD) != 0 || (!isSwitch && load<u32>(nd, L.N_ACTIVE) != 0);
  if (more) {
    store<u32>(p, load<u32>(p, L.PT_FLAGS) | L.PTF_TXDONE_PENDING, L.PT_FLAGS);
    C.schedule(end, L.EV_TXDONE, pi);
  }
}

/** A data packet leaves a switch's egress queue: ECN, INT, buffer release, PFC resume. */
function leaveSwitch(nd: usize, p: usize, k: u32, now: i64): void {
  const kp = C.pkt(k);
  const wire = load<u32>(kp, L.K_WIRE);
  if (load<u32>(kp, L.K_TYPE) != L.KT_DATA) return;
  const q = load<u32>(p, L.PT_Q1_BYTES);
  const kmin = load<u32>(p, L.PT_KMIN);
  const kmax = load<u32>(p, L.PT_KMAX);
  let mark = q > kmax;
  if (!mark && q > kmin) mark = C.rand01() < (<f64>load<f32>(p, L.PT_PMAX) * <f64>(q - kmin)) / <f64>(kmax - kmin);
  if (mark) {
    store<u32>(kp, load<u32>(kp, L.K_FLAGS) | L.KF_CE, L.K_FLAGS);
    C.addU64(L.C_ECN_MARKS, 1);
  }
  const nhop = load<u32>(kp, L.K_NHOP);
  if ((C.FLAGS & L.CF_INT) != 0 && nhop < INT_MAX_HOPS) {
    const h = C.pktInt(k) + <usize>(nhop * INT_HOP_BYTES);
    store<i64>(h, now, H_TS);
    store<u32>(h, <u32>(load<u64>(p, L.PT_TX_BYTES) + <u64>wire), H_TX_BYTES);
    store<u32>(h, load<u32>(p, L.PT_Q0_BYTES) + q, H_QLEN);
    store<f64>(h, load<f64>(p, L.PT_RATE_BPS), H_RATE);
  }
  store<u32>(kp, nhop + 1, L.K_NHOP);
  store<u32>(nd, load<u32>(nd, L.N_USED) - wire, L.N_USED);
  store<u64>(C.S + L.C_QUEUED_BYTES, load<u64>(C.S + L.C_QUEUED_BYTES) - <u64>wire);
  if ((C.FLAGS & L.CF_PFC) == 0) return;
  const ip = C.port(load<u32>(kp, L.K_IN_PORT));
  const hdrm = load<u32>(ip, L.PT_IN_HDRM);
  const fromHdrm = wire < hdrm ? wire : hdrm;
  const inBytes = load<u32>(ip, L.PT_IN_BYTES);
  const rsrv = load<u32>(nd, L.N_RSRV);
  const sharedOf = inBytes > rsrv ? inBytes - rsrv : 0;
  const rest = wire - fromHdrm;
  const fromShared = rest < sharedOf ? rest : sharedOf;
  store<u32>(ip, hdrm - fromHdrm, L.PT_IN_HDRM);
  store<u32>(ip, inBytes - rest, L.PT_IN_BYTES);
  store<u32>(nd, load<u32>(nd, L.N_SHARED_USED) - fromShared, L.N_SHARED_USED);
  const ipFlags = load<u32>(ip, L.PT_FLAGS);
  if ((ipFlags & L.PTF_PAUSE_SENT) != 0 && hdrm - fromHdrm == 0) {
    const shared = inBytes - rest > rsrv ? inBytes - rest - rsrv : 0;
    if (shared == 0 || <i64>shared + <i64>load<u32>(C.S, L.C_RESUME_OFFSET) <= pfcThreshold(nd, ip)) {
      store<u32>(ip, ipFlags & ~L.PTF_PAUSE_SENT, L.PT_FLAGS);
      sendPfc(load<u32>(kp, L.K_IN_PORT), L.KT_RESUME, now);
    }
  }
}

@inline function pfcThreshold(nd: usize, ip: usize): i64 {
  const free =
    <i64>load<u32>(nd, L.N_BUFFER) -
    <i64>load<u32>(nd, L.N_HDRM_TOTAL) -
    <i64>load<u32>(nd, L.N_RSRV_TOTAL) -
    <i64>load<u32>(nd, L.N_SHARED_USED);
  return free > 0 ? free >> (<i64>load<u32>(ip, L.PT_PFC_SHIFT)) : 0;
}

/** A PAUSE or RESUME from ingress port `ipi` to the egress at the other end of its link. */
function sendPfc(ipi: u32, type: u32, now: i64): void {
  const k = C.pktAlloc();
  if (k == 0xffffffff) return;
  const kp = C.pkt(k);
  const ip = C.port(ipi);
  store<u32>(kp, type, L.K_TYPE);
  store<u32>(kp, load<u32>(ip, L.PT_PEER), L.K_PORT);
  store<u32>(kp, 0, L.K_WIRE);
  C.schedule(now + load<i64>(ip, L.PT_DELAY_PS), L.EV_ARRIVE, k);
  if (type == L.KT_PAUSE) {
    store<u32>(ip, load<u32>(ip, L.PT_PAUSES) + 1, L.PT_PAUSES);
    C.addU64(L.C_PAUSES, 1);
  }
}

/** A PFC frame reached the egress it controls. */
export function onPfc(k: u32, now: i64): void {
  const kp = C.pkt(k);
  const pi = load<u32>(kp, L.K_PORT);
  const p = C.port(pi);
  const flags = load<u32>(p, L.PT_FLAGS);
  if (load<u32>(kp, L.K_TYPE) == L.KT_PAUSE) {
    if ((flags & L.PTF_PAUSED) == 0) {
      store<u32>(p, flags | L.PTF_PAUSED, L.PT_FLAGS);
      store<i64>(p, now, L.PT_PAUSE_START);
    }
  } else if ((flags & L.PTF_PAUSED) != 0) {
    store<u32>(p, flags & ~L.PTF_PAUSED, L.PT_FLAGS);
    store<i64>(p, load<i64>(p, L.PT_PAUSED_PS) + now - load<i64>(p, L.PT_PAUSE_START), L.PT_PAUSED_PS);
    kick(pi, now);
  }
  C.pktFree(k);
}

/** ECMP: the egress toward host `dst` for a packet of hash `hash` at switch `nd`. */
@inline function route(nd: usize, dst: u32, hash: u32): u32 {
  const e = load<u32>(C.ROUTE + ((<usize>load<u32>(nd, L.N_INDEX) * <usize>C.N_HOSTS + <usize>dst) << 2));
  const count = e & ((1 << L.ROUTE_FIRST_SHIFT) - 1);
  if (count == 0) return 0xffffffff;
  // Mix the switch index in, so consecutive tiers do not pick correlated members.
  let h = hash ^ (load<u32>(nd, L.N_INDEX) * 0x9e3779b1);
  h ^= h >> 15;
  h *= 0x2c1b3c6d;
  h ^= h >> 12;
  // h * count >> 32 picks a member uniformly without a division.
  return load<u32>(C.RPORTS + ((<usize>((e >> L.ROUTE_FIRST_SHIFT) + <u32>((<u64>h * <u64>count) >> 32))) << 2));
}

/** A data or ACK packet arrived at switch `nd` through port `ipi`. */
export function switchReceive(nd: usize, ipi: u32, k: u32, now: i64): void {
  const kp = C.pkt(k);
  const epi = route(nd, load<u32>(kp, L.K_DST), load<u32>(kp, L.K_HASH));
  if (epi == 0xffffffff) {
    C.fail(L.ST_NO_ROUTE);
    C.pktFree(k);
    return;
  }
  const ep = C.port(epi);
  if (load<u32>(kp, L.K_TYPE) != L.KT_DATA) {
    enqueue(ep, k, (C.FLAGS & L.CF_ACK_HIGH_PRIO) != 0 ? 0 : 1);
    kick(epi, now);
    return;
  }
  const wire = load<u32>(kp, L.K_WIRE);
  const used = load<u32>(nd, L.N_USED);
  const buffer = load<u32>(nd, L.N_BUFFER);
  if ((C.FLAGS & L.CF_PFC) != 0) {
    if (!admitLossless(nd, ipi, wire, now)) {
      drop(ep, kp, k);
      return;
    }
  } else {
    const free = <i64>buffer - <i64>used;
    const limit = free >> (<i64>load<u32>(C.S, L.C_DT_SHIFT_LOSSY));
    if (<i64>wire > free || <i64>(load<u32>(ep, L.PT_Q1_BYTES) + wire) > limit) {
      drop(ep, kp, k);
      return;
    }
  }
  store<u32>(nd, used + wire, L.N_USED);
  store<u64>(C.S + L.C_QUEUED_BYTES, load<u64>(C.S + L.C_QUEUED_BYTES) + <u64>wire);
  store<u32>(kp, ipi, L.K_IN_PORT);
  enqueue(ep, k, 1);
  const q = load<u32>(ep, L.PT_Q1_BYTES);
  if (q > load<u32>(C.S, L.C_MAX_QUEUE)) store<u32>(C.S, q, L.C_MAX_QUEUE);
  kick(epi, now);
}

function drop(ep: usize, kp: usize, k: u32): void {
  store<u32>(ep, load<u32>(ep, L.PT_DROPS) + 1, L.PT_DROPS);
  C.addU64(L.C_DROPS, 1);
  C.addU64(L.C_DROPPED_BYTES, <u64>load<u32>(kp, L.K_PAYLOAD));
  C.pktFree(k);
}

function admitLossless(nd: usize, ipi: u32, wire: u32, now: i64): bool {
  const ip = C.port(ipi);
  const rsrv = load<u32>(nd, L.N_RSRV);
  const inBytes = load<u32>(ip, L.PT_IN_BYTES);
  const hdrm = load<u32>(ip, L.PT_IN_HDRM);
  const sharedOf = inBytes > rsrv ? inBytes - rsrv : 0;
  const thresh = pfcThreshold(nd, ip);
  if (wire + hdrm > load<u32>(nd, L.N_HDRM) && <i64>(wire + sharedOf) > thresh) return false;
  const newBytes = inBytes + wire;
  if (newBytes <= rsrv) {
    store<u32>(ip, newBytes, L.PT_IN_BYTES);
  } else if (<i64>(newBytes - rsrv) > thresh) {
    store<u32>(ip, hdrm + wire, L.PT_IN_HDRM);
  } else {
    store<u32>(ip, newBytes, L.PT_IN_BYTES);
    const over = newBytes - rsrv;
    store<u32>(nd, load<u32>(nd, L.N_SHARED_USED) + (wire < over ? wire : over), L.N_SHARED_USED);
  }
  const flags = load<u32>(ip, L.PT_FLAGS);
  if ((flags & L.PTF_PAUSE_SENT) == 0) {
    const nowIn = load<u32>(ip, L.PT_IN_BYTES);
    const shared = nowIn > rsrv ? nowIn - rsrv : 0;
    if (load<u32>(ip, L.PT_IN_HDRM) > 0 || <i64>shared >= pfcThreshold(nd, ip)) {
      store<u32>(ip, flags | L.PTF_PAUSE_SENT, L.PT_FLAGS);
      sendPfc(ipi, L.KT_PAUSE, now);
    }
  }
  return true;
}

/**
 * Queue-length histogram bin (log-linear): 1 KB bins below 16 KB, then 8 bins per power of two.
 * src/netsim/histogram.ts turns bins back into byte ranges; a test holds the two together.
 */
export function histBin(bytes: u32): u32 {
  const kb = bytes >> 10;
  if (kb < 16) return kb;
  const e = 31 - <u32>clz(kb);
  const b: u32 = 16 + (e - 4) * 8 + ((kb >> (e - 3)) & 7);
  return b < L.HIST_BINS - 1 ? b : L.HIST_BINS - 1;
}

/** One queue sample of every switch port: histogram, and the series ring for monitored ports. */
export function sampleQueues(now: i64): void {
  const n = load<u32>(C.S, L.C_PORTS);
  const cap = load<u32>(C.S, L.C_SERIES_CAP);
  for (let i: u32 = 0; i < n; i++) {
    const p = C.port(i);
    if (load<u32>(C.node(load<u32>(p, L.PT_NODE)), L.N_KIND) != L.NK_SWITCH) continue;
    const q = load<u32>(p, L.PT_Q1_BYTES);
    const h = C.HIST + ((<usize>i * <usize>L.HIST_BINS + <usize>histBin(q)) << 2);
    store<u32>(h, load<u32>(h) + 1);
    if ((load<u32>(p, L.PT_FLAGS) & L.PTF_MONITOR) != 0 && cap > 0) {
      const len = load<u32>(C.S, L.C_SERIES_LEN);
      const r = C.SERIES + <usize>(len % cap) * <usize>L.SERIES_BYTES;
      store<i64>(r, now, L.SR_TIME);
      store<u32>(r, i, L.SR_PORT);
      store<u32>(r, q, L.SR_BYTES);
      store<u32>(C.S, len + 1, L.C_SERIES_LEN);
    }
  }
}
