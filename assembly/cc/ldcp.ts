// LDCP-style window law — qingtian's specification (Huawei's LDCP is not public; see
// docs/congestion-control.md). Window cw in MTUs, fractional. Per ACK with a packets newly acked
// and m packets newly ECN-marked:
//   cw >= 1:  cw += alpha*(a - m)/cw ; cw -= beta*m
//   cw <  1:  m > 0 ? cw = max(cw*etaDec, gamma) : cw += gamma*a
//   cw in [gamma, BDP/MTU]; initial cw = BDP/MTU (line-rate start).
// Below one MTU the sender keeps one packet in flight and paces one packet every T/cw.
// Equilibrium (unit test): per RTT alpha*(1-F) = beta*F*W, so F* = alpha/(alpha + beta*W).
import {
  P_BASE_RTT_PS,
  P_BDP_BYTES,
  P_LDCP_ALPHA,
  P_LDCP_BETA,
  P_LDCP_ETA_DEC,
  P_LDCP_GAMMA,
  P_LINE_BPS,
  P_MTU,
  P_WIRE_BYTES,
  S_RATE,
  S_WINDOW,
  pf,
} from './layout';

export const S_LDCP_CW: usize = 16;

export function ldcpInit(p: usize, s: usize): void {
  store<f64>(s, pf(p, P_BDP_BYTES) / pf(p, P_MTU), S_LDCP_CW);
  ldcpPublish(p, s);
}

export function ldcpOnAck(p: usize, s: usize, acked: u32, marked: u32): void {
  const cw = ldcpStep(
    load<f64>(s, S_LDCP_CW),
    acked,
    marked,
    pf(p, P_LDCP_ALPHA),
    pf(p, P_LDCP_BETA),
    pf(p, P_LDCP_GAMMA),
    pf(p, P_LDCP_ETA_DEC),
    pf(p, P_BDP_BYTES) / pf(p, P_MTU),
  );
  store<f64>(s, cw, S_LDCP_CW);
  ldcpPublish(p, s);
}

/**
 * `count` ACKs given as three u32 arrays (flow, acked, marked) over the `flowCount` flow states
 * at `states`, `stride` bytes apart (the caller proved the region holds them all). The
 * parameters are read once for the whole batch. Returns the entries skipped because their flow
 * index is >= `flowCount`.
 */
export function ldcpAcks(
  p: usize,
  states: usize,
  stride: usize,
  flowCount: u32,
  flows: usize,
  acked: usize,
  marked: usize,
  count: i32,
): u32 {
  const alpha = pf(p, P_LDCP_ALPHA);
  const beta = pf(p, P_LDCP_BETA);
  const gamma = pf(p, P_LDCP_GAMMA);
  const etaDec = pf(p, P_LDCP_ETA_DEC);
  const mtu = pf(p, P_MTU);
  const hi = pf(p, P_BDP_BYTES) / mtu;
  const line = pf(p, P_LINE_BPS);
  const wireBits = pf(p, P_WIRE_BYTES) * 8.0;
  const rttS = pf(p, P_BASE_RTT_PS) * 1e-12;
  let skipped: u32 = 0;
  for (let i = 0; i < count; i++) {
    const off = (<usize>i) << 2;
    const flow = load<u32>(flows + off);
    if (flow >= flowCount) {
      skipped++;
      continue;
    }
    // SAFETY: flow < flowCount, and the caller proved the region holds flowCount states.
    const s = states + <usize>flow * stride;
    const cw = ldcpStep(
      load<f64>(s, S_LDCP_CW),
      load<u32>(acked + off),
      load<u32>(marked + off),
      alpha,
      beta,
      gamma,
      etaDec,
      hi,
    );
    store<f64>(s, cw, S_LDCP_CW);
    // As ldcpPublish, with the parameters already loaded.
    if (cw >= 1.0) {
      store<f64>(s, cw * mtu, S_WINDOW);
      store<f64>(s, line, S_RATE);
    } else {
      store<f64>(s, mtu, S_WINDOW);
      store<f64>(s, (wireBits * cw) / rttS, S_RATE);
    }
  }
  return skipped;
}

/** The law for one ACK: the new window (MTUs) from the old, `acked` packets of which `marked` were ECN-marked. */
@inline function ldcpStep(
  cw: f64,
  acked: u32,
  marked: u32,
  alpha: f64,
  beta: f64,
  gamma: f64,
  etaDec: f64,
  hi: f64,
): f64 {
  const a = <f64>acked;
  const m = <f64>(marked < acked ? marked : acked);
  if (cw >= 1.0) {
    cw += (alpha * (a - m)) / cw;
    cw -= beta * m;
  } else if (m > 0) {
    cw = Math.max(cw * etaDec, gamma);
  } else {
    cw += gamma * a;
  }
  return cw < gamma ? gamma : cw > hi ? hi : cw;
}

export function ldcpOnTimeout(p: usize, s: usize): void {
  const cw = load<f64>(s, S_LDCP_CW);
  store<f64>(s, clampCw(p, cw * pf(p, P_LDCP_ETA_DEC)), S_LDCP_CW);
  ldcpPublish(p, s);
}

@inline function clampCw(p: usize, cw: f64): f64 {
  const lo = pf(p, P_LDCP_GAMMA);
  const hi = pf(p, P_BDP_BYTES) / pf(p, P_MTU);
  return cw < lo ? lo : cw > hi ? hi : cw;
}

@inline function ldcpPublish(p: usize, s: usize): void {
  const cw = load<f64>(s, S_LDCP_CW);
  const mtu = pf(p, P_MTU);
  if (cw >= 1.0) {
    store<f64>(s, cw * mtu, S_WINDOW);
    store<f64>(s, pf(p, P_LINE_BPS), S_RATE);
  } else {
    // One packet in flight, one packet (wire bytes) every T/cw.
    store<f64>(s, mtu, S_WINDOW);
    store<f64>(s, (pf(p, P_WIRE_BYTES) * 8.0 * cw) / (pf(p, P_BASE_RTT_PS) * 1e-12), S_RATE);
  }
}
