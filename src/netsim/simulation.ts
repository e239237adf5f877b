import { ErrorCode, QingtianError } from '../common/errors.js';
import type { StateRegion } from '../common/host-memory-api.js';
import { kernelStatusError, statusTable, type StatusTable } from '../common/kernel-status.js';
import { Lifetime } from '../common/lifetime.js';
import { defaultRuntime, type KernelRuntime } from '../dpu/kernels/kernel-runtime.js';
import type { LoadedKernel } from '../dpu/kernels/kernel-loader.js';
import type { CcSetup } from './cc-config.js';
import { baseRttPs, maxBaseRttPs, type Network } from './network.js';
import type { FlowSpec } from './workload.js';
import {
  CC_FLOW_BYTES,
  CC_PARAMS_BYTES,
  P_BASE_RTT_PS,
  P_BDP_BYTES,
  P_LAW,
  P_LINE_BPS,
  P_MIN_RATE,
  P_MTU,
  P_WIRE_BYTES,
} from '../generated/cc.js';
import {
  CF_ACK_HIGH_PRIO,
  CF_INT,
  CF_PFC,
  CF_SACK,
  CONFIG_BYTES,
  C_ACK_BYTES,
  C_DT_SHIFT_LOSSY,
  C_EVQ_CAP,
  C_EVQ_KIND,
  C_FLAGS,
  C_FLOWS,
  C_HDR_BYTES,
  C_HOSTS,
  C_INFLIGHT_CAP,
  C_INT_HOP_WIRE,
  C_MTU,
  C_NODES,
  C_NOW_PS,
  C_OFF_CC,
  C_OFF_EVQ,
  C_OFF_FLOWS,
  C_OFF_HIST,
  C_OFF_INT,
  C_OFF_NODES,
  C_OFF_PARAMS,
  C_OFF_PKTS,
  C_OFF_PORTS,
  C_OFF_ROUTE,
  C_OFF_RPORTS,
  C_OFF_SERIES,
  C_PKT_CAP,
  C_PORTS,
  C_RESUME_OFFSET,
  C_RPORTS,
  C_RTO_HIGH_PS,
  C_RTO_LOW_PS,
  C_SAMPLE_PS,
  C_SEED,
  C_SERIES_CAP,
  C_STOP_PS,
  C_SWITCHES,
  EVQ_HEAP,
  EVQ_WHEEL,
  FLOW_BYTES,
  F_ACKED_BYTES,
  F_BASE_RTT_PS,
  F_DST,
  F_HASH,
  F_PKTS,
  F_SIZE,
  F_SND_NXT,
  F_SRC,
  F_START_PS,
  HIST_BINS,
  NK_HOST,
  NK_SWITCH,
  NODE_BYTES,
  NSIM_LAYOUT,
  NSIM_MAGIC,
  N_BUFFER,
  N_FIRST_PORT,
  N_HDRM,
  N_HDRM_TOTAL,
  N_INDEX,
  N_KIND,
  N_PORT_COUNT,
  N_RSRV,
  N_RSRV_TOTAL,
  PKT_BYTES,
  PKT_INT_BYTES,
  PORT_BYTES,
  PTF_MONITOR,
  PT_DELAY_PS,
  PT_FLAGS,
  PT_KMAX,
  PT_KMIN,
  PT_NODE,
  PT_PEER,
  PT_PFC_SHIFT,
  PT_PMAX,
  PT_PS_PER_BYTE,
  PT_RATE_BPS,
  SACK_BITS,
  SERIES_BYTES,
  ST_BAD_STATE,
  ST_EVQ_EXHAUSTED,
  ST_NO_ROUTE,
  ST_POOL_EXHAUSTED,
} from '../generated/netsim.js';
import type { CcParamName } from '../dpu/cc/cc-kernel.js';
import { HDR_BYTES } from '../generated/common.js';
import * as cc from '../generated/cc.js';
import * as netsim from '../generated/netsim.js';

/** A word of the simulation's config block (`C_EVENTS`, `C_DROPS`, …: assembly/netsim/layout.ts). */
export type SimField = `C_${string}`;

/** Everything one simulation run needs. Sizes in bytes, times in ps unless named otherwise. */
export interface SimConfig {
  network: Network;
  flows: FlowSpec[];
  cc: CcSetup;
  /** PFC on/off; default: the algorithm's own (cc.pfc). */
  pfc?: boolean | undefined;
  seed: number;
  mtuBytes?: number; // payload per packet (HPCC runs: 1000)
  headerBytes?: number; // data packet header on the wire
  ackBytes?: number;
  intBytes?: number; // INT header bytes per data packet when INT is on
  bufferBytes?: number; // shared buffer per switch
  sampleNs?: number; // queue sampling period (0: off)
  monitorPorts?: number[]; // ports whose queue samples go into the series
  seriesCap?: number;
  packetCap?: number;
  eventQueue?: 'wheel' | 'heap';
  rtoLowUs?: number;
  rtoHighUs?: number;
  runtime?: KernelRuntime;
}

/** SimConfig defaults: MTU, header / ACK / INT bytes, switch buffer, queue sample period, series size, RTO bounds. */
export const SIM_DEFAULTS = {
  mtuBytes: 1000,
  headerBytes: 48,
  ackBytes: 60,
  intBytes: 42,
  bufferBytes: 32_000_000,
  sampleNs: 1000,
  seriesCap: 1 << 16,
  rtoLowUs: 100,
  rtoHighUs: 320,
} as const;

const OWNER = 'sim';
let runs = 0;

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** One simulation: a state region in host memory, driven by the netsim kernel. */
export class Simulation {
  readonly baseRttPs: number;
  readonly bdpBytes: number;
  readonly hostRateBps: number;
  readonly pairRttPs: Float64Array; // per flow
  readonly pfc: boolean;
  private readonly run_: (st: number, budget: number) => number;
  private readonly life = new Lifetime('Simulation');

  private constructor(
    readonly config: SimConfig,
    readonly runtime: KernelRuntime,
    readonly kernel: LoadedKernel,
    private readonly state: StateRegion,
    derived: { baseRttPs: number; bdpBytes: number; hostRateBps: number; pairRttPs: Float64Array; pfc: boolean },
  ) {
    this.baseRttPs = derived.baseRttPs;
    this.bdpBytes = derived.bdpBytes;
    this.hostRateBps = derived.hostRateBps;
    this.pairRttPs = derived.pairRttPs;
    this.pfc = derived.pfc;
    this.run_ = kernel.fn<(st: number, budget: number) => number>('sim_run');
  }

  /** The simulation's state region in host memory (what the results readers decode). */
  get region(): StateRegion {
    this.life.check('region');
    return this.state;
  }

  static create(config: SimConfig): Simulation {
    const runtime = config.runtime ?? defaultRuntime();
    const kernel = runtime.kernel('netsim');
    const net = config.network;
    const o = { ...SIM_DEFAULTS, ...stripUndefined(config) };
    const pfc = config.pfc ?? config.cc.pfc;
    const intOn = config.cc.int;
    const hostRateBps = Math.max(...net.hosts.map((h) => net.portRate[net.firstPort[h]!]!));
    const dataWire = o.mtuBytes + o.headerBytes;
    const T = maxBaseRttPs(net, dataWire, o.ackBytes);
    const bdpBytes = (hostRateBps * T * 1e-12) / 8;
    const flows = config.flows;
    for (const [i, f] of flows.entries()) {
      if (
        net.hostIndex[f.src]! < 0 ||
        net.hostIndex[f.dst]! < 0 ||
        f.src === f.dst ||
        !(f.sizeBytes >= 1) ||
        f.sizeBytes > 0xffff_ffff ||
        !(f.startPs >= 0)
      ) {
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `flow ${i}: needs two distinct hosts, 1 <= size < 4 GiB and start >= 0`,
          { flow: i },
        );
      }
      if (i > 0 && f.startPs < flows[i - 1]!.startPs)
        throw new QingtianError(ErrorCode.InvalidArgument, `flow ${i}: flows must be sorted by start time`, {
          flow: i,
        });
    }
    const nodes = net.topology.kinds.length;
    const ports = net.portNode.length;
    const packetCap = o.packetCap ?? Math.min(1 << 21, Math.max(1 << 16, net.hosts.length * 8192));
    const evqCap = packetCap + 2 * flows.length + ports + nodes + 64;
    const evqBytes = kernel.fn<(cap: number) => number>('sim_evq_bytes')(evqCap) >>> 0;
    const monitor = new Set(config.monitorPorts ?? []);
    const seriesCap = monitor.size > 0 ? o.seriesCap : 0;

    // Areas, in order, each 64-byte aligned.
    // Each area: the config word that holds its offset, and its size.
    const sizes: [number, number][] = [
      [C_OFF_NODES, nodes * NODE_BYTES],
      [C_OFF_PORTS, ports * PORT_BYTES],
      [C_OFF_ROUTE, net.route.length * 4],
      [C_OFF_RPORTS, net.routePorts.length * 4],
      [C_OFF_FLOWS, flows.length * FLOW_BYTES],
      [C_OFF_CC, flows.length * CC_FLOW_BYTES],
      [C_OFF_PARAMS, CC_PARAMS_BYTES],
      [C_OFF_PKTS, packetCap * PKT_BYTES],
      [C_OFF_INT, intOn ? packetCap * PKT_INT_BYTES : 0],
      [C_OFF_HIST, ports * HIST_BINS * 4],
      [C_OFF_SERIES, seriesCap * SERIES_BYTES],
      [C_OFF_EVQ, evqBytes],
    ];
    let off = align64(CONFIG_BYTES);
    const offsets = new Map<number, number>();
    for (const [word, bytes] of sizes) {
      offsets.set(word, off);
      off = align64(off + bytes);
    }
    const area = (word: number): number => offsets.get(word) ?? 0;
    if (off > 0xffff_0000)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `simulation needs ${off} bytes of state; at most 4 GiB fits (fewer flows or a smaller packetCap)`,
      );
    const region = runtime.memory.allocState({
      name: `sim:${++runs}`,
      owner: OWNER,
      kind: 'job-state',
      magic: NSIM_MAGIC,
      layoutVersion: NSIM_LAYOUT,
      payloadBytes: off - HDR_BYTES,
    });
    const v = runtime.memory.view;
    const b = region.base;
    const u32 = (o2: number, x: number) => v.setUint32(b + o2, x >>> 0, true);
    const i64 = (o2: number, x: number) => v.setBigInt64(b + o2, BigInt(Math.round(x)), true);
    const f64 = (o2: number, x: number) => v.setFloat64(b + o2, x, true);
    for (const [word, o2] of offsets) u32(word, o2);
    u32(C_NODES, nodes);
    u32(C_PORTS, ports);
    u32(C_HOSTS, net.hosts.length);
    u32(C_SWITCHES, net.switches);
    u32(C_FLOWS, flows.length);
    u32(C_PKT_CAP, packetCap);
    u32(C_EVQ_CAP, evqCap);
    u32(C_SERIES_CAP, seriesCap);
    u32(C_FLAGS, (pfc ? CF_PFC : CF_SACK) | (intOn ? CF_INT : 0) | (config.cc.ackHighPrio ? CF_ACK_HIGH_PRIO : 0));
    u32(C_MTU, o.mtuBytes);
    u32(C_HDR_BYTES, o.headerBytes);
    u32(C_ACK_BYTES, o.ackBytes);
    u32(C_INT_HOP_WIRE, o.intBytes);
    u32(C_INFLIGHT_CAP, Math.min(SACK_BITS, Math.max(1, Math.ceil(bdpBytes / o.mtuBytes))));
    u32(C_RPORTS, net.routePorts.length);
    u32(C_EVQ_KIND, (config.eventQueue ?? 'wheel') === 'wheel' ? EVQ_WHEEL : EVQ_HEAP);
    i64(C_RTO_LOW_PS, o.rtoLowUs * 1e6);
    i64(C_RTO_HIGH_PS, o.rtoHighUs * 1e6);
    i64(C_SAMPLE_PS, o.sampleNs * 1000);
    v.setBigUint64(b + C_SEED, BigInt.asUintN(64, (BigInt(config.seed >>> 0) << 32n) ^ 0x9e3779b97f4a7c15n), true);
    u32(C_DT_SHIFT_LOSSY, 0);
    u32(C_RESUME_OFFSET, 3000);
    i64(C_STOP_PS, 0);

    // Nodes
    const nodeBase = b + area(C_OFF_NODES);
    for (let n = 0; n < nodes; n++) {
      const a = nodeBase + n * NODE_BYTES - b;
      const isSwitch = net.topology.kinds[n] === 'switch';
      u32(a + N_KIND, isSwitch ? NK_SWITCH : NK_HOST);
      u32(a + N_FIRST_PORT, net.firstPort[n]!);
      u32(a + N_PORT_COUNT, net.portCount[n]!);
      u32(a + N_INDEX, isSwitch ? net.switchIndex[n]! : net.hostIndex[n]!);
      if (isSwitch) {
        let hdrmTotal = 0;
        let hdrmMax = 0;
        const rsrv = 4000;
        for (let p = net.firstPort[n]!; p < net.firstPort[n]! + net.portCount[n]!; p++) {
          const h = Math.round((3 * net.portRate[p]! * net.portDelay[p]! * 1e-12) / 8);
          hdrmTotal += h;
          hdrmMax = Math.max(hdrmMax, h);
        }
        u32(a + N_BUFFER, o.bufferBytes);
        u32(a + N_RSRV, rsrv);
        u32(a + N_HDRM, hdrmMax);
        u32(a + N_HDRM_TOTAL, hdrmTotal);
        u32(a + N_RSRV_TOTAL, rsrv * net.portCount[n]!);
      }
    }
    // Ports
    for (let p = 0; p < ports; p++) {
      const a = area(C_OFF_PORTS) + p * PORT_BYTES;
      const rate = net.portRate[p]!;
      const scale = rate / 100e9;
      u32(a + PT_NODE, net.portNode[p]!);
      u32(a + PT_PEER, net.portPeer[p]!);
      u32(a + PT_PS_PER_BYTE, Math.round(8e12 / rate));
      i64(a + PT_DELAY_PS, net.portDelay[p]!);
      f64(a + PT_RATE_BPS, rate);
      u32(a + PT_KMIN, Math.round(config.cc.ecn.kminBytes * scale));
      u32(a + PT_KMAX, Math.round(config.cc.ecn.kmaxBytes * scale));
      v.setFloat32(b + a + PT_PMAX, config.cc.ecn.pmax, true);
      u32(a + PT_PFC_SHIFT, Math.max(0, 3 - Math.round(Math.log2(Math.max(1, scale)))));
      u32(a + PT_FLAGS, monitor.has(p) ? PTF_MONITOR : 0);
    }
    runtime.memory.u8.set(
      new Uint8Array(net.route.buffer, net.route.byteOffset, net.route.byteLength),
      b + area(C_OFF_ROUTE),
    );
    runtime.memory.u8.set(
      new Uint8Array(net.routePorts.buffer, net.routePorts.byteOffset, net.routePorts.byteLength),
      b + area(C_OFF_RPORTS),
    );
    // Law parameters
    const P = area(C_OFF_PARAMS);
    u32(P + P_LAW, cc[config.cc.law]);
    f64(P + P_MTU, o.mtuBytes);
    f64(P + P_LINE_BPS, hostRateBps);
    f64(P + P_BASE_RTT_PS, T);
    f64(P + P_BDP_BYTES, bdpBytes);
    f64(P + P_MIN_RATE, 1e9 * (hostRateBps / 100e9));
    f64(P + P_WIRE_BYTES, dataWire);
    const params: Partial<Record<CcParamName, number>> = { ...config.cc.params };
    if (config.cc.law === 'LAW_SWIFT') params.P_SWIFT_MAX_CWND = bdpBytes / o.mtuBytes;
    for (const [name, x] of Object.entries(params) as [keyof typeof cc, number][]) f64(P + cc[name], x);
    // Flows
    const pairRttPs = new Float64Array(flows.length);
    const rttCache = new Map<number, number>();
    for (const [i, fl] of flows.entries()) {
      const a = area(C_OFF_FLOWS) + i * FLOW_BYTES;
      const key = fl.src * nodes + fl.dst;
      let rtt = rttCache.get(key);
      if (rtt === undefined) rttCache.set(key, (rtt = baseRttPs(net, fl.src, fl.dst, dataWire, o.ackBytes)));
      pairRttPs[i] = rtt;
      u32(a + F_SRC, fl.src);
      u32(a + F_DST, fl.dst);
      u32(a + F_SIZE, fl.sizeBytes);
      u32(a + F_PKTS, Math.ceil(fl.sizeBytes / o.mtuBytes));
      i64(a + F_START_PS, fl.startPs);
      u32(a + F_HASH, flowHash(fl.src, fl.dst, i, config.seed));
      i64(a + F_BASE_RTT_PS, rtt);
    }
    const status = kernel.fn<(st: number) => number>('sim_init')(b);
    const sim = new Simulation(config, runtime, kernel, region, {
      baseRttPs: T,
      bdpBytes,
      hostRateBps,
      pairRttPs,
      pfc,
    });
    if (status !== 0) {
      sim.dispose();
      throw kernelStatusError('Simulation.create', status, SIM_STATUSES);
    }
    return sim;
  }

  get nowPs(): number {
    this.life.check('nowPs');
    return Number(this.runtime.memory.view.getBigInt64(this.state.base + C_NOW_PS, true));
  }

  /** A counter or field of the config block, by its offset name (u64/i64 fields as numbers). */
  counter(name: SimField, kind: 'u32' | 'u64' | 'i64' = 'u64'): number {
    this.life.check('counter');
    const at =
      typeof name === 'string' && name.startsWith('C_') && name in netsim
        ? netsim[name as keyof typeof netsim]
        : undefined;
    if (typeof at !== 'number')
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `Simulation.counter: name: expected a config-block field (C_*) the netsim kernel declares, got ${JSON.stringify(name)}`,
        { field: 'name' },
      );
    const v = this.runtime.memory.view;
    const a = this.state.base + at;
    return kind === 'u32'
      ? v.getUint32(a, true)
      : kind === 'u64'
        ? Number(v.getBigUint64(a, true))
        : Number(v.getBigInt64(a, true));
  }

  /**
   * Runs until simulated time `untilPs` (or until no event is left), `sliceEvents` events per
   * kernel call, calling `onSlice` between calls (progress, sampling).
   */
  runUntil(untilPs: number, onSlice?: (sim: Simulation) => void, sliceEvents = 1 << 21): void {
    this.life.check('runUntil');
    const v = this.runtime.memory.view;
    v.setBigInt64(this.state.base + C_STOP_PS, BigInt(Math.round(untilPs)), true);
    for (;;) {
      const n = this.run_(this.state.base, sliceEvents);
      if (n < 0)
        throw kernelStatusError(
          `Simulation.runUntil: stopped at t=${(this.nowPs / 1e6).toFixed(3)} µs`,
          n,
          SIM_STATUSES,
        );
      onSlice?.(this);
      if (n < sliceEvents) break;
    }
  }

  /**
   * Ends flow `i` early: it sends nothing new and finishes once what it sent is acknowledged
   * (a flow "leaving" at a chosen time). Returns the packets it keeps.
   */
  truncateFlow(i: number): number {
    this.life.check('truncateFlow');
    this.flowIndex('truncateFlow', i);
    const v = this.runtime.memory.view;
    const a = this.state.base + v.getUint32(this.state.base + C_OFF_FLOWS, true) + i * FLOW_BYTES;
    const sent = Math.max(1, v.getUint32(a + F_SND_NXT, true));
    const mtu = this.config.mtuBytes ?? SIM_DEFAULTS.mtuBytes;
    if (sent < v.getUint32(a + F_PKTS, true)) {
      v.setUint32(a + F_PKTS, sent, true);
      v.setUint32(a + F_SIZE, sent * mtu, true);
    }
    return sent;
  }

  /** Payload bytes acknowledged so far to flow i's sender. */
  ackedBytes(i: number): number {
    this.life.check('ackedBytes');
    this.flowIndex('ackedBytes', i);
    const v = this.runtime.memory.view;
    const a = this.state.base + v.getUint32(this.state.base + C_OFF_FLOWS, true) + i * FLOW_BYTES;
    return Number(v.getBigUint64(a + F_ACKED_BYTES, true));
  }

  dispose(): void {
    if (!this.life.end()) return;
    this.runtime.memory.free(this.state, OWNER);
  }

  private flowIndex(op: string, i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.config.flows.length)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `Simulation.${op}: flow: expected an integer in [0, ${this.config.flows.length - 1}], got ${String(i)}`,
        { field: 'flow' },
      );
  }
}

/** Why a run stopped (the kernel's ST_* statuses). */
const SIM_STATUSES: StatusTable = statusTable([
  [ST_BAD_STATE, 'state'],
  [ST_POOL_EXHAUSTED, 'full', 'packet pool exhausted (raise packetCap)'],
  [ST_EVQ_EXHAUSTED, 'full', 'event queue full'],
  [ST_NO_ROUTE, 'args', 'a packet had no route'],
]);

/** The flow's ECMP hash (its 5-tuple stand-in): deterministic for a seed. */
export function flowHash(src: number, dst: number, i: number, seed: number): number {
  let h =
    Math.imul(src ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(dst + 0x7f4a7c15, 0xc2b2ae35) ^
    Math.imul(i + 1, 0x27d4eb2f) ^
    seed;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
}
