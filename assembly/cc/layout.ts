// Congestion-control layouts shared by the `cc` kernel family (burst API) and the `netsim`
// simulator, which compiles the same law code in. TS reads every offset below from the module's
// exports (src/netsim/kernel-layout.ts), so this file is the one source of truth.
//
// Law parameters (CC_PARAMS_BYTES, one block per algorithm run; f64 unless noted):
//   +0  u32 law            LAW_*
//   +8  mtuBytes           payload bytes per packet
//   +16 lineBps            NIC line rate, bits/s
//   +24 baseRttPs          T: the base RTT the window and the EWMAs are sized by (ps)
//   +32 bdpBytes           lineBps * T / 8
//   +40 minRateBps
//   +48 wireBytesPerPkt    MTU + header bytes, used to turn rates into packet gaps
//   +64 .. +255            law-specific (P_* below, one namespace per law)
//
// Per-flow CC state (CC_FLOW_BYTES apart):
//   +0  f64 windowBytes    0 = no window (rate only)
//   +8  f64 rateBps        pacing rate
//   +16 .. law-specific (S_* below)
//
// INT hop record (INT_HOP_BYTES, at most INT_MAX_HOPS per packet), stamped by a switch at dequeue:
//   +0 i64 tsPs   +8 u32 txBytes (port's transmitted bytes, wraps)   +12 u32 qlenBytes   +16 f64 rateBps
//
// Burst event record (EV_BYTES), the input of cc_process:
//   +0 u32 flow  +4 u32 kind (EVK_*)  +8 i64 nowPs  +16 u32 flags (EVF_*)  +20 u32 acked (packets newly acked)
//   +24 u32 ackSeq (cumulative, packets)  +28 u32 sndNxt (packets)  +32 i64 rttPs (0: none)  +40 u32 nhop
//   +48 hops[INT_MAX_HOPS]

export const LAW_LDCP: u32 = 1;
export const LAW_DCQCN: u32 = 2;
export const LAW_HPCC: u32 = 3;
export const LAW_SWIFT: u32 = 4;
export const LAW_DCTCP: u32 = 5;

export const CC_PARAMS_BYTES: u32 = 256;
export const P_LAW: usize = 0;
export const P_MTU: usize = 8;
export const P_LINE_BPS: usize = 16;
export const P_BASE_RTT_PS: usize = 24;
export const P_BDP_BYTES: usize = 32;
export const P_MIN_RATE: usize = 40;
export const P_WIRE_BYTES: usize = 48;

// LDCP-style (qingtian's specification, docs/congestion-control.md)
export const P_LDCP_ALPHA: usize = 64;
export const P_LDCP_BETA: usize = 72;
export const P_LDCP_GAMMA: usize = 80;
export const P_LDCP_ETA_DEC: usize = 88;
// DCQCN, Mellanox variant as run by the HPCC authors' simulator
export const P_DCQCN_G: usize = 64;
export const P_DCQCN_T_ALPHA_PS: usize = 72;
export const P_DCQCN_T_DEC_PS: usize = 80;
export const P_DCQCN_T_INC_PS: usize = 88;
export const P_DCQCN_RAI: usize = 96;
export const P_DCQCN_RHAI: usize = 104;
export const P_DCQCN_RATE_FIRST_CNP: usize = 112;
export const P_DCQCN_F: usize = 120;
export const P_DCQCN_WINDOW: usize = 128; // 1: window = BDP * rate / line rate ("DCQCN+window")
export const P_DCQCN_CLAMP: usize = 136;
// HPCC
export const P_HPCC_ETA: usize = 64;
export const P_HPCC_MAX_STAGE: usize = 72;
export const P_HPCC_RAI: usize = 80;
export const P_HPCC_FAST_REACT: usize = 88;
// DCTCP (rate form of the HPCC authors' simulator)
export const P_DCTCP_G: usize = 64;
export const P_DCTCP_RAI: usize = 72;
// Swift (fabric loop)
export const P_SWIFT_AI: usize = 64;
export const P_SWIFT_BETA: usize = 72;
export const P_SWIFT_MAX_MDF: usize = 80;
export const P_SWIFT_BASE_TARGET_PS: usize = 88;
export const P_SWIFT_HOP_PS: usize = 96;
export const P_SWIFT_FS_RANGE_PS: usize = 104;
export const P_SWIFT_FS_MIN_CWND: usize = 112;
export const P_SWIFT_FS_MAX_CWND: usize = 120;
export const P_SWIFT_MIN_CWND: usize = 128;
export const P_SWIFT_MAX_CWND: usize = 136;

export const CC_FLOW_BYTES: u32 = 192;
export const S_WINDOW: usize = 0;
export const S_RATE: usize = 8;

export const INT_HOP_BYTES: u32 = 24;
export const INT_MAX_HOPS: u32 = 5;
export const H_TS: usize = 0;
export const H_TX_BYTES: usize = 8;
export const H_QLEN: usize = 12;
export const H_RATE: usize = 16;

export const EVK_ACK: u32 = 1;
export const EVK_TIMEOUT: u32 = 2;
export const EVF_ECE: u32 = 1;
export const EV_BYTES: u32 = 48 + 5 * 24;
export const EV_FLOW: usize = 0;
export const EV_KIND: usize = 4;
export const EV_NOW: usize = 8;
export const EV_FLAGS: usize = 16;
export const EV_ACKED: usize = 20;
export const EV_ACK_SEQ: usize = 24;
export const EV_SND_NXT: usize = 28;
export const EV_RTT: usize = 32;
export const EV_NHOP: usize = 40;
export const EV_HOPS: usize = 48;

@inline export function pf(p: usize, off: usize): f64 {
  return load<f64>(p + off);
}
