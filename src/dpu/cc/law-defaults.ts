/**
 * The default parameters of each congestion-control law (docs/congestion-control.md, "The laws"),
 * by their layout names (assembly/cc/layout.ts; times in ps, rates in bit/s). Baselines follow the
 * HPCC authors' simulator at 100 Gb/s: DCQCN with its window ("DCQCN+window"), HPCC with η 0.95
 * and maxStage 0, DCTCP in rate form; Swift uses htsim's values; LDCP-style follows qingtian's own
 * specification. The simulator and `CcFlowTable` both start from these.
 */

const US = 1e6; // ps
const MBPS = 1e6;

/** The laws, by the names the TS API uses. */
export const CC_LAWS = ['ldcp', 'dcqcn', 'hpcc', 'swift', 'dctcp'] as const;

/** A congestion-control law: see {@link CcLaw} in cc-kernel.ts. */
export type CcLawName = (typeof CC_LAWS)[number];

/**
 * Each law's parameters and their defaults. Swift's `P_SWIFT_MAX_CWND` (in packets) depends on
 * the path: {@link lawDefaults} sets it to the BDP in packets.
 */
export const LAW_PARAMS: Readonly<Record<CcLawName, Readonly<Record<string, number>>>> = {
  ldcp: { P_LDCP_ALPHA: 1, P_LDCP_BETA: 0.5, P_LDCP_GAMMA: 0.25, P_LDCP_ETA_DEC: 0.5 },
  dcqcn: {
    P_DCQCN_G: 1 / 256,
    P_DCQCN_T_ALPHA_PS: 1 * US,
    P_DCQCN_T_DEC_PS: 4 * US,
    P_DCQCN_T_INC_PS: 300 * US,
    P_DCQCN_RAI: 20 * MBPS,
    P_DCQCN_RHAI: 200 * MBPS,
    P_DCQCN_RATE_FIRST_CNP: 1,
    P_DCQCN_F: 1,
    P_DCQCN_WINDOW: 1,
    P_DCQCN_CLAMP: 0,
  },
  hpcc: { P_HPCC_ETA: 0.95, P_HPCC_MAX_STAGE: 0, P_HPCC_RAI: 40 * MBPS, P_HPCC_FAST_REACT: 1 },
  dctcp: { P_DCTCP_G: 1 / 16, P_DCTCP_RAI: 615 * MBPS },
  swift: {
    P_SWIFT_AI: 1,
    P_SWIFT_BETA: 0.8,
    P_SWIFT_MAX_MDF: 0.5,
    P_SWIFT_BASE_TARGET_PS: 20 * US,
    P_SWIFT_HOP_PS: (20 / 6.55) * US,
    P_SWIFT_FS_RANGE_PS: 100 * US,
    P_SWIFT_FS_MIN_CWND: 0.1,
    P_SWIFT_FS_MAX_CWND: 100,
    P_SWIFT_MIN_CWND: 0.01,
    P_SWIFT_MAX_CWND: 0,
  },
};

/** A law's default parameters for a path of `bdpBytes` and packets of `mtuBytes`. */
export function lawDefaults(law: CcLawName, bdpBytes: number, mtuBytes: number): Record<string, number> {
  const p = { ...LAW_PARAMS[law] };
  if (law === 'swift') p['P_SWIFT_MAX_CWND'] = bdpBytes / mtuBytes;
  return p;
}
