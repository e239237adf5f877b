import { ErrorCode, QingtianError } from '../common/errors.js';
import type { CcParamName } from '../dpu/cc/cc-kernel.js';

/** The congestion-control algorithms the simulator runs (assembly/cc). */
export const CC_NAMES = ['ldcp', 'dcqcn', 'dcqcn-nowin', 'hpcc', 'swift', 'dctcp'] as const;
/**
 * A simulated congestion-control algorithm: the laws of {@link CcLaw}, plus `dcqcn-nowin` (DCQCN
 * without its window, as originally specified).
 */
export type CcName = (typeof CC_NAMES)[number];

/** ECN marking at the switches: RED thresholds at 100 Gb/s, scaled with the port rate (as the HPCC runs do). */
export interface EcnConfig {
  /** Queue length where marking starts, bytes. */
  kminBytes: number;
  /** Queue length where the marking probability reaches pmax, bytes. */
  kmaxBytes: number;
  /** Marking probability at kmax, [0, 1]. */
  pmax: number;
}

/** What one algorithm needs from the simulator: its law parameters and its switch/NIC setup. */
export interface CcSetup {
  name: CcName;
  law: 'LAW_LDCP' | 'LAW_DCQCN' | 'LAW_HPCC' | 'LAW_SWIFT' | 'LAW_DCTCP';
  /** Law parameters by layout constant name (P_*); times in ps, rates in bit/s. */
  params: Partial<Record<CcParamName, number>>;
  ecn: EcnConfig;
  /** PFC on by default (the baselines as the HPCC paper ran them) or off (LDCP, Swift). */
  pfc: boolean;
  /** ACKs in the strict-priority control queue (else they share the data queue). */
  ackHighPrio: boolean;
  /** Switches stamp INT (HPCC). */
  int: boolean;
}

const US = 1e6; // ps
const MBPS = 1e6;
const KB = 1000;

/**
 * Defaults. Baselines follow the HPCC authors' run.py at 100 G (docs/congestion-control.md,
 * "The laws"): DCQCN is their `dcqcn_vwin` ("DCQCN+window", the variant of the paper's FCT figures;
 * `dcqcn-nowin` is the rate-only `dcqcn`), HPCC `hp` with eta 0.95 and maxStage 0, DCTCP `dctcp`.
 * LDCP-style follows qingtian's specification (docs/congestion-control.md) with low RED thresholds
 * and no PFC.
 */
export function ccSetup(name: CcName): CcSetup {
  switch (name) {
    case 'ldcp':
      return {
        name,
        law: 'LAW_LDCP',
        pfc: false,
        ackHighPrio: true,
        int: false,
        params: { P_LDCP_ALPHA: 1, P_LDCP_BETA: 0.5, P_LDCP_GAMMA: 0.25, P_LDCP_ETA_DEC: 0.5 },
        ecn: { kminBytes: 5 * KB, kmaxBytes: 50 * KB, pmax: 0.5 },
      };
    case 'dcqcn':
    case 'dcqcn-nowin':
      return {
        name,
        law: 'LAW_DCQCN',
        pfc: true,
        ackHighPrio: name === 'dcqcn-nowin',
        int: false,
        params: {
          P_DCQCN_G: 1 / 256,
          P_DCQCN_T_ALPHA_PS: 1 * US,
          P_DCQCN_T_DEC_PS: 4 * US,
          P_DCQCN_T_INC_PS: 300 * US,
          P_DCQCN_RAI: 20 * MBPS,
          P_DCQCN_RHAI: 200 * MBPS,
          P_DCQCN_RATE_FIRST_CNP: 1,
          P_DCQCN_F: 1,
          P_DCQCN_WINDOW: name === 'dcqcn' ? 1 : 0,
          P_DCQCN_CLAMP: 0,
        },
        ecn: { kminBytes: 400 * KB, kmaxBytes: 1600 * KB, pmax: 0.2 },
      };
    case 'hpcc':
      return {
        name,
        law: 'LAW_HPCC',
        pfc: true,
        ackHighPrio: false,
        int: true,
        params: { P_HPCC_ETA: 0.95, P_HPCC_MAX_STAGE: 0, P_HPCC_RAI: 40 * MBPS, P_HPCC_FAST_REACT: 1 },
        ecn: { kminBytes: 400 * KB, kmaxBytes: 1600 * KB, pmax: 0.2 },
      };
    case 'dctcp':
      return {
        name,
        law: 'LAW_DCTCP',
        pfc: true,
        ackHighPrio: false,
        int: false,
        params: { P_DCTCP_G: 1 / 16, P_DCTCP_RAI: 615 * MBPS },
        ecn: { kminBytes: 300 * KB, kmaxBytes: 300 * KB, pmax: 1 },
      };
    case 'swift':
      return {
        name,
        law: 'LAW_SWIFT',
        pfc: false,
        ackHighPrio: true,
        int: false,
        params: {
          P_SWIFT_AI: 1,
          P_SWIFT_BETA: 0.8,
          P_SWIFT_MAX_MDF: 0.5,
          P_SWIFT_BASE_TARGET_PS: 20 * US,
          P_SWIFT_HOP_PS: (20 / 6.55) * US,
          P_SWIFT_FS_RANGE_PS: 100 * US,
          P_SWIFT_FS_MIN_CWND: 0.1,
          P_SWIFT_FS_MAX_CWND: 100,
          P_SWIFT_MIN_CWND: 0.01,
        },
        ecn: { kminBytes: 10_000 * KB, kmaxBytes: 10_000 * KB, pmax: 0 },
      };
    default: {
      const never: never = name;
      throw new QingtianError(ErrorCode.InvalidArgument, `unknown congestion control '${String(never)}'`);
    }
  }
}

/** Parses `ldcp,dcqcn,hpcc`. */
export function parseCcList(list: string): CcName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `--cc: expected a comma-separated list of ${CC_NAMES.join(', ')}, got '${list}'`,
    );
  for (const n of names) {
    if (!(CC_NAMES as readonly string[]).includes(n)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `--cc: expected a comma-separated list of ${CC_NAMES.join(', ')}, got '${n}'`,
        { value: n },
      );
    }
  }
  return [...new Set(names)] as CcName[];
}
