import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
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

export type CcLaw = 'ldcp' | 'dcqcn' | 'hpcc' | 'swift' | 'dctcp';
/** A law parameter's offset name in the cc kernel's parameter block (P_*). */
export type CcParamName = Extract<keyof typeof cc, `P_${string}`>;
/** A field of a flow's state (S_*: S_WINDOW, S_RATE, and the law-specific ones such as S_LDCP_CW). */
export type CcStateField = Extract<keyof typeof cc, `S_${string}`>;

/** Common parameters (times in ps, rates in bit/s) plus law-specific ones by layout name (P_*). */
export interface CcTableOptions {
  law: CcLaw;
  flows: number;
  mtuBytes?: number;
  lineBps?: number;
  baseRttPs?: number;
  minRateBps?: number;
  wireBytes?: number;
  params?: Partial<Record<CcParamName, number>>;
  runtime?: KernelRuntime;
}

/** One CC event for the burst API (see assembly/cc/layout.ts). */
export interface CcEvent {
  flow: number;
  kind: 'ack' | 'timeout';
  nowPs: number;
  ece?: boolean;
  acked?: number;
  ackSeq?: number;
  sndNxt?: number;
  rttPs?: number;
  hops?: { tsPs: number; txBytes: number; qlenBytes: number; rateBps: number }[];
}

const OWNER = 'cc';

/** Offset of a law parameter by name; a name the kernel does not declare is refused. */
function paramOffset(name: string): number {
  if (!/^P_[A-Z0-9_]+$/.test(name) || !(name in cc))
    throw new QingtianError(ErrorCode.InvalidArgument, `cc: params: unknown parameter '${name}'`, { name });
  return cc[name as CcParamName];
}

/** ACKs in compact form (CcFlowTable.ackBatch): views onto host memory, `cap` entries each. */
export interface AckBatch {
  cap: number;
  region: Region;
  flows: Uint32Array;
  acked: Uint32Array;
  marked: Uint32Array;
}
const LAWS: Record<CcLaw, number> = {
  ldcp: LAW_LDCP,
  dcqcn: LAW_DCQCN,
  hpcc: LAW_HPCC,
  swift: LAW_SWIFT,
  dctcp: LAW_DCTCP,
};

/**
 * A table of per-flow congestion-control states in host memory, updated by the `cc` kernel in
 * bursts: `process` hands it a whole batch of ACK / CNP / INT / timeout events over any flows in
 * one JS→Wasm call. Reads give each flow's window and pacing rate.
 */
export class CcFlowTable {
  readonly kernel: LoadedKernel;
  readonly region: StateRegion;
  readonly flows: number;
  private readonly runtime: KernelRuntime;
  private readonly process_: (ctx: number, events: number, count: number) => number;
  private scratch: { base: number; cap: number; region: Region } | null = null;
  private acks: AckBatch | null = null;
  private readonly acks_: (ctx: number, flows: number, acked: number, marked: number, count: number) => number;

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
    this.region = this.runtime.memory.allocState({
      name: `cc:${o.law}`,
      owner: OWNER,
      kind: 'device-state',
      magic: CC_MAGIC,
      layoutVersion: CC_LAYOUT,
      payloadBytes: CC_FLOWS - HDR_BYTES + o.flows * CC_FLOW_BYTES,
    });
    const v = this.runtime.memory.view;
    const b = this.region.base;
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
    for (const [name, x] of Object.entries(o.params ?? {})) set(paramOffset(name), x);
    const st = this.kernel.fn<(ctx: number, first: number, n: number) => number>('cc_init')(b, 0, o.flows);
    if (st < 0) {
      this.dispose();
      throw new QingtianError(ErrorCode.InvalidArgument, `cc: the kernel refused the table (status ${st})`, {
        status: st,
      });
    }
  }

  /** Address of flow i's state (for tools that read law-specific fields). */
  stateOf(flow: number): number {
    return this.region.base + CC_FLOWS + flow * CC_FLOW_BYTES;
  }

  windowBytes(flow: number): number {
    return this.runtime.memory.view.getFloat64(this.stateOf(flow) + S_WINDOW, true);
  }

  rateBps(flow: number): number {
    return this.runtime.memory.view.getFloat64(this.stateOf(flow) + S_RATE, true);
  }

  /** A law-specific f64 field of a flow's state, by its exported offset name (e.g. S_LDCP_CW). */
  field(flow: number, name: CcStateField): number {
    return this.runtime.memory.view.getFloat64(this.stateOf(flow) + cc[name], true);
  }

  /** An event buffer in host memory for `cap` events, reused by process(). */
  eventBuffer(cap: number): { base: number; cap: number } {
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
    const n = this.process_(this.region.base, base, count);
    if (n < 0)
      throw new QingtianError(ErrorCode.InvalidArgument, `cc: the kernel refused the batch (status ${n})`, {
        status: n,
      });
    return n;
  }

  /** Encodes and applies a batch of events (one JS→Wasm call). */
  process(events: readonly CcEvent[]): number {
    const { base, count } = this.encode(events);
    return this.processEncoded(base, count);
  }

  /** Events skipped so far (a flow index outside the table, an unknown kind). */
  get rejected(): number {
    return this.runtime.memory.view.getUint32(this.region.base + CC_REJECTED, true);
  }

  /**
   * Three u32 arrays in host memory, `cap` entries each, for processAcks (fill them in place:
   * no copy). Reused while `cap` is enough; a larger one replaces the previous (its views die).
   */
  ackBatch(cap: number): AckBatch {
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
    const a = this.acks;
    if (!a)
      throw new QingtianError(ErrorCode.InvalidArgument, 'cc: processAcks: no ack batch yet (ackBatch(cap) first)');
    if (!Number.isInteger(count) || count < 0 || count > a.cap)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: processAcks count: expected an integer in [0, ${a.cap}], got ${count}`,
      );
    const b = a.region.base;
    const n = this.acks_(this.region.base, b, b + 4 * a.cap, b + 8 * a.cap, count);
    if (n < 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `cc: processAcks: ${n === E_BAD_LAW ? 'the compact ACK form is for the LDCP-style law only; use process()' : `the kernel refused the batch (status ${n})`}`,
        { status: n },
      );
    return n;
  }

  dispose(): void {
    if (this.scratch) this.runtime.memory.free(this.scratch.region, OWNER);
    this.scratch = null;
    if (this.acks) this.runtime.memory.free(this.acks.region, OWNER);
    this.acks = null;
    this.runtime.memory.free(this.region, OWNER);
  }
}
