// DCTCP in the rate form of the HPCC authors' simulator (docs/congestion-control.md, "The laws":
// DCTCP): line-rate start, alpha updated once per window of data (g = 1/16) from the fraction of
// ECN-echoing ACKs, at most one decrease R *= (1 - alpha/2) per window (CWR state until the window
// sent at the decrease is acked), +R_AI (one MTU per RTT) per window otherwise. Window = BDP * R /
// line rate.
import { P_BDP_BYTES, P_DCTCP_G, P_DCTCP_RAI, P_LINE_BPS, P_MIN_RATE, S_RATE, S_WINDOW, pf } from './layout';

export const S_DCTCP_ALPHA: usize = 16;
export const S_DCTCP_ECN_CNT: usize = 24;
export const S_DCTCP_BATCH: usize = 32;
export const S_DCTCP_LAST_UPDATE_SEQ: usize = 40; // u32
export const S_DCTCP_HIGH_SEQ: usize = 44; // u32
export const S_DCTCP_CWR: usize = 48; // u32

export function dctcpInit(p: usize, s: usize): void {
  store<f64>(s, pf(p, P_LINE_BPS), S_RATE);
  store<f64>(s, 1.0, S_DCTCP_ALPHA);
  store<f64>(s, 0, S_DCTCP_ECN_CNT);
  store<f64>(s, 1, S_DCTCP_BATCH);
  store<u32>(s, 0, S_DCTCP_LAST_UPDATE_SEQ);
  store<u32>(s, 0, S_DCTCP_HIGH_SEQ);
  store<u32>(s, 0, S_DCTCP_CWR);
  store<f64>(s, pf(p, P_BDP_BYTES), S_WINDOW);
}

export function dctcpOnAck(p: usize, s: usize, ece: bool, ackSeq: u32, sndNxt: u32): void {
  if (ece) store<f64>(s, load<f64>(s, S_DCTCP_ECN_CNT) + 1.0, S_DCTCP_ECN_CNT);
  let newBatch = false;
  const last = load<u32>(s, S_DCTCP_LAST_UPDATE_SEQ);
  if (ackSeq > last) {
    newBatch = true;
    if (last == 0) {
      store<f64>(s, <f64>sndNxt + 1.0, S_DCTCP_BATCH);
    } else {
      const frac = Math.min(1.0, load<f64>(s, S_DCTCP_ECN_CNT) / load<f64>(s, S_DCTCP_BATCH));
      const g = pf(p, P_DCTCP_G);
      store<f64>(s, (1.0 - g) * load<f64>(s, S_DCTCP_ALPHA) + g * frac, S_DCTCP_ALPHA);
      store<f64>(s, 0, S_DCTCP_ECN_CNT);
      store<f64>(s, <f64>(sndNxt - ackSeq) + 1.0, S_DCTCP_BATCH);
    }
    store<u32>(s, sndNxt, S_DCTCP_LAST_UPDATE_SEQ);
  }
  let cwr = load<u32>(s, S_DCTCP_CWR);
  if (cwr != 0 && ackSeq > load<u32>(s, S_DCTCP_HIGH_SEQ)) cwr = 0;
  let rate = load<f64>(s, S_RATE);
  const line = pf(p, P_LINE_BPS);
  if (ece && cwr == 0) {
    rate = Math.max(pf(p, P_MIN_RATE), rate * (1.0 - load<f64>(s, S_DCTCP_ALPHA) / 2.0));
    cwr = 1;
    store<u32>(s, sndNxt, S_DCTCP_HIGH_SEQ);
  }
  if (cwr == 0 && newBatch) rate = Math.min(line, rate + pf(p, P_DCTCP_RAI));
  store<u32>(s, cwr, S_DCTCP_CWR);
  store<f64>(s, rate, S_RATE);
  store<f64>(s, Math.max(1.0, (pf(p, P_BDP_BYTES) * rate) / line), S_WINDOW);
}
