import { histPercentile } from './histogram.js';
import type { FlowResult } from './metrics.js';
import type { Simulation } from './simulation.js';
import {
  C_OFF_FLOWS,
  C_OFF_HIST,
  C_OFF_PORTS,
  C_OFF_SERIES,
  C_PORTS,
  C_SERIES_CAP,
  C_SERIES_LEN,
  FLOW_BYTES,
  F_ACKED_BYTES,
  F_FINISH_PS,
  F_RTX_COUNT,
  F_START_PS,
  F_TIMEOUTS,
  HIST_BINS,
  PORT_BYTES,
  PT_DATA_TX,
  PT_DROPS,
  PT_MAX_Q,
  PT_PAUSED_PS,
  PT_PAUSES,
  PT_TX_BYTES,
  SERIES_BYTES,
  SR_BYTES,
  SR_PORT,
  SR_TIME,
} from '../generated/netsim.js';

/** Per-flow outcome, read from the state region. `endPs`: the time unfinished flows are measured to. */
export function readFlows(sim: Simulation, endPs = sim.nowPs): FlowResult[] {
  const { config } = sim;
  const v = sim.runtime.memory.view;
  const base = sim.region.base + v.getUint32(sim.region.base + C_OFF_FLOWS, true);
  const o = {
    start: F_START_PS,
    finish: F_FINISH_PS,
    rtx: F_RTX_COUNT,
    to: F_TIMEOUTS,
    acked: F_ACKED_BYTES,
  };
  const mtu = config.mtuBytes ?? 1000;
  const hdr = config.headerBytes ?? 48;
  const out: FlowResult[] = [];
  for (const [i, f] of config.flows.entries()) {
    const a = base + i * FLOW_BYTES;
    const startPs = Number(v.getBigInt64(a + o.start, true));
    const fin = Number(v.getBigInt64(a + o.finish, true));
    const finishPs = fin > 0 ? fin : -1;
    const wire = f.sizeBytes + Math.ceil(f.sizeBytes / mtu) * hdr;
    const idealPs = sim.pairRttPs[i]! + (wire * 8e12) / sim.hostRateBps;
    const fctPs = finishPs >= 0 ? finishPs - startPs : -1;
    const ackedBytes = Number(v.getBigUint64(a + o.acked, true));
    const span = (finishPs >= 0 ? finishPs : endPs) - startPs;
    out.push({
      index: i,
      src: f.src,
      dst: f.dst,
      sizeBytes: f.sizeBytes,
      startPs,
      finishPs,
      fctPs,
      idealPs,
      slowdown: finishPs >= 0 ? Math.max(1, fctPs / idealPs) : NaN,
      retransmits: v.getUint32(a + o.rtx, true),
      timeouts: v.getUint32(a + o.to, true),
      ackedBytes,
      throughputBps: span > 0 ? (ackedBytes * 8e12) / span : 0,
    });
  }
  return out;
}

/** One port's totals over a run. */
export interface PortStats {
  /** Port id. */
  port: number;
  /** The node it belongs to. */
  node: number;
  /** The node at the other end of its link. */
  peerNode: number;
  /** True for a switch port, false for a host NIC. */
  isSwitch: boolean;
  /** Line rate, bit/s. */
  rateBps: number;
  /** Bytes transmitted. */
  txBytes: number;
  /** Data packets transmitted. */
  dataPackets: number;
  /** Packets dropped at its queue. */
  drops: number;
  /** PFC pause frames it sent upstream. */
  pausesSent: number;
  /** Time it spent paused by its peer, ps. */
  pausedPs: number;
  /** The largest queue it held, bytes. */
  maxQueueBytes: number;
  /** Queue samples of the data queue (log-linear bins, histogram.ts). */
  hist: Uint32Array;
}

/** Every port's totals, read from a simulation's state. */
export function readPorts(sim: Simulation): PortStats[] {
  const v = sim.runtime.memory.view;
  const b = sim.region.base;
  const ports = v.getUint32(b + C_PORTS, true);
  const pBase = b + v.getUint32(b + C_OFF_PORTS, true);
  const hBase = b + v.getUint32(b + C_OFF_HIST, true);
  const net = sim.config.network;
  const out: PortStats[] = [];
  for (let p = 0; p < ports; p++) {
    const a = pBase + p * PORT_BYTES;
    const node = net.portNode[p]!;
    const hist = new Uint32Array(HIST_BINS);
    for (let i = 0; i < HIST_BINS; i++) hist[i] = v.getUint32(hBase + (p * HIST_BINS + i) * 4, true);
    out.push({
      port: p,
      node,
      peerNode: net.portNode[net.portPeer[p]!]!,
      isSwitch: net.topology.kinds[node] === 'switch',
      rateBps: net.portRate[p]!,
      txBytes: Number(v.getBigUint64(a + PT_TX_BYTES, true)),
      dataPackets: v.getUint32(a + PT_DATA_TX, true),
      drops: v.getUint32(a + PT_DROPS, true),
      pausesSent: v.getUint32(a + PT_PAUSES, true),
      pausedPs: Number(v.getBigInt64(a + PT_PAUSED_PS, true)),
      maxQueueBytes: v.getUint32(a + PT_MAX_Q, true),
      hist,
    });
  }
  return out;
}

/** The monitored ports' queue samples, oldest first: [timePs, port, bytes]. */
export function readSeries(sim: Simulation): { timePs: number; port: number; bytes: number }[] {
  const v = sim.runtime.memory.view;
  const b = sim.region.base;
  const cap = v.getUint32(b + C_SERIES_CAP, true);
  const len = v.getUint32(b + C_SERIES_LEN, true);
  if (cap === 0) return [];
  const base = b + v.getUint32(b + C_OFF_SERIES, true);
  const out: { timePs: number; port: number; bytes: number }[] = [];
  for (let i = Math.max(0, len - cap); i < len; i++) {
    const a = base + (i % cap) * SERIES_BYTES;
    out.push({
      timePs: Number(v.getBigInt64(a + SR_TIME, true)),
      port: v.getUint32(a + SR_PORT, true),
      bytes: v.getUint32(a + SR_BYTES, true),
    });
  }
  return out;
}

/** Switch data queues: the largest seen, and the p99 of the samples of ports that carried data. */
export function queueSummary(ports: readonly PortStats[]): { maxQueueBytes: number; p99QueueBytes: number } {
  const agg = new Float64Array(HIST_BINS);
  let max = 0;
  for (const p of ports) {
    if (!p.isSwitch) continue;
    max = Math.max(max, p.maxQueueBytes);
    if (p.dataPackets === 0) continue;
    for (let i = 0; i < HIST_BINS; i++) agg[i]! += p.hist[i]!;
  }
  // The bin's upper edge can pass the exact maximum (tracked at every enqueue): clip to it.
  return { maxQueueBytes: max, p99QueueBytes: Math.min(max, histPercentile(agg, 99)) };
}
