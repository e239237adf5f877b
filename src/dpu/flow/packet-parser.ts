import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region } from '../../common/host-memory-api.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import {
  K_DPORT,
  K_DST,
  K_ETYPE,
  K_FLAGS,
  K_PROTO,
  K_SPORT,
  K_SRC,
  K_VLAN,
  K_VNI,
  KEY_FLAG_FRAGMENT,
  KEY_FLAG_TUNNEL,
  M_IPVER,
  M_L3,
  M_L4,
  M_PAYLOAD,
  M_REASON,
  M_TCP_FLAGS,
  M_VERDICT,
  PARSE_DESC_ADDR,
  PARSE_DESC_BYTES,
  PARSE_DESC_LEN,
  PARSE_KEY_BYTES,
  PARSE_REC_BYTES,
  PR_ICMP,
  PR_IPV4,
  PR_IPV4_LEN,
  PR_IPV6,
  PR_IPV6_EXT,
  PR_IPV6_LEN,
  PR_L2,
  PR_RANGE,
  PR_SCTP,
  PR_TCP,
  PR_UDP,
  PR_VXLAN,
  VERDICT_MALFORMED,
  VERDICT_NOT_IP,
  VERDICT_OK,
} from '../../generated/flow.js';
import { formatIPv4, formatIPv6 } from './ip-address.js';

/** Bytes of one parse record (the flow key, then per-packet metadata) and of one input descriptor. */
export { PARSE_REC_BYTES as PARSE_RECORD_BYTES, PARSE_DESC_BYTES };

export type Verdict = 'ok' | 'malformed' | 'not-ip';
const VERDICTS: Record<number, Verdict> = {
  [VERDICT_OK]: 'ok',
  [VERDICT_MALFORMED]: 'malformed',
  [VERDICT_NOT_IP]: 'not-ip',
};
/** Why a packet is malformed, by the parser's PR_* code ('' for none). */
const REASONS: Record<number, string> = {
  0: '',
  [PR_RANGE]: 'range',
  [PR_L2]: 'l2',
  [PR_IPV4]: 'ipv4',
  [PR_IPV4_LEN]: 'ipv4-length',
  [PR_IPV6]: 'ipv6',
  [PR_IPV6_LEN]: 'ipv6-length',
  [PR_IPV6_EXT]: 'ipv6-extension',
  [PR_TCP]: 'tcp',
  [PR_UDP]: 'udp',
  [PR_ICMP]: 'icmp',
  [PR_SCTP]: 'sctp',
  [PR_VXLAN]: 'vxlan',
};

export interface ParsedPacket {
  verdict: Verdict;
  /** Why a packet is malformed ('' otherwise): which header ran short or contradicted itself. */
  reason: string;
  /** The 48-byte flow key (FlowTable's key). */
  key: Uint8Array;
  ipVersion: 0 | 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  ethertype: number;
  vlan: number;
  vni: number;
  tunnelled: boolean;
  fragment: boolean;
  tcpFlags: number;
  l3Offset: number;
  l4Offset: number;
  payloadOffset: number;
}

/** Fields of a flow key; absent ones are zero. Addresses: IPv4 u32 or IPv6 bigint. */
export interface FlowKeyFields {
  src?: number | bigint;
  dst?: number | bigint;
  srcPort?: number;
  dstPort?: number;
  proto?: number;
  ethertype?: number;
  vlan?: number;
  vni?: number;
  tunnelled?: boolean;
  fragment?: boolean;
}

/** Builds a flow key exactly as the parser would for a packet with these fields. */
export function flowKey(f: FlowKeyFields): Uint8Array {
  const k = new Uint8Array(PARSE_KEY_BYTES);
  const v = new DataView(k.buffer);
  const put = (at: number, a: number | bigint | undefined): void => {
    if (typeof a === 'number') v.setUint32(at, a >>> 0, false);
    else if (typeof a === 'bigint') for (let i = 0; i < 16; i++) k[at + i] = Number((a >> BigInt(120 - 8 * i)) & 0xffn);
  };
  put(K_SRC, f.src);
  put(K_DST, f.dst);
  v.setUint16(K_SPORT, f.srcPort ?? 0, true);
  v.setUint16(K_DPORT, f.dstPort ?? 0, true);
  k[K_PROTO] = f.proto ?? 0;
  k[K_FLAGS] = (f.tunnelled ? KEY_FLAG_TUNNEL : 0) | (f.fragment ? KEY_FLAG_FRAGMENT : 0);
  v.setUint16(K_ETYPE, f.ethertype ?? (typeof f.src === 'bigint' ? 0x86dd : 0x0800), true);
  v.setUint16(K_VLAN, f.vlan ?? 0, true);
  v.setUint32(K_VNI, f.vni ?? 0, true);
  return k;
}

/** Decodes a 64-byte parse record. */
export function decodeRecord(rec: Uint8Array): ParsedPacket {
  const v = new DataView(rec.buffer, rec.byteOffset, PARSE_REC_BYTES);
  const ipVersion = rec[M_IPVER] === 4 ? 4 : rec[M_IPVER] === 6 ? 6 : 0;
  const addr = (at: number): string => {
    if (ipVersion === 4) return formatIPv4(v.getUint32(at, false));
    if (ipVersion === 6) return formatIPv6((v.getBigUint64(at, false) << 64n) | v.getBigUint64(at + 8, false));
    return '';
  };
  const flags = rec[K_FLAGS]!;
  return {
    verdict: VERDICTS[rec[M_VERDICT]!] ?? 'malformed',
    reason: REASONS[v.getUint32(M_REASON, true)] ?? 'unknown',
    key: rec.slice(0, PARSE_KEY_BYTES),
    ipVersion,
    src: addr(K_SRC),
    dst: addr(K_DST),
    srcPort: v.getUint16(K_SPORT, true),
    dstPort: v.getUint16(K_DPORT, true),
    proto: rec[K_PROTO]!,
    ethertype: v.getUint16(K_ETYPE, true),
    vlan: v.getUint16(K_VLAN, true),
    vni: v.getUint32(K_VNI, true),
    tunnelled: (flags & KEY_FLAG_TUNNEL) !== 0,
    fragment: (flags & KEY_FLAG_FRAGMENT) !== 0,
    tcpFlags: rec[M_TCP_FLAGS]!,
    l3Offset: v.getUint16(M_L3, true),
    l4Offset: v.getUint16(M_L4, true),
    payloadOffset: v.getUint16(M_PAYLOAD, true),
  };
}

const OWNER = 'flow-parser';
const STAGE_BYTES = 1 << 20;
const MAX_FRAME = 0xffff;

/**
 * The packet parser kernel (`flow_parse`): Ethernet, VLAN, IPv4, IPv6 with extension headers,
 * TCP, UDP, SCTP, ICMP/ICMPv6 and VXLAN inner frames → flow keys. Never reads past a frame's
 * end; short or self-contradicting frames get the verdict 'malformed'.
 */
export class PacketParser {
  readonly kernel: LoadedKernel;
  private readonly runtime: KernelRuntime;
  private readonly stage: Region;
  private readonly fParse: (descs: number, n: number, out: number) => number;
  private disposed = false;

  constructor(options?: { runtime?: KernelRuntime }) {
    this.runtime = options?.runtime ?? defaultRuntime();
    this.kernel = this.runtime.kernel('flow');
    this.stage = this.runtime.memory.alloc({
      name: 'flow:parser-stage',
      owner: OWNER,
      kind: 'core-scratch',
      sizeBytes: STAGE_BYTES,
    });
    this.fParse = this.kernel.fn('flow_parse');
  }

  parse(frame: Uint8Array): ParsedPacket {
    return this.parseBurst([frame])[0]!;
  }

  /** Copies the frames into the staging buffer and parses them with one kernel call per fill. */
  parseBurst(frames: readonly Uint8Array[]): ParsedPacket[] {
    if (this.disposed) throw new QingtianError(ErrorCode.NotFound, 'packet parser has been disposed');
    const out: ParsedPacket[] = [];
    const mem = this.runtime.memory;
    let i = 0;
    while (i < frames.length) {
      // Layout: descriptors | records | frame bytes, as many frames as fit.
      const base = this.stage.base;
      const batch: number[] = [];
      let bytes = 0;
      while (i + batch.length < frames.length) {
        const f = frames[i + batch.length]!;
        if (!(f instanceof Uint8Array) || f.length > MAX_FRAME)
          throw new QingtianError(
            ErrorCode.InvalidArgument,
            `parseBurst: frames[${i + batch.length}]: expected a Uint8Array of at most ${MAX_FRAME} bytes`,
          );
        const n = batch.length + 1;
        if (n * (PARSE_DESC_BYTES + PARSE_REC_BYTES) + bytes + f.length > STAGE_BYTES) break;
        batch.push(f.length);
        bytes += f.length;
      }
      const n = batch.length;
      const recs = base + n * PARSE_DESC_BYTES;
      let at = recs + n * PARSE_REC_BYTES;
      for (let j = 0; j < n; j++) {
        mem.u8.set(frames[i + j]!, at);
        mem.view.setUint32(base + j * PARSE_DESC_BYTES + PARSE_DESC_ADDR, at, true);
        mem.view.setUint32(base + j * PARSE_DESC_BYTES + PARSE_DESC_LEN, batch[j]!, true);
        at += batch[j]!;
      }
      const st = this.fParse(base, n, recs);
      if (st !== n) throw new QingtianError(ErrorCode.BadHeader, `flow_parse returned ${st}`);
      for (let j = 0; j < n; j++)
        out.push(decodeRecord(mem.u8.subarray(recs + j * PARSE_REC_BYTES, recs + (j + 1) * PARSE_REC_BYTES)));
      i += n;
    }
    return out;
  }

  /**
   * Zero-copy form over the runtime's memory: `count` descriptors (u32 address, u32 length) at
   * descsAddr → 64-byte records at outAddr. Returns count.
   */
  parseAt(descsAddr: number, count: number, outAddr: number): number {
    const st = this.fParse(descsAddr, count, outAddr);
    if (st < 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        'parseAt: descriptor or record range lies outside host memory',
      );
    return st;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.memory.free(this.stage, OWNER);
  }
}
