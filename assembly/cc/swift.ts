// Swift's fabric loop (Kumar et al., SIGCOMM'20; docs/congestion-control.md, "The laws": Swift): a
// delay target that grows with the hop count and shrinks with the window (flow scaling), additive
// increase below it, one multiplicative decrease per RTT above it (bounded by max_mdf), and pacing
// below one packet.
//   target = base + hops*h + clamp(fsAlpha/sqrt(cwnd) + fsBeta, 0, fsRange)
import {
  P_BASE_RTT_PS,
  P_BDP_BYTES,
  P_LINE_BPS,
  P_MTU,
  P_SWIFT_AI,
  P_SWIFT_BASE_TARGET_PS,
  P_SWIFT_BETA,
  P_SWIFT_FS_MAX_CWND,
  P_SWIFT_FS_MIN_CWND,
  P_SWIFT_FS_RANGE_PS,
  P_SWIFT_HOP_PS,
  P_SWIFT_MAX_CWND,
  P_SWIFT_MAX_MDF,
  P_SWIFT_MIN_CWND,
  P_WIRE_BYTES,
  S_RATE,
  S_WINDOW,
  pf,
} from './layout';

export const S_SWIFT_CWND: usize = 16;
export const S_SWIFT_LAST_DECREASE: usize = 24;
export const S_SWIFT_RTO_COUNT: usize = 32;
const RTX_RESET_THRESHOLD: f64 = 5;

export function swiftInit(p: usize, s: usize): void {
  store<f64>(s, clampCwnd(p, pf(p, P_BDP_BYTES) / pf(p, P_MTU)), S_SWIFT_CWND);
  store<f64>(s, -Infinity, S_SWIFT_LAST_DECREASE);
  store<f64>(s, 0, S_SWIFT_RTO_COUNT);
  publish(p, s);
}

/** The delay target (ps) for a window and a path length. */
export function swiftTarget(p: usize, cwnd: f64, hops: u32): f64 {
  const range = pf(p, P_SWIFT_FS_RANGE_PS);
  const isMin = 1.0 / Math.sqrt(pf(p, P_SWIFT_FS_MIN_CWND));
  const isMax = 1.0 / Math.sqrt(pf(p, P_SWIFT_FS_MAX_CWND));
  const fsAlpha = range / (isMin - isMax);
  const fsBeta = -fsAlpha * isMax;
  let fs = fsAlpha / Math.sqrt(cwnd) + fsBeta;
  fs = fs < 0 ? 0 : fs > range ? range : fs;
  return pf(p, P_SWIFT_BASE_TARGET_PS) + <f64>hops * pf(p, P_SWIFT_HOP_PS) + fs;
}

export function swiftOnAck(p: usize, s: usize, nowPs: f64, acked: u32, rttPs: f64, hops: u32): void {
  if (rttPs <= 0) return;
  store<f64>(s, 0, S_SWIFT_RTO_COUNT);
  let cwnd = load<f64>(s, S_SWIFT_CWND);
  const target = swiftTarget(p, cwnd, hops);
  if (rttPs < target) {
    const ai = pf(p, P_SWIFT_AI) * <f64>acked;
    cwnd += cwnd >= 1.0 ? ai / cwnd : ai;
  } else if (nowPs - load<f64>(s, S_SWIFT_LAST_DECREASE) >= rttPs) {
    const f = Math.max(1.0 - (pf(p, P_SWIFT_BETA) * (rttPs - target)) / rttPs, 1.0 - pf(p, P_SWIFT_MAX_MDF));
    cwnd *= f;
    store<f64>(s, nowPs, S_SWIFT_LAST_DECREASE);
  }
  store<f64>(s, clampCwnd(p, cwnd), S_SWIFT_CWND);
  publish(p, s);
}

export function swiftOnTimeout(p: usize, s: usize): void {
  const n = load<f64>(s, S_SWIFT_RTO_COUNT) + 1.0;
  store<f64>(s, n, S_SWIFT_RTO_COUNT);
  const cwnd = load<f64>(s, S_SWIFT_CWND);
  store<f64>(
    s,
    n >= RTX_RESET_THRESHOLD ? pf(p, P_SWIFT_MIN_CWND) : clampCwnd(p, cwnd * (1.0 - pf(p, P_SWIFT_MAX_MDF))),
    S_SWIFT_CWND,
  );
  publish(p, s);
}

@inline function clampCwnd(p: usize, c: f64): f64 {
  const lo = pf(p, P_SWIFT_MIN_CWND);
  const hi = pf(p, P_SWIFT_MAX_CWND);
  return c < lo ? lo : c > hi ? hi : c;
}

@inline function publish(p: usize, s: usize): void {
  const cwnd = load<f64>(s, S_SWIFT_CWND);
  const mtu = pf(p, P_MTU);
  if (cwnd >= 1.0) {
    store<f64>(s, cwnd * mtu, S_WINDOW);
    store<f64>(s, pf(p, P_LINE_BPS), S_RATE);
  } else {
    store<f64>(s, mtu, S_WINDOW);
    store<f64>(s, (pf(p, P_WIRE_BYTES) * 8.0 * cwnd) / (pf(p, P_BASE_RTT_PS) * 1e-12), S_RATE);
  }
}
