import { ErrorCode, QingtianError } from '../../common/errors.js';
import {
  NET_ACT_CHECK_L2,
  NET_ACT_CHECK_L2_WORDS,
  NET_ACT_COUNT,
  NET_ACT_DECAP_VXLAN,
  NET_ACT_DEC_TTL,
  NET_ACT_DROP,
  NET_ACT_ENCAP_VXLAN,
  NET_ACT_ENCAP_VXLAN_WORDS,
  NET_ACT_L2_CHECK_DST,
  NET_ACT_L2_CHECK_SRC,
  NET_ACT_L2_DST_MAC,
  NET_ACT_L2_SRC_MAC,
  NET_ACT_MAX_BYTES,
  NET_ACT_OUTPUT,
  NET_ACT_POP_VLAN,
  NET_ACT_PUSH_VLAN,
  NET_ACT_PUSH_VLAN_WORDS,
  NET_ACT_SET_ETH_DST,
  NET_ACT_SET_ETH_SRC,
  NET_ACT_SET_ETH_WORDS,
  NET_ACT_UPCALL,
  NET_ACT_VLAN_TPID,
  NET_ACT_VXLAN_DST_IP,
  NET_ACT_VXLAN_DST_MAC,
  NET_ACT_VXLAN_SRC_IP,
  NET_ACT_VXLAN_SRC_MAC,
  NET_ACT_VXLAN_VNI,
  NET_VXLAN_DEFAULT_PORT,
} from './net-layout.js';
import { macBytes, ipv4Bytes } from './net-address.js';

/** One action of a flow's list (assembly/net/actions.ts); the fast path checks a list again at install. */
export type Action =
  | { op: 'output'; port: number }
  | { op: 'drop'; reason: number }
  | { op: 'push-vlan'; vid: number; pcp?: number; tpid?: 0x8100 | 0x88a8 }
  | { op: 'pop-vlan' }
  | { op: 'set-eth-dst'; mac: string }
  | { op: 'set-eth-src'; mac: string }
  | { op: 'dec-ttl' }
  | { op: 'encap-vxlan'; vni: number; srcIp: string; dstIp: string; srcMac: string; dstMac: string; udpPort?: number }
  | { op: 'decap-vxlan' }
  | { op: 'count'; counter: number }
  | { op: 'check-l2'; src?: string; dst?: string }
  | { op: 'upcall'; reason: number };

function u16(name: string, v: number, max = 0xffff): number {
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new QingtianError(ErrorCode.InvalidArgument, `action ${name}: expected an integer in [0, ${max}], got ${v}`);
  return v;
}

/**
 * Encodes an action list into the bytes the fast path runs (at most NET_ACT_MAX_BYTES). Ports,
 * reasons and counters are range-checked again by the kernel when the list is installed.
 */
export function encodeActions(actions: readonly Action[]): Uint8Array {
  const out = new Uint8Array(NET_ACT_MAX_BYTES);
  const v = new DataView(out.buffer);
  let at = 0;
  const head = (op: number, words: number, arg: number): number => {
    if (at + words * 4 > NET_ACT_MAX_BYTES)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `action list: expected at most ${NET_ACT_MAX_BYTES} bytes, got more (at action ${op})`,
      );
    const p = at;
    v.setUint8(p, op);
    v.setUint8(p + 1, words);
    v.setUint16(p + 2, arg, true);
    at += words * 4;
    return p;
  };
  for (const a of actions) {
    switch (a.op) {
      case 'output':
        head(NET_ACT_OUTPUT, 1, u16('output.port', a.port));
        break;
      case 'drop':
        head(NET_ACT_DROP, 1, u16('drop.reason', a.reason, 15));
        break;
      case 'push-vlan': {
        const tci = (u16('push-vlan.pcp', a.pcp ?? 0, 7) << 13) | u16('push-vlan.vid', a.vid, 4095);
        const p = head(NET_ACT_PUSH_VLAN, NET_ACT_PUSH_VLAN_WORDS, tci);
        v.setUint16(p + NET_ACT_VLAN_TPID, a.tpid ?? 0x8100, true);
        break;
      }
      case 'pop-vlan':
        head(NET_ACT_POP_VLAN, 1, 0);
        break;
      case 'set-eth-dst':
      case 'set-eth-src': {
        const p = head(a.op === 'set-eth-dst' ? NET_ACT_SET_ETH_DST : NET_ACT_SET_ETH_SRC, NET_ACT_SET_ETH_WORDS, 0);
        out.set(macBytes(a.mac), p + 2);
        break;
      }
      case 'dec-ttl':
        head(NET_ACT_DEC_TTL, 1, 0);
        break;
      case 'encap-vxlan': {
        const p = head(
          NET_ACT_ENCAP_VXLAN,
          NET_ACT_ENCAP_VXLAN_WORDS,
          u16('encap-vxlan.udpPort', a.udpPort ?? NET_VXLAN_DEFAULT_PORT),
        );
        v.setUint32(p + NET_ACT_VXLAN_VNI, u16('encap-vxlan.vni', a.vni, 0xffffff), true);
        out.set(ipv4Bytes(a.srcIp), p + NET_ACT_VXLAN_SRC_IP);
        out.set(ipv4Bytes(a.dstIp), p + NET_ACT_VXLAN_DST_IP);
        out.set(macBytes(a.srcMac), p + NET_ACT_VXLAN_SRC_MAC);
        out.set(macBytes(a.dstMac), p + NET_ACT_VXLAN_DST_MAC);
        break;
      }
      case 'decap-vxlan':
        head(NET_ACT_DECAP_VXLAN, 1, 0);
        break;
      case 'count':
        head(NET_ACT_COUNT, 1, u16('count.counter', a.counter, 63));
        break;
      case 'check-l2': {
        const bits =
          (a.src !== undefined ? NET_ACT_L2_CHECK_SRC : 0) | (a.dst !== undefined ? NET_ACT_L2_CHECK_DST : 0);
        if (bits === 0)
          throw new QingtianError(ErrorCode.InvalidArgument, 'action check-l2: expected src and/or dst, got neither');
        const p = head(NET_ACT_CHECK_L2, NET_ACT_CHECK_L2_WORDS, bits);
        if (a.src !== undefined) out.set(macBytes(a.src), p + NET_ACT_L2_SRC_MAC);
        if (a.dst !== undefined) out.set(macBytes(a.dst), p + NET_ACT_L2_DST_MAC);
        break;
      }
      case 'upcall':
        head(NET_ACT_UPCALL, 1, u16('upcall.reason', a.reason));
        break;
    }
  }
  return out.slice(0, at);
}
