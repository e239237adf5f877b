import { ErrorCode, QingtianError } from '../../common/errors.js';
import { checkKernelStatus, statusTable, type StatusTable } from '../../common/kernel-status.js';
import { Lifetime } from '../../common/lifetime.js';
import type { Region } from '../../common/host-memory-api.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import { formatIPv4, formatIPv6 } from './ip-address.js';
import {
  KEY_FLAG_FRAGMENT,
  KEY_FLAG_TUNNEL,
  K_DPORT,
  K_DST,
  K_ETYPE,
  K_FLAGS,
  K_PROTO,
  K_SPORT,
  K_SRC,
  K_VLAN,
  K_VNI,
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
  PARSE_E_RANGE,
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

/*
 * The parse record and descriptor layouts are assembly/flow/parser.ts's; their offsets come from
 * src/generated/flow.ts.
 */

/** Bytes of one parse record (`parseAt`'s output): the 48-byte flow key, then 16 bytes of metadata. */
export const PARSE_RECORD_BYTES = PARSE_REC_BYTES;
/** Bytes of one input descriptor of `parseAt`: u32 frame address, u32 frame length (little-endian). */
export { PARSE_DESC_BYTES };

/** `ok`: a flow key was built; `malformed`: a header ran short or contradicted itself; `not-ip`: no IP header. */
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

/**
 * One parsed packet. For a VXLAN frame the inner frame gives the key and the fields; offsets are
 * from the start of the outer frame.
 */
export interface ParsedPacket {
  /** Whether a key was built. */
  verdict: Verdict;
  /**
   * Why a packet is malformed ('' otherwise): which header ran short or contradicted itself —
   * `l2`, `ipv4`, `ipv4-length`, `ipv6`, `ipv6-length`, `ipv6-extension`, `tcp`, `udp`, `icmp`,
   * `sctp`, `vxlan`, or `range` (the frame lies outside memory).
   */
  reason: string;
  /**
   * The 48-byte flow key (FlowTable's key): `+0` source address (16 B; IPv4 in the first 4,
   * network order), `+16` destination, `+32` u16 source port, `+34` u16 destination port, `+36`
   * u8 protocol, `+37` u8 flags (1 VXLAN inner, 2 non-first fragment), `+38` u16 ethertype, `+40`
   * u16 VLAN id, `+44` u32 VNI; the rest zero.
   */
  key: Uint8Array;
  /** 4 or 6; 0 when there is no IP header. */
  ipVersion: 0 | 4 | 6;
  /** Source address as text ('' without IP). */
  src: string;
  /** Destination address as text ('' without IP). */
  dst: string;
  /** TCP/UDP/SCTP source port; ICMP/ICMPv6: type << 8 | code. */
  srcPort: number;
  /** TCP/UDP/SCTP destination port; ICMP/ICMPv6 echo: the identifier. */
  dstPort: number;
  /** IP protocol number (the last next-header for IPv6), 0..255. */
  proto: number;
  /** Ethertype after the VLAN tags (0x0800 IPv4, 0x86DD IPv6). */
  ethertype: number;
  /** The innermost VLAN id, 0..4095 (0: untagged). */
  vlan: number;
  /** The VXLAN network identifier, 0..2^24 − 1 (0: not tunnelled). */
  vni: number;
  /** True when the key is the inner frame's of a VXLAN packet (UDP 4789, I flag set). */
  tunnelled: boolean;
  /** True for a non-first fragment (no ports: they are in the first). */
  fragment: boolean;
  /** TCP flags byte (0 for other protocols). */
  tcpFlags: number;
  /** Offset of the (inner) IP header in the frame. */
  l3Offset: number;
  /** Offset of the transport header. */
  l4Offset: number;
  /** Offset of the transport payload. */
  payloadOffset: number;
}

/** Fields of a flow key; absent ones are zero. Addresses: IPv4 u32 or IPv6 bigint. */
export interface FlowKeyFields {
  /** Source address: IPv4 as a u32, IPv6 as a bigint below 2^128. */
  src?: number | bigint;
  /** Destination address, as `src`. */
  dst?: number | bigint;
  /** Source port (ICMP: type << 8 | code), 0..65535. */
  srcPort?: number;
  /** Destination port (ICMP echo: the identifier), 0..65535. */
  dstPort?: number;
  /** IP protocol number, 0..255. */
  proto?: number;
  /** Ethertype; default 0x0800 for an IPv4 `src`, 0x86DD for IPv6. */
  ethertype?: number;
  /** VLAN id, 0..4095. */
  vlan?: number;
  /** VXLAN network identifier, 0..2^24 − 1. */
  vni?: number;
  /** Set the VXLAN-inner flag. */
  tunnelled?: boolean;
  /** Set the non-first-fragment flag. */
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

/** Decodes a 64-byte parse record (what `parseAt` writes) into a {@link ParsedPacket}. */
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

/** Options of {@link PacketParser}. */
export interface PacketParserOptions {
  /** Where its staging buffer lives and which kernels it calls. Default: defaultRuntime(); in a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
}

/**
 * The packet parser kernel (`flow_parse`) → flow keys: Ethernet, up to two VLAN tags (802.1Q /
 * 802.1ad), IPv4 (options, fragments), IPv6 with hop-by-hop, routing, destination options,
 * fragment, AH, mobility, HIP and shim6 headers skipped (at most 8), TCP, UDP, SCTP,
 * ICMP/ICMPv6, and VXLAN (UDP 4789, I flag) whose inner frame gives the key. Never reads past a
 * frame's end; short or self-contradicting frames get the verdict `'malformed'` and a reason.
 */
export class PacketParser {
  /** The `flow` kernel version it calls. */
  readonly kernel: LoadedKernel;
  private readonly runtime: KernelRuntime;
  private readonly stage: Region;
  private readonly fParse: (descs: number, n: number, out: number) => number;
  private readonly statuses: StatusTable;
  private readonly life = new Lifetime('PacketParser');

  constructor(options?: PacketParserOptions) {
    this.runtime = options?.runtime ?? defaultRuntime();
    this.kernel = this.runtime.kernel('flow');
    this.statuses = statusTable([
      [PARSE_E_RANGE, 'range', 'a descriptor, frame or record range lies outside host memory'],
    ]);
    this.stage = this.runtime.memory.alloc({
      name: 'flow:parser-stage',
      owner: OWNER,
      kind: 'core-scratch',
      sizeBytes: STAGE_BYTES,
    });
    this.fParse = this.kernel.fn('flow_parse');
  }

  /** Parses one frame (at most 65535 bytes). */
  parse(frame: Uint8Array): ParsedPacket {
    this.life.check('parse');
    return this.parseBurst([frame])[0]!;
  }

  /** Copies the frames into the staging buffer and parses them with one kernel call per fill. */
  parseBurst(frames: readonly Uint8Array[]): ParsedPacket[] {
    this.life.check('parseBurst');
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
      const st = checkKernelStatus('PacketParser.parseBurst', this.fParse(base, n, recs), this.statuses);
      if (st !== n)
        throw new QingtianError(ErrorCode.KernelFault, `PacketParser.parseBurst: parsed ${st} of ${n} frames`);
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
    this.life.check('parseAt');
    return checkKernelStatus('PacketParser.parseAt', this.fParse(descsAddr, count, outAddr), this.statuses);
  }

  /** Frees its staging buffer. Using it afterwards throws `QT_DISPOSED`; a second call does nothing. */
  dispose(): void {
    if (!this.life.end()) return;
    this.runtime.memory.free(this.stage, OWNER);
  }
}
