// Kernel family "cc": congestion-control laws with a burst API. A context region holds the law
// parameters and the per-flow states; cc_process applies a batch of ACK / CNP / INT / timeout
// events, over any mix of flows, in one call.
//
// Context region (magic 'CCST', layout 1):
//   +0   header (64 B)
//   +64  u32 flowCount   +68 u32 rejected (events with a bad flow index or kind, skipped)
//   +128 law parameters (CC_PARAMS_BYTES, layout.ts)
//   +384 flow states, CC_FLOW_BYTES each
import { KERNEL_ABI } from '../common/abi';
import { headerOk } from '../common/header';
import { ccInit, ccOnAck, ccOnTimeout } from './law';
import { ldcpAcks } from './ldcp';
import * as L from './layout';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x6363; // "cc"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export const CC_MAGIC: u32 = 0x54534343; // 'CCST'
export const CC_LAYOUT: u32 = 1;
export const CC_FLOW_COUNT: i32 = 64;
export const CC_REJECTED: i32 = 68;
export const CC_PARAMS: i32 = 128;
export const CC_FLOWS: i32 = 384;
export const E_BAD_STATE: i32 = -1;
export const E_BAD_LAW: i32 = -2;

// Layout exports (the build generates src/generated/cc.ts from them).
export * from './layout';

@inline function flowsOk(ctx: usize, n: u32): bool {
  return headerOk(ctx, CC_MAGIC, CC_LAYOUT, <u32>CC_FLOWS + n * L.CC_FLOW_BYTES);
}

/** Initialises flows [first, first + count). Returns count, or a negative status. */
export function cc_init(ctx: usize, first: i32, count: i32): i32 {
  const n = load<u32>(ctx, CC_FLOW_COUNT);
  if (!flowsOk(ctx, n) || first < 0 || count < 0 || <u64>first + <u64>count > <u64>n) return E_BAD_STATE;
  const p = ctx + <usize>CC_PARAMS;
  for (let i = 0; i < count; i++) {
    // SAFETY: first + i < n, and the header check above proved the region holds n flow states.
    if (!ccInit(p, ctx + <usize>CC_FLOWS + <usize>(first + i) * <usize>L.CC_FLOW_BYTES)) return E_BAD_LAW;
  }
  return count;
}

/**
 * Applies `count` events (EV_BYTES each, at `events`) in order. Returns how many were applied;
 * events naming a flow outside the context or an unknown kind are skipped and counted in
 * `rejected`.
 */
export function cc_process(ctx: usize, events: usize, count: i32): i32 {
  const n = load<u32>(ctx, CC_FLOW_COUNT);
  if (!flowsOk(ctx, n) || count < 0) return E_BAD_STATE;
  const p = ctx + <usize>CC_PARAMS;
  let done: i32 = 0;
  let rejected: u32 = 0;
  for (let i = 0; i < count; i++) {
    const e = events + <usize>i * <usize>L.EV_BYTES;
    const flow = load<u32>(e, L.EV_FLOW);
    const kind = load<u32>(e, L.EV_KIND);
    if (flow >= n) {
      rejected++;
      continue;
    }
    // SAFETY: flow < n (checked), so the state lies inside the region checked above.
    const s = ctx + <usize>CC_FLOWS + <usize>flow * <usize>L.CC_FLOW_BYTES;
    const now = <f64>load<i64>(e, L.EV_NOW);
    if (kind == L.EVK_ACK) {
      ccOnAck(
        p,
        s,
        now,
        load<u32>(e, L.EV_ACKED),
        (load<u32>(e, L.EV_FLAGS) & L.EVF_ECE) != 0,
        load<u32>(e, L.EV_ACK_SEQ),
        load<u32>(e, L.EV_SND_NXT),
        <f64>load<i64>(e, L.EV_RTT),
        load<u32>(e, L.EV_NHOP),
        e + L.EV_HOPS,
      );
      done++;
    } else if (kind == L.EVK_TIMEOUT) {
      ccOnTimeout(p, s);
      done++;
    } else {
      rejected++;
    }
  }
  store<u32>(ctx, load<u32>(ctx, CC_REJECTED) + rejected, CC_REJECTED);
  return done;
}

/**
 * ACKs in the compact form of a window law whose reaction depends on the counts alone: three u32
 * arrays of `count` entries — the flow index, the packets newly acknowledged, how many of them
 * carried an ECN mark. For the LDCP-style law (E_BAD_LAW for the others, which need times,
 * sequence numbers or INT records: cc_process). Returns how many were applied; an entry naming a
 * flow outside the context is skipped and counted in `rejected`.
 */
export function cc_acks(ctx: usize, flows: usize, acked: usize, marked: usize, count: i32): i32 {
  const n = load<u32>(ctx, CC_FLOW_COUNT);
  if (!flowsOk(ctx, n) || count < 0) return E_BAD_STATE;
  const p = ctx + <usize>CC_PARAMS;
  if (load<u32>(p, L.P_LAW) != L.LAW_LDCP) return E_BAD_LAW;
  const skipped = ldcpAcks(p, ctx + <usize>CC_FLOWS, <usize>L.CC_FLOW_BYTES, n, flows, acked, marked, count);
  store<u32>(ctx, load<u32>(ctx, CC_REJECTED) + skipped, CC_REJECTED);
  return count - <i32>skipped;
}

// Law-specific state offsets, for tests and tooling that read a flow's state.
export { S_LDCP_CW } from './ldcp';
export { S_DCQCN_RC, S_DCQCN_RT, S_DCQCN_ALPHA, S_DCQCN_STAGE } from './dcqcn';
export { S_HPCC_CUR_RATE, S_HPCC_U, S_HPCC_STAGE } from './hpcc';
export { S_DCTCP_ALPHA } from './dctcp';
export { S_SWIFT_CWND } from './swift';
