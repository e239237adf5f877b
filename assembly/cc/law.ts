// One entry per CC event kind, dispatching on the law in the parameter block. Used by the burst
// API (index.ts) and compiled into the simulator (assembly/netsim), so both run the same code.
import { dcqcnAdvance, dcqcnInit, dcqcnOnAck } from './dcqcn';
import { dctcpInit, dctcpOnAck } from './dctcp';
import { hpccInit, hpccOnAck } from './hpcc';
import { LAW_DCQCN, LAW_DCTCP, LAW_HPCC, LAW_LDCP, LAW_SWIFT, P_LAW } from './layout';
import { ldcpInit, ldcpOnAck, ldcpOnTimeout } from './ldcp';
import { swiftInit, swiftOnAck, swiftOnTimeout } from './swift';

/** Initial state for one flow. Returns false for an unknown law. */
export function ccInit(p: usize, s: usize): bool {
  const law = load<u32>(p, P_LAW);
  if (law == LAW_LDCP) ldcpInit(p, s);
  else if (law == LAW_DCQCN) dcqcnInit(p, s);
  else if (law == LAW_HPCC) hpccInit(p, s);
  else if (law == LAW_SWIFT) swiftInit(p, s);
  else if (law == LAW_DCTCP) dctcpInit(p, s);
  else return false;
  return true;
}

/**
 * One ACK: `acked` packets newly acknowledged, `ece` the ECN echo (the CNP of DCQCN), the
 * cumulative ack and the next sequence to send (packets), an RTT sample (ps, 0 = none) and the
 * INT hops the acknowledged packet collected.
 */
export function ccOnAck(
  p: usize,
  s: usize,
  nowPs: f64,
  acked: u32,
  ece: bool,
  ackSeq: u32,
  sndNxt: u32,
  rttPs: f64,
  nhop: u32,
  hops: usize,
): void {
  const law = load<u32>(p, P_LAW);
  if (law == LAW_LDCP) ldcpOnAck(p, s, acked, ece ? 1 : 0);
  else if (law == LAW_DCQCN) dcqcnOnAck(p, s, nowPs, ece);
  else if (law == LAW_HPCC) hpccOnAck(p, s, ackSeq, sndNxt, nhop, hops);
  else if (law == LAW_SWIFT) swiftOnAck(p, s, nowPs, acked, rttPs, nhop);
  else if (law == LAW_DCTCP) dctcpOnAck(p, s, ece, ackSeq, sndNxt);
}

/** A retransmission timeout. */
export function ccOnTimeout(p: usize, s: usize): void {
  const law = load<u32>(p, P_LAW);
  if (law == LAW_LDCP) ldcpOnTimeout(p, s);
  else if (law == LAW_SWIFT) swiftOnTimeout(p, s);
}

/** Brings timer-driven state up to `nowPs` (DCQCN's periodic timers); others have none. */
@inline export function ccAdvance(p: usize, s: usize, nowPs: f64): void {
  if (load<u32>(p, P_LAW) == LAW_DCQCN) dcqcnAdvance(p, s, nowPs);
}
