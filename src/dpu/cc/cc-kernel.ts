import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { checkKernelStatus, kernelStatusError, statusTable } from '../../common/kernel-status.js';
import { Lifetime } from '../../common/lifetime.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import { HDR_BYTES } from '../../generated/common.js';
import * as cc from '../../generated/cc.js';
import {
  CC_FLOW_BYTES,
  CC_FLOW_COUNT,
  CC_FLOWS,
  CC_LAYOUT,
  CC_MAGIC,
  CC_PARAMS,
  CC_REJECTED,
  E_BAD_LAW,
  E_BAD_STATE,
  EV_ACK_SEQ,
  EV_ACKED,
  EV_BYTES,
  EV_FLAGS,
  EV_FLOW,
  EV_HOPS,
  EV_KIND,
  EV_NHOP,
  EV_NOW,
  EV_RTT,
  EV_SND_NXT,
  EVF_ECE,
  EVK_ACK,
  EVK_TIMEOUT,
  H_QLEN,
  H_RATE,
  H_TS,
  H_TX_BYTES,
  INT_HOP_BYTES,
  INT_MAX_HOPS,
  LAW_DCQCN,
  LAW_DCTCP,
  LAW_HPCC,
  LAW_LDCP,
  LAW_SWIFT,
  P_BASE_RTT_PS,
  P_BDP_BYTES,
  P_LAW,
  P_LINE_BPS,
  P_MIN_RATE,
  P_MTU,
  P_WIRE_BYTES,
  S_RATE,
  S_WINDOW,
} from '../../generated/cc.js';

/**
 * A congestion-control law: `ldcp` (LDCP-style, qingtian's own specification — Huawei's LDCP is
 * not public; see docs/congestion-control.md), `dcqcn`, `hpcc`, `swift`, `dctcp`.
 */
export type CcLaw = 'ldcp' | 'dcqcn' | 'hpcc' | 'swift' | 'dctcp';
/**
 * A law parameter's offset name in the cc kernel's parameter block (`P_LDCP_ALPHA`, …:
 * assembly/cc/layout.ts); a name the kernel does not declare is refused at run time.
 */
export type CcParamName = `P_${string}`;
/**
 * A field of a flow's state (`S_WINDOW`, `S_RATE`, and the law-specific ones such as `S_LDCP_CW`);
 * a name the kernel does not declare is refused at run time.
 */
export type CcStateField = `S_${string}`;

/** Options of {@link CcFlowTable}: common parameters (times in ps, rates in bit/s) plus law-specific ones. */
export interface CcTableOptions {
  /** The law every flow of the table follows. */
  law: CcLaw;
  /** Flows in the table, in [1, 2^22]. */
  flows: number;
  /** Payload bytes per packet. Default 1000. */
  mtuBytes?: number | undefined;
  /** NIC line rate, bit/s. Default 100e9. */
  lineBps?: number | undefined;
  /** T, the base RTT the window and the moving averages are sized by, ps. Default 13e6 (13 µs). */
  baseRttPs?: number | undefined;
  /** The lowest pacing rate a law may set, bit/s. Default 1e9. */
  minRateBps?: number | undefined;
  /** Bytes a packet takes on the wire (payload and headers), to turn rates into gaps. Default mtuBytes + 48. */
  wireBytes?: number | undefined;
  /**
   * Law parameters by their layout names (`P_LDCP_ALPHA`, `P_DCQCN_RAI`, …: assembly/cc/layout.ts;
   * times in ps, rates in bit/s); names the kernel does not declare are refused. Default: the kernel's.
   */
  params?: Partial<Record<CcParamName, number>> | undefined;
  /** Where its state lives and which kernels it calls. Default: defaultRuntime(); in a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
}

/** One CC event for the burst API (`process`): an ACK (with its ECN echo, RTT sample, INT hops) or a timeout. */
export interface CcEvent {
  /** The flow, in [0, flows); events for other flows are skipped and counted in `rejected`. */
  flow: number;
  /** An acknowledgement, or a retransmission timeout. */
  kind: 'ack' | 'timeout';
  /** When it happened, ps. */
  nowPs: number;
  /** The ACK echoes an ECN mark (or a CNP, for DCQCN). */
  ece?: boolean | undefined;
  /** Packets newly acknowledged. Default 1. */
  acked?: number | undefined;
  /** Cumulative ACK sequence, in packets. */
  ackSeq?: number | undefined;
  /** The sender's next sequence number, in packets (HPCC's and DCTCP's update boundary). */
  sndNxt?: number | undefined;
  /** An RTT sample, ps (0 or absent: none). */
  rttPs?: number | undefined;
  /**
   * INT records, one per switch hop (at most 5 are used): dequeue time (ps), the port's
   * transmitted bytes (wraps), queue length (bytes), line rate (bit/s).
   */
  hops?: { tsPs: number; txBytes: number; qlenBytes: number; rateBps: number }[] | undefined;
}

const OWNER = 'cc';

/** ACKs in compact form (CcFlowTable.ackBatch): views onto host memory, `cap` entries each. */
export interface AckBatch {
  /** Entries in each array. */
  cap: number;
  /** The host-memory region behind the three arrays. */
  region: Region;
  /** ACK i's flow. */
  flows: Uint32Array;
  /** Packets ACK i acknowledges. */
  acked: Uint32Array;
  /** How many of them carried an ECN mark. */
  marked: Uint32Array;
}
const LAWS: Record<CcLaw, number> = {
  ldcp: LAW_LDCP,
  dcqcn: LAW_DCQCN,
  hpcc: LAW_HPCC,
  swift: LAW_SWIFT,
  dctcp: LAW_DCTCP,
};

const STATUSES = statusTable([
  [E_BAD_STATE, 'state'],
  [E_BAD_LAW, 'args', 'the compact ACK form is for the LDCP-style law only (the others need full events: process())'],
]);

/** The offset of a `cc` constant named by a caller (P_* or S_*), or undefined for a name it does not declare. */
function offsetOf(name: unknown, prefix: 'P_' | 'S_'): number | undefined {
  return typeof name === 'string' && name.startsWith(prefix) && name in cc ? cc[name as keyof typeof cc] : undefined;
}

/**
 * A table of per-flow congestion-control states in host memory, updated by the `cc` kernel in
 * bursts: `process` hands it a whole batch of ACK / CNP / INT / timeout events over any flows in
 * one JS→Wasm call. Reads give each flow's window and pacing rate.
 */
export class CcFlowTable {
  /** The `cc` kernel version it calls. */
  readonly kernel: LoadedKernel;
  private readonly table: StateRegion;
  /** Flows in the table. */
  readonly flows: number;
  private readonly runtime: KernelRuntime;
  private readonly process_: (ctx: number, events: number, count: number) => number;
  private scratch: { base: number; cap: number; region: Region } | null = null;
  private acks: AckBatch | null = null;
  private readonly acks_: (ctx: number, flows: number, acked: number, marked: number, count: number) => number;
  private readonly life = new Lifetime('CcFlowTable');

  constructor(o: CcTableOptions) {
    if (!Number.isInteger(o.flows) || o.flows < 1 || o.flows > 1 << 22)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: flows: expected an integer in [1, ${1 << 22}], got ${o.flows}`,
      );
    if (!(o.law in LAWS))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: law: expected one of ${Object.keys(LAWS).join(', ')}, got ${String(o.law)}`,
      );
    this.runtime = o.runtime ?? defaultRuntime();
    this.kernel = this.runtime.kernel('cc');
    this.flows = o.flows;
    this.process_ = this.kernel.fn('cc_process');
    this.acks_ = this.kernel.fn('cc_acks');
    this.table = this.runtime.memory.allocState({
      name: `cc:${o.law}`,
      owner: OWNER,
      kind: 'device-state',
      magic: CC_MAGIC,
      layoutVersion: CC_LAYOUT,
      payloadBytes: CC_FLOWS - HDR_BYTES + o.flows * CC_FLOW_BYTES,
    });
    const v = this.runtime.memory.view;
    const b = this.table.base;
    v.setUint32(b + CC_FLOW_COUNT, o.flows, true);
    const p = b + CC_PARAMS;
    const mtu = o.mtuBytes ?? 1000;
    const line = o.lineBps ?? 100e9;
    const T = o.baseRttPs ?? 13e6;
    v.setUint32(p + P_LAW, LAWS[o.law], true);
    const set = (at: number, x: number) => v.setFloat64(p + at, x, true);
    set(P_MTU, mtu);
    set(P_LINE_BPS, line);
    set(P_BASE_RTT_PS, T);
    set(P_BDP_BYTES, (line * T * 1e-12) / 8);
    set(P_MIN_RATE, o.minRateBps ?? 1e9);
    set(P_WIRE_BYTES, o.wireBytes ?? mtu + 48);
    for (const [name, x] of Object.entries(o.params ?? {}) as [string, unknown][]) {
      const at = offsetOf(name, 'P_');
      if (at === undefined || typeof x !== 'number' || !Number.isFinite(x)) {
        this.dispose();
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `cc: params.${name}: expected a law parameter name (P_*) the cc kernel declares, with a finite number, got ${String(x)}`,
          { field: `params.${name}` },
        );
      }
      set(at, x);
    }
    const st = this.kernel.fn<(ctx: number, first: number, n: number) => number>('cc_init')(b, 0, o.flows);
    if (st < 0) {
      this.dispose();
      throw kernelStatusError('CcFlowTable', st, STATUSES);
    }
  }

  /** The table's state region (header, parameters, then one state per flow). */
  get region(): StateRegion {
    this.life.check('region');
    return this.table;
  }

  /** Address of flow i's state (for tools that read law-specific fields). */
  stateOf(flow: number): number {
    this.life.check('stateOf');
    if (!Number.isInteger(flow) || flow < 0 || flow >= this.flows)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: flow: expected an integer in [0, ${this.flows - 1}], got ${String(flow)}`,
        { field: 'flow' },
      );
    return this.table.base + CC_FLOWS + flow * CC_FLOW_BYTES;
  }

  /** Flow `flow`'s congestion window in bytes (0: the law has no window, rate only). */
  windowBytes(flow: number): number {
    this.life.check('windowBytes');
    return this.runtime.memory.view.getFloat64(this.stateOf(flow) + S_WINDOW, true);
  }

  /** Flow `flow`'s pacing rate, bit/s. */
  rateBps(flow: number): number {
    this.life.check('rateBps');
    return this.runtime.memory.view.getFloat64(this.stateOf(flow) + S_RATE, true);
  }

  /** A law-specific f64 field of a flow's state, by its exported offset name (e.g. S_LDCP_CW). */
  field(flow: number, name: CcStateField): number {
    this.life.check('field');
    const at = offsetOf(name, 'S_');
    if (at === undefined)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: field name: expected a flow-state offset name (S_*) the cc kernel declares, got ${JSON.stringify(name)}`,
        { field: 'name' },
      );
    return this.runtime.memory.view.getFloat64(this.stateOf(flow) + at, true);
  }

  /** An event buffer in host memory for `cap` events, reused by process(). */
  eventBuffer(cap: number): { base: number; cap: number } {
    this.life.check('eventBuffer');
    if (this.scratch && this.scratch.cap >= cap) return this.scratch;
    if (this.scratch) this.runtime.memory.free(this.scratch.region, OWNER);
    const region = this.runtime.memory.alloc({
      name: 'cc:events',
      owner: OWNER,
      kind: 'device-state',
      sizeBytes: Math.max(4096, cap * EV_BYTES),
    });
    const scratch = { base: region.base, cap, region };
    this.scratch = scratch;
    return scratch;
  }

  /** Writes events into the buffer (encode) — separate from processing so benches can time the kernel alone. */
  encode(events: readonly CcEvent[]): { base: number; count: number } {
    this.life.check('encode');
    const buf = this.eventBuffer(events.length);
    const v = this.runtime.memory.view;
    for (const [i, e] of events.entries()) {
      const a = buf.base + i * EV_BYTES;
      v.setUint32(a + EV_FLOW, e.flow, true);
      v.setUint32(a + EV_KIND, e.kind === 'ack' ? EVK_ACK : EVK_TIMEOUT, true);
      v.setBigInt64(a + EV_NOW, BigInt(Math.round(e.nowPs)), true);
      v.setUint32(a + EV_FLAGS, e.ece ? EVF_ECE : 0, true);
      v.setUint32(a + EV_ACKED, e.acked ?? 1, true);
      v.setUint32(a + EV_ACK_SEQ, e.ackSeq ?? 0, true);
      v.setUint32(a + EV_SND_NXT, e.sndNxt ?? 0, true);
      v.setBigInt64(a + EV_RTT, BigInt(Math.round(e.rttPs ?? 0)), true);
      const hops = e.hops ?? [];
      v.setUint32(a + EV_NHOP, Math.min(hops.length, INT_MAX_HOPS), true);
      hops.slice(0, INT_MAX_HOPS).forEach((h, j) => {
        const ha = a + EV_HOPS + j * INT_HOP_BYTES;
        v.setBigInt64(ha + H_TS, BigInt(Math.round(h.tsPs)), true);
        v.setUint32(ha + H_TX_BYTES, h.txBytes >>> 0, true);
        v.setUint32(ha + H_QLEN, h.qlenBytes >>> 0, true);
        v.setFloat64(ha + H_RATE, h.rateBps, true);
      });
    }
    return { base: buf.base, count: events.length };
  }

  /** Applies encoded events in one kernel call; returns how many were applied. */
  processEncoded(base: number, count: number): number {
    this.life.check('processEncoded');
    return checkKernelStatus('CcFlowTable.processEncoded', this.process_(this.table.base, base, count), STATUSES);
  }

  /** Encodes and applies a batch of events (one JS→Wasm call). */
  process(events: readonly CcEvent[]): number {
    this.life.check('process');
    const { base, count } = this.encode(events);
    return this.processEncoded(base, count);
  }

  /** Events skipped so far (a flow index outside the table, an unknown kind). */
  get rejected(): number {
    this.life.check('rejected');
    return this.runtime.memory.view.getUint32(this.table.base + CC_REJECTED, true);
  }

  /**
   * Three u32 arrays in host memory, `cap` entries each, for processAcks (fill them in place:
   * no copy). Reused while `cap` is enough; a larger one replaces the previous (its views die).
   */
  ackBatch(cap: number): AckBatch {
    this.life.check('ackBatch');
    if (!Number.isInteger(cap) || cap < 1 || cap > 1 << 24)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: ackBatch cap: expected an integer in [1, ${1 << 24}], got ${cap}`,
      );
    if (this.acks && this.acks.cap >= cap) return this.acks;
    if (this.acks) this.runtime.memory.free(this.acks.region, OWNER);
    const region = this.runtime.memory.alloc({
      name: 'cc:acks',
      owner: OWNER,
      kind: 'device-state',
      sizeBytes: Math.max(4096, 12 * cap),
    });
    const buf = this.runtime.memory.memory.buffer;
    this.acks = {
      cap,
      region,
      flows: new Uint32Array(buf, region.base, cap),
      acked: new Uint32Array(buf, region.base + 4 * cap, cap),
      marked: new Uint32Array(buf, region.base + 8 * cap, cap),
    };
    return this.acks;
  }

  /**
   * Applies the first `count` entries of the ack batch (ackBatch) in one JS→Wasm call: for each,
   * flow `flows[i]` saw `acked[i]` packets acknowledged, `marked[i]` of them ECN-marked. The
   * LDCP-style law only (QT_INVALID_ARGUMENT for the others, which need full events: process).
   * Returns how many were applied; entries naming a flow outside the table are skipped (rejected).
   */
  processAcks(count: number): number {
    this.life.check('processAcks');
    const a = this.acks;
    if (!a)
      throw new QingtianError(ErrorCode.InvalidArgument, 'cc: processAcks: no ack batch yet (ackBatch(cap) first)');
    if (!Number.isInteger(count) || count < 0 || count > a.cap)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: processAcks count: expected an integer in [0, ${a.cap}], got ${count}`,
      );
    const b = a.region.base;
    const n = this.acks_(this.table.base, b, b + 4 * a.cap, b + 8 * a.cap, count);
    return checkKernelStatus('CcFlowTable.processAcks', n, STATUSES);
  }

  /** Frees its regions. Using it afterwards throws `QT_DISPOSED`; a second call does nothing. */
  dispose(): void {
    if (!this.life.end()) return;
    if (this.scratch) this.runtime.memory.free(this.scratch.region, OWNER);
    this.scratch = null;
    if (this.acks) this.runtime.memory.free(this.acks.region, OWNER);
    this.acks = null;
    this.runtime.memory.free(this.table, OWNER);
  }
}
