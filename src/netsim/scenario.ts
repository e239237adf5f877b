import { ErrorCode, QingtianError } from '../common/errors.js';
import type { KernelRuntime } from '../dpu/kernels/kernel-runtime.js';
import { ccSetup, type CcName } from './cc-config.js';
import {
  jainIndex,
  shortFlowSlowdown,
  slowdownBins,
  SHORT_FLOW_BYTES,
  type FlowResult,
  type SlowdownBin,
} from './metrics.js';
import { compileNetwork, type Network } from './network.js';
import { Prng } from '../common/prng.js';
import { queueSummary, readFlows, readPorts, readSeries, type PortStats } from './results.js';
import { Simulation } from './simulation.js';
import type { Topology } from './topology.js';
import { incastFlows, poissonFlows, sortFlows, type FlowSpec, type SizeCdf } from './workload.js';

/** One `qingtian sim` invocation: a topology, traffic, and the algorithms to compare on it. */
export interface Scenario {
  /** The network (resolveTopology: `fattree:K`, `incast:N`, `dumbbell:N`, `leafspine:L` or a file). */
  topology: Topology;
  /** Flow sizes of the Poisson traffic; needed when `load` > 0. */
  cdf?: SizeCdf | undefined;
  /** Offered load of the Poisson traffic per host, as a fraction of its link rate, [0, 1]. */
  load: number;
  /** The algorithms to compare, each run on the same flows. */
  cc: CcName[];
  /** Simulated time, seconds, (0, 10]. */
  durationS: number;
  /** PFC on or off; default: each algorithm's own (off for LDCP-style and Swift, on for the others). */
  pfc?: boolean | undefined;
  /** Seed of the traffic and the ECMP hashes, a u32: the same seed gives the same run. */
  seed: number;
  /** Where the simulations' state lives. Default: defaultRuntime(). */
  runtime?: KernelRuntime;
  /** The event queue: a timing wheel (default) or a binary heap (the bench's peer). */
  eventQueue?: 'wheel' | 'heap';
}

/** One algorithm's run of a {@link Scenario}: what `summary.json` and the CSVs are written from. */
export interface AlgorithmResult {
  /** The algorithm. */
  cc: CcName;
  /** Whether PFC was on. */
  pfc: boolean;
  /** Every flow, in start order. */
  flows: FlowResult[];
  /** Every port. */
  ports: PortStats[];
  /** Queue samples of the bottleneck port (incast and dumbbell), bytes at each sample time. */
  series: { timePs: number; port: number; bytes: number }[];
  /** FCT slowdown by flow size: 20 bins of equal flow counts. */
  bins: SlowdownBin[];
  /** Slowdown percentiles of the finished flows below 20,000 bytes. */
  short: { count: number; p50: number; p95: number; p99: number };
  /** PFC pause frames sent. */
  pfcPauses: number;
  /** Packets dropped (buffer full without PFC). */
  drops: number;
  /** Packets retransmitted. */
  retransmits: number;
  /** Retransmission timeouts. */
  timeouts: number;
  /** The largest queue seen on any port, bytes. */
  maxQueueBytes: number;
  /** The 99th percentile of queue samples over all ports, bytes. */
  p99QueueBytes: number;
  /** Simulator events processed. */
  events: number;
  /** Packets moved over a link (one per hop). */
  packetHops: number;
  /** Wall-clock time of the run, seconds. */
  wallS: number;
  /** Events per wall-clock second. */
  eventsPerSec: number;
  /** Packet hops per wall-clock second. */
  packetsPerSec: number;
  /** Flows finished by the end. */
  finished: number;
  /** Jain's index of the long flows' throughputs (≥ 10 MB; all flows when there are none). */
  jainIndex: number;
  /** The network's base RTT, ps. */
  baseRttPs: number;
}

/** Where a run is, reported between kernel calls (for a progress bar). */
export interface Progress {
  /** The algorithm running. */
  cc: CcName;
  /** Simulated time reached, ps. */
  simPs: number;
  /** Simulated time the run ends at, ps. */
  endPs: number;
  /** Events processed so far. */
  events: number;
  /** Wall-clock seconds since the run started. */
  wallS: number;
}

/**
 * The traffic of a scenario. Poisson flows from the CDF at `load` on every host (the HPCC
 * evaluation's generator); on `incast:N` the N senders also each run one flow to host N for the
 * whole duration, on `dumbbell:N` left host i runs one to right host i.
 */
export function scenarioFlows(s: Scenario, net: Network): FlowSpec[] {
  const untilPs = s.durationS * 1e12;
  const rng = new Prng(s.seed);
  const hostRate = Math.max(...net.hosts.map((h) => net.portRate[net.firstPort[h]!]!));
  const flows: FlowSpec[] = [];
  const longBytes = Math.min(0xffff_fff0, Math.ceil((hostRate * s.durationS) / 8) * 2);
  const m = /^(incast|dumbbell):(\d+)$/.exec(s.topology.name);
  if (m?.[1] === 'incast') {
    const n = Number(m[2]);
    flows.push(...incastFlows(net.hosts.slice(0, n), net.hosts[n]!, longBytes));
  } else if (m?.[1] === 'dumbbell') {
    const n = Number(m[2]);
    for (let i = 0; i < n; i++)
      flows.push({ src: net.hosts[i]!, dst: net.hosts[n + i]!, sizeBytes: longBytes, startPs: 0 });
  }
  if (s.load > 0) {
    if (!s.cdf)
      throw new QingtianError(ErrorCode.InvalidArgument, '--workload: a flow-size CDF is needed when --load > 0');
    flows.push(...poissonFlows({ hosts: net.hosts, hostRateBps: hostRate, cdf: s.cdf, load: s.load, untilPs, rng }));
  }
  if (flows.length === 0)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `--load: 0 gives no traffic on ${s.topology.name}; only incast:N and dumbbell:N have traffic of their own`,
    );
  return sortFlows(flows);
}

/** The port whose queue is the scenario's bottleneck (monitored into the series), if it has one. */
export function bottleneckPorts(s: Scenario, net: Network): number[] {
  const m = /^(incast|dumbbell):(\d+)$/.exec(s.topology.name);
  if (!m) return [];
  const n = Number(m[2]);
  if (m[1] === 'incast') return [net.portPeer[net.firstPort[net.hosts[n]!]!]!];
  // dumbbell: the left switch's port toward the right switch
  const leftSwitch = net.topology.kinds.length - 2;
  for (let p = net.firstPort[leftSwitch]!; p < net.firstPort[leftSwitch]! + net.portCount[leftSwitch]!; p++) {
    if (net.portNode[net.portPeer[p]!] === leftSwitch + 1) return [p];
  }
  return [];
}

/**
 * Runs every algorithm of the scenario on the same flows, one after the other (what `qingtian
 * sim` does); `onProgress` is called between kernel calls. A run that exhausts its packet pool or
 * event queue stops with `QT_CAPACITY_EXCEEDED`; nothing is silently dropped.
 */
export function runScenario(s: Scenario, onProgress?: (p: Progress) => void): AlgorithmResult[] {
  const net = compileNetwork(s.topology);
  const flows = scenarioFlows(s, net);
  const monitor = bottleneckPorts(s, net);
  const out: AlgorithmResult[] = [];
  for (const cc of s.cc) out.push(runOne(s, net, flows, cc, monitor, onProgress));
  return out;
}

export function runOne(
  s: Scenario,
  net: Network,
  flows: FlowSpec[],
  cc: CcName,
  monitor: number[],
  onProgress?: (p: Progress) => void,
): AlgorithmResult {
  const sim = Simulation.create({
    network: net,
    flows,
    cc: ccSetup(cc),
    pfc: s.pfc,
    seed: s.seed,
    monitorPorts: monitor,
    ...(s.runtime ? { runtime: s.runtime } : {}),
    ...(s.eventQueue ? { eventQueue: s.eventQueue } : {}),
  });
  try {
    const endPs = s.durationS * 1e12;
    const t0 = performance.now();
    sim.runUntil(endPs, (x) =>
      onProgress?.({
        cc,
        simPs: x.nowPs,
        endPs,
        events: x.counter('C_EVENTS'),
        wallS: (performance.now() - t0) / 1000,
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    const fl = readFlows(sim, endPs);
    const ports = readPorts(sim);
    const q = queueSummary(ports);
    const events = sim.counter('C_EVENTS');
    const packetHops = sim.counter('C_PKT_HOPS');
    const long = fl.filter((f) => f.sizeBytes >= 10_000_000);
    return {
      cc,
      pfc: sim.pfc,
      flows: fl,
      ports,
      series: readSeries(sim),
      bins: slowdownBins(fl),
      short: shortFlowSlowdown(fl, SHORT_FLOW_BYTES),
      pfcPauses: sim.counter('C_PAUSES'),
      drops: sim.counter('C_DROPS'),
      retransmits: sim.counter('C_RTX'),
      timeouts: sim.counter('C_TIMEOUTS'),
      maxQueueBytes: q.maxQueueBytes,
      p99QueueBytes: q.p99QueueBytes,
      events,
      packetHops,
      wallS,
      eventsPerSec: wallS > 0 ? events / wallS : 0,
      packetsPerSec: wallS > 0 ? packetHops / wallS : 0,
      finished: fl.filter((f) => f.finishPs >= 0).length,
      jainIndex: jainIndex((long.length > 0 ? long : fl).map((f) => f.throughputBps)),
      baseRttPs: sim.baseRttPs,
    };
  } finally {
    sim.dispose();
  }
}
