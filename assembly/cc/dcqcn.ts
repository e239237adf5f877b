// DCQCN reaction point, the Mellanox variant that the HPCC authors' simulator runs
// (docs/congestion-control.md, "The laws": DCQCN): alpha update every T_alpha (1 µs), a
// rate-decrease check every T_dec (4 µs) once the first CNP arrived, a rate-increase timer T_inc
// (300 µs) restarted at each decrease, F = 1 fast-recovery stage, then additive (R_AI) and hyper
// (R_HAI) increase.
//
// The periodic timers are evaluated lazily: `dcqcnAdvance(now)` replays every tick due up to
// `now` in closed form (alpha decays by (1-g)^k over k ticks without a CNP), so an idle flow
// costs no events. Since a CNP only ever arrives at an ACK, where the replay runs first, the
// result equals running the timers tick by tick.
import {
  P_BDP_BYTES,
  P_DCQCN_CLAMP,
  P_DCQCN_F,
  P_DCQCN_G,
  P_DCQCN_RAI,
  P_DCQCN_RATE_FIRST_CNP,
  P_DCQCN_RHAI,
  P_DCQCN_T_ALPHA_PS,
  P_DCQCN_T_DEC_PS,
  P_DCQCN_T_INC_PS,
  P_DCQCN_WINDOW,
  P_LINE_BPS,
  P_MIN_RATE,
  S_RATE,
  S_WINDOW,
  pf,
} from './layout';

export const S_DCQCN_RC: usize = 16;
export const S_DCQCN_RT: usize = 24;
export const S_DCQCN_ALPHA: usize = 32;
export const S_DCQCN_T_ALPHA: usize = 40;
export const S_DCQCN_T_DEC: usize = 48;
export const S_DCQCN_T_INC: usize = 56;
export const S_DCQCN_STAGE: usize = 64;
export const S_DCQCN_FLAGS: usize = 72;

const F_STARTED: u32 = 1; // the first CNP arrived: timers run
const F_ALPHA_CNP: u32 = 2; // a CNP arrived since the last alpha tick
const F_DEC_CNP: u32 = 4; // a CNP arrived since the last decrease tick
const NEVER: f64 = Infinity;

export function dcqcnInit(p: usize, s: usize): void {
  const line = pf(p, P_LINE_BPS);
  store<f64>(s, line, S_DCQCN_RC);
  store<f64>(s, line, S_DCQCN_RT);
  store<f64>(s, 1.0, S_DCQCN_ALPHA);
  store<f64>(s, NEVER, S_DCQCN_T_ALPHA);
  store<f64>(s, NEVER, S_DCQCN_T_DEC);
  store<f64>(s, NEVER, S_DCQCN_T_INC);
  store<f64>(s, 0, S_DCQCN_STAGE);
  store<u32>(s, 0, S_DCQCN_FLAGS);
  publish(p, s);
}

export function dcqcnOnAck(p: usize, s: usize, nowPs: f64, cnp: bool): void {
  dcqcnAdvance(p, s, nowPs);
  if (!cnp) return;
  let flags = load<u32>(s, S_DCQCN_FLAGS);
  if ((flags & F_STARTED) == 0) {
    store<f64>(s, 1.0, S_DCQCN_ALPHA);
    store<f64>(s, nowPs + pf(p, P_DCQCN_T_ALPHA_PS), S_DCQCN_T_ALPHA);
    // +1 ns: the decrease check runs after the alpha update of the same instant.
    store<f64>(s, nowPs + pf(p, P_DCQCN_T_DEC_PS) + 1000.0, S_DCQCN_T_DEC);
    const r = pf(p, P_DCQCN_RATE_FIRST_CNP) * load<f64>(s, S_DCQCN_RC);
    store<f64>(s, r, S_DCQCN_RC);
    store<f64>(s, r, S_DCQCN_RT);
    flags = F_STARTED | F_DEC_CNP;
  } else {
    flags |= F_ALPHA_CNP | F_DEC_CNP;
  }
  store<u32>(s, flags, S_DCQCN_FLAGS);
  publish(p, s);
}

/** Replays the alpha, decrease and increase ticks due up to `nowPs`. */
export function dcqcnAdvance(p: usize, s: usize, nowPs: f64): void {
  let flags = load<u32>(s, S_DCQCN_FLAGS);
  if ((flags & F_STARTED) == 0) return;
  let tDec = load<f64>(s, S_DCQCN_T_DEC);
  if (tDec <= nowPs) {
    const period = pf(p, P_DCQCN_T_DEC_PS);
    if ((flags & F_DEC_CNP) != 0) {
      alphaTo(p, s, tDec);
      increaseTo(p, s, tDec);
      const rc = load<f64>(s, S_DCQCN_RC);
      if (pf(p, P_DCQCN_CLAMP) != 0 || load<f64>(s, S_DCQCN_STAGE) != 0) store<f64>(s, rc, S_DCQCN_RT);
      const alpha = load<f64>(s, S_DCQCN_ALPHA);
      store<f64>(s, Math.max(pf(p, P_MIN_RATE), rc * (1.0 - alpha / 2.0)), S_DCQCN_RC);
      store<f64>(s, 0, S_DCQCN_STAGE);
      store<f64>(s, tDec + pf(p, P_DCQCN_T_INC_PS), S_DCQCN_T_INC);
      flags = load<u32>(s, S_DCQCN_FLAGS) & ~F_DEC_CNP;
      store<u32>(s, flags, S_DCQCN_FLAGS);
    }
    tDec += (Math.floor((nowPs - tDec) / period) + 1.0) * period;
    store<f64>(s, tDec, S_DCQCN_T_DEC);
  }
  alphaTo(p, s, nowPs);
  increaseTo(p, s, nowPs);
  publish(p, s);
}

function alphaTo(p: usize, s: usize, t: f64): void {
  let tA = load<f64>(s, S_DCQCN_T_ALPHA);
  if (tA > t) return;
  const period = pf(p, P_DCQCN_T_ALPHA_PS);
  const g = pf(p, P_DCQCN_G);
  let k = Math.floor((t - tA) / period) + 1.0;
  let alpha = load<f64>(s, S_DCQCN_ALPHA);
  const flags = load<u32>(s, S_DCQCN_FLAGS);
  if ((flags & F_ALPHA_CNP) != 0) {
    alpha = (1.0 - g) * alpha + g;
    store<u32>(s, flags & ~F_ALPHA_CNP, S_DCQCN_FLAGS);
    k -= 1.0;
  }
  alpha *= powi(1.0 - g, k);
  store<f64>(s, alpha, S_DCQCN_ALPHA);
  tA += (Math.floor((t - tA) / period) + 1.0) * period;
  store<f64>(s, tA, S_DCQCN_T_ALPHA);
}

function increaseTo(p: usize, s: usize, t: f64): void {
  let tInc = load<f64>(s, S_DCQCN_T_INC);
  if (tInc > t) return;
  const period = pf(p, P_DCQCN_T_INC_PS);
  const line = pf(p, P_LINE_BPS);
  const f = pf(p, P_DCQCN_F);
  let rc = load<f64>(s, S_DCQCN_RC);
  let rt = load<f64>(s, S_DCQCN_RT);
  let stage = load<f64>(s, S_DCQCN_STAGE);
  while (tInc <= t) {
    if (rc >= line && rt >= line) {
      // At line rate every further tick is a no-op but for the stage count.
      const k = Math.floor((t - tInc) / period) + 1.0;
      stage += k;
      tInc += k * period;
      break;
    }
    if (stage < f) {
      rc = (rc + rt) / 2.0;
    } else {
      rt += stage == f ? pf(p, P_DCQCN_RAI) : pf(p, P_DCQCN_RHAI);
      if (rt > line) rt = line;
      rc = (rc + rt) / 2.0;
    }
    stage += 1.0;
    tInc += period;
  }
  store<f64>(s, rc, S_DCQCN_RC);
  store<f64>(s, rt, S_DCQCN_RT);
  store<f64>(s, stage, S_DCQCN_STAGE);
  store<f64>(s, tInc, S_DCQCN_T_INC);
}

/**
 * x^k for a whole k >= 0 by squaring. (Math.pow would pull lookup tables into the module as a
 * data segment, which the kernel loader refuses.)
 */
export function powi(x: f64, k: f64): f64 {
  let r: f64 = 1.0;
  let b = x;
  let n = <u64>k;
  while (n != 0) {
    if ((n & 1) != 0) r *= b;
    b *= b;
    n >>= 1;
  }
  return r;
}

@inline function publish(p: usize, s: usize): void {
  const rc = load<f64>(s, S_DCQCN_RC);
  store<f64>(s, rc, S_RATE);
  store<f64>(
    s,
    pf(p, P_DCQCN_WINDOW) != 0 ? Math.max(1.0, (pf(p, P_BDP_BYTES) * rc) / pf(p, P_LINE_BPS)) : 0.0,
    S_WINDOW,
  );
}
