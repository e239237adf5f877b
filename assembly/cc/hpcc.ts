// HPCC (Li et al., SIGCOMM'19), as the HPCC authors' simulator runs it
// (docs/congestion-control.md, "The laws": HPCC): per ACK the INT of every hop gives u'_i =
// txRate_i/B_i + min(qlen_i, last qlen_i)/(B_i*T); the hop with the largest u' feeds an EWMA
// over one base RTT T; the rate is R = Rc/(U/eta) + R_AI (or Rc + R_AI while U < eta and fewer
// than maxStage additive steps were taken). Rc and the stage are committed once per RTT (ackSeq
// past the sequence sent at the last commit); ACKs in between "fast react" (rate only). Window =
// BDP * R / line rate.
import {
  H_QLEN,
  H_RATE,
  H_TS,
  H_TX_BYTES,
  INT_HOP_BYTES,
  INT_MAX_HOPS,
  P_BASE_RTT_PS,
  P_BDP_BYTES,
  P_HPCC_ETA,
  P_HPCC_FAST_REACT,
  P_HPCC_MAX_STAGE,
  P_HPCC_RAI,
  P_LINE_BPS,
  P_MIN_RATE,
  S_RATE,
  S_WINDOW,
  pf,
} from './layout';

export const S_HPCC_CUR_RATE: usize = 16;
export const S_HPCC_U: usize = 24;
export const S_HPCC_STAGE: usize = 32;
export const S_HPCC_LAST_UPDATE_SEQ: usize = 40; // u32; 0 = no feedback yet
export const S_HPCC_NHOP: usize = 44;
export const S_HPCC_HOPS: usize = 48; // INT_MAX_HOPS x { i64 ts, u32 txBytes, u32 qlen }
const L_BYTES: usize = 16;

export function hpccInit(p: usize, s: usize): void {
  const line = pf(p, P_LINE_BPS);
  store<f64>(s, line, S_RATE);
  store<f64>(s, line, S_HPCC_CUR_RATE);
  store<f64>(s, 1.0, S_HPCC_U);
  store<f64>(s, 0, S_HPCC_STAGE);
  store<u32>(s, 0, S_HPCC_LAST_UPDATE_SEQ);
  store<u32>(s, 0, S_HPCC_NHOP);
  store<f64>(s, pf(p, P_BDP_BYTES), S_WINDOW);
}

function keepHops(s: usize, nhop: u32, hops: usize): void {
  const n = nhop < INT_MAX_HOPS ? nhop : INT_MAX_HOPS;
  for (let i: u32 = 0; i < n; i++) {
    const h = hops + <usize>(i * INT_HOP_BYTES);
    const l = s + S_HPCC_HOPS + <usize>i * L_BYTES;
    store<i64>(l, load<i64>(h, H_TS), 0);
    store<u32>(l, load<u32>(h, H_TX_BYTES), 8);
    store<u32>(l, load<u32>(h, H_QLEN), 12);
  }
  store<u32>(s, n, S_HPCC_NHOP);
}

export function hpccOnAck(p: usize, s: usize, ackSeq: u32, sndNxt: u32, nhop: u32, hops: usize): void {
  const last = load<u32>(s, S_HPCC_LAST_UPDATE_SEQ);
  if (last == 0) {
    store<u32>(s, sndNxt, S_HPCC_LAST_UPDATE_SEQ);
    keepHops(s, nhop, hops);
    return;
  }
  const fast = !(ackSeq > last);
  if (fast && pf(p, P_HPCC_FAST_REACT) == 0) return;
  const T = pf(p, P_BASE_RTT_PS);
  const n = nhop < INT_MAX_HOPS ? nhop : INT_MAX_HOPS;
  const known = load<u32>(s, S_HPCC_NHOP);
  let U: f64 = 0;
  let dt: f64 = 0;
  let any = false;
  for (let i: u32 = 0; i < n; i++) {
    const h = hops + <usize>(i * INT_HOP_BYTES);
    const l = s + S_HPCC_HOPS + <usize>i * L_BYTES;
    const ts = load<i64>(h, H_TS);
    const tx = load<u32>(h, H_TX_BYTES);
    const q = load<u32>(h, H_QLEN);
    if (i < known) {
      const tau = <f64>(ts - load<i64>(l, 0));
      if (tau > 0) {
        const B = load<f64>(h, H_RATE);
        // u32 subtraction: the port's byte counter wraps, deltas stay exact below 4 GiB.
        const txRate = (<f64>(tx - load<u32>(l, 8)) * 8.0) / (tau * 1e-12);
        const lq = load<u32>(l, 12);
        const qmin = <f64>(q < lq ? q : lq);
        const u = txRate / B + (qmin * 8.0) / (B * T * 1e-12);
        if (u > U) {
          U = u;
          dt = tau;
        }
        any = true;
      }
    }
    store<i64>(l, ts, 0);
    store<u32>(l, tx, 8);
    store<u32>(l, q, 12);
  }
  if (n > known) store<u32>(s, n, S_HPCC_NHOP);
  if (any) {
    if (dt > T) dt = T;
    const uAvg = (load<f64>(s, S_HPCC_U) * (T - dt) + U * dt) / T;
    store<f64>(s, uAvg, S_HPCC_U);
    const maxC = uAvg / pf(p, P_HPCC_ETA);
    const cur = load<f64>(s, S_HPCC_CUR_RATE);
    const stage = load<f64>(s, S_HPCC_STAGE);
    let rate: f64;
    let newStage: f64;
    if (maxC >= 1.0 || stage >= pf(p, P_HPCC_MAX_STAGE)) {
      rate = cur / maxC + pf(p, P_HPCC_RAI);
      newStage = 0;
    } else {
      rate = cur + pf(p, P_HPCC_RAI);
      newStage = stage + 1.0;
    }
    const line = pf(p, P_LINE_BPS);
    const minRate = pf(p, P_MIN_RATE);
    if (rate < minRate) rate = minRate;
    if (rate > line) rate = line;
    store<f64>(s, rate, S_RATE);
    store<f64>(s, Math.max(1.0, (pf(p, P_BDP_BYTES) * rate) / line), S_WINDOW);
    if (!fast) {
      store<f64>(s, rate, S_HPCC_CUR_RATE);
      store<f64>(s, newStage, S_HPCC_STAGE);
    }
  }
  if (!fast && sndNxt > last) store<u32>(s, sndNxt, S_HPCC_LAST_UPDATE_SEQ);
}
