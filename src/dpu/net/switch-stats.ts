import {
  NET_SW_STAT_ACTION_DROPS,
  NET_SW_STAT_AGED,
  NET_SW_STAT_BAD_REQUESTS,
  NET_SW_STAT_BURSTS,
  NET_SW_STAT_BYTES,
  NET_SW_STAT_CSUM_FILLED,
  NET_SW_STAT_DELETES,
  NET_SW_STAT_EVICTED,
  NET_SW_STAT_FLUSHED,
  NET_SW_STAT_HITS,
  NET_SW_STAT_INSTALLS,
  NET_SW_STAT_INSTALL_FAILED,
  NET_SW_STAT_L2_MISMATCH,
  NET_SW_STAT_MALFORMED,
  NET_SW_STAT_MIRRORED,
  NET_SW_STAT_MISSES,
  NET_SW_STAT_NO_PORT,
  NET_SW_STAT_OUTPUTS,
  NET_SW_STAT_OUTPUT_DROPS,
  NET_SW_STAT_PACKETS,
  NET_SW_STAT_REINJECTED,
  NET_SW_STAT_REINJECT_FAILED,
  NET_SW_STAT_TSO_SEGMENTS,
  NET_SW_STAT_TTL_EXPIRED,
  NET_SW_STAT_TUNNEL_IN,
  NET_SW_STAT_TUNNEL_OUT,
  NET_SW_STAT_HELD,
  NET_SW_STAT_UPCALLS,
  NET_SW_STAT_UPCALL_DROPS,
} from './net-layout.js';

/** The switch's global counters (assembly/net/switch-state.ts), read out of band. */
export interface SwitchStats {
  bursts: number;
  packets: number;
  bytes: number;
  hits: number;
  misses: number;
  upcalls: number;
  upcallDrops: number;
  malformed: number;
  badRequests: number;
  outputs: number;
  outputDrops: number;
  actionDrops: number;
  ttlExpired: number;
  installs: number;
  installFailed: number;
  reinjected: number;
  reinjectFailed: number;
  deletes: number;
  evicted: number;
  aged: number;
  flushed: number;
  l2Mismatch: number;
  noPort: number;
  tsoSegments: number;
  csumFilled: number;
  mirrored: number;
  tunnelIn: number;
  tunnelOut: number;
  /** Hits sent up behind their flow's unanswered upcalls (ordered upcalls), so as not to overtake them. */
  held: number;
  /** DROP actions by reason (0-15). */
  drops: number[];
  /** Malformed frames by parser reason (index = PR_* of assembly/flow/parser.ts). */
  malformedByReason: number[];
  /** NET_DOWN_ST_* of the last refused downcall (0: none). */
  lastRefusal: number;
  flows: number;
}

export const SWITCH_STAT_NAMES: readonly (readonly [
  Exclude<keyof SwitchStats, 'drops' | 'lastRefusal' | 'flows' | 'malformedByReason'>,
  number,
])[] = [
  ['bursts', NET_SW_STAT_BURSTS],
  ['packets', NET_SW_STAT_PACKETS],
  ['bytes', NET_SW_STAT_BYTES],
  ['hits', NET_SW_STAT_HITS],
  ['misses', NET_SW_STAT_MISSES],
  ['upcalls', NET_SW_STAT_UPCALLS],
  ['upcallDrops', NET_SW_STAT_UPCALL_DROPS],
  ['malformed', NET_SW_STAT_MALFORMED],
  ['badRequests', NET_SW_STAT_BAD_REQUESTS],
  ['outputs', NET_SW_STAT_OUTPUTS],
  ['outputDrops', NET_SW_STAT_OUTPUT_DROPS],
  ['actionDrops', NET_SW_STAT_ACTION_DROPS],
  ['ttlExpired', NET_SW_STAT_TTL_EXPIRED],
  ['installs', NET_SW_STAT_INSTALLS],
  ['installFailed', NET_SW_STAT_INSTALL_FAILED],
  ['reinjected', NET_SW_STAT_REINJECTED],
  ['reinjectFailed', NET_SW_STAT_REINJECT_FAILED],
  ['deletes', NET_SW_STAT_DELETES],
  ['evicted', NET_SW_STAT_EVICTED],
  ['aged', NET_SW_STAT_AGED],
  ['flushed', NET_SW_STAT_FLUSHED],
  ['l2Mismatch', NET_SW_STAT_L2_MISMATCH],
  ['noPort', NET_SW_STAT_NO_PORT],
  ['tsoSegments', NET_SW_STAT_TSO_SEGMENTS],
  ['csumFilled', NET_SW_STAT_CSUM_FILLED],
  ['mirrored', NET_SW_STAT_MIRRORED],
  ['tunnelIn', NET_SW_STAT_TUNNEL_IN],
  ['tunnelOut', NET_SW_STAT_TUNNEL_OUT],
  ['held', NET_SW_STAT_HELD],
];
