// Runs a flow's action list (actions.ts) on the packet in the workspace, and checks a list before
// it is installed or used for a re-injection: the fast path trusts a list only after this check.

import { KEY_FLAG_TUNNEL, K_FLAGS, M_INNER_L2, M_IPVER, M_L3 } from '../flow/parser';
import {
  NET_ACT_ARG,
  NET_ACT_CHECK_L2,
  NET_ACT_CHECK_L2_WORDS,
  NET_ACT_COUNT,
  NET_ACT_COUNT_WORDS,
  NET_ACT_DECAP_VXLAN,
  NET_ACT_DECAP_VXLAN_WORDS,
  NET_ACT_DEC_TTL,
  NET_ACT_DEC_TTL_WORDS,
  NET_ACT_DROP,
  NET_ACT_DROP_WORDS,
  NET_ACT_ENCAP_VXLAN,
  NET_ACT_ENCAP_VXLAN_WORDS,
  NET_ACT_END,
  NET_ACT_L2_CHECK_DST,
  NET_ACT_L2_CHECK_SRC,
  NET_ACT_L2_DST_MAC,
  NET_ACT_L2_SRC_MAC,
  NET_ACT_MAX_BYTES,
  NET_ACT_MAX_OUTPUTS,
  NET_ACT_OP,
  NET_ACT_OUTPUT,
  NET_ACT_OUTPUT_WORDS,
  NET_ACT_POP_VLAN,
  NET_ACT_POP_VLAN_WORDS,
  NET_ACT_PUSH_VLAN,
  NET_ACT_PUSH_VLAN_WORDS,
  NET_ACT_SET_ETH_DST,
  NET_ACT_SET_ETH_SRC,
  NET_ACT_SET_ETH_WORDS,
  NET_ACT_UPCALL,
  NET_ACT_UPCALL_WORDS,
  NET_ACT_VLAN_TPID,
  NET_ACT_WORDS,
  NET_DROP_REASONS,
} from './actions';
import { ipv4HeaderChecksum } from './csum';
import { WS_BASE, WS_EDITED, WS_ENCAP, WS_HEAD, WS_L3, headCover, headPopVlan, headPushVlan } from './head-edit';
import { OutCtx, outputTo } from './output';
import { PKF_TUNNEL, PK_FLAGS, PK_LEN, PK_SRC } from './scratch';
import { NET_SW_COUNTERS, NET_SW_STAT_ACTION_DROPS, NET_SW_STAT_TTL_EXPIRED } from './switch-state';
import { counterAdd, dropReasonStat, swStat } from './switch-stats';
import { NET_UPC_ACTION, NET_UPC_L2_MISMATCH } from './upcall';

// runActions results: EX_DONE, EX_DROPPED, or EX_UPCALL | reason << 8 | arg << 16.
export const EX_DONE: u32 = 0;
export const EX_DROPPED: u32 = 1;
export const EX_UPCALL: u32 = 2;

/** Words each op must declare (0: unknown op). */
function opWords(op: u32): u32 {
  switch (op) {
    case NET_ACT_END:
      return 1;
    case NET_ACT_OUTPUT:
      return NET_ACT_OUTPUT_WORDS;
    case NET_ACT_DROP:
      return NET_ACT_DROP_WORDS;
    case NET_ACT_PUSH_VLAN:
      return NET_ACT_PUSH_VLAN_WORDS;
    case NET_ACT_POP_VLAN:
      return NET_ACT_POP_VLAN_WORDS;
    case NET_ACT_SET_ETH_DST:
    case NET_ACT_SET_ETH_SRC:
      return NET_ACT_SET_ETH_WORDS;
    case NET_ACT_DEC_TTL:
      return NET_ACT_DEC_TTL_WORDS;
    case NET_ACT_ENCAP_VXLAN:
      return NET_ACT_ENCAP_VXLAN_WORDS;
    case NET_ACT_DECAP_VXLAN:
      return NET_ACT_DECAP_VXLAN_WORDS;
    case NET_ACT_COUNT:
      return NET_ACT_COUNT_WORDS;
    case NET_ACT_CHECK_L2:
      return NET_ACT_CHECK_L2_WORDS;
    case NET_ACT_UPCALL:
      return NET_ACT_UPCALL_WORDS;
  }
  return 0;
}

/**
 * Checks an action list of `bytes` at `a`: a multiple of 4, at most NET_ACT_MAX_BYTES, every
 * action a known op of its exact length inside the list, ports below maxPorts, reasons and
 * counters in range, at most NET_ACT_MAX_OUTPUTS outputs. True when it may be run.
 */
export function actionsOk(a: usize, bytes: u32, maxPorts: u32): bool {
  if (bytes > NET_ACT_MAX_BYTES || (bytes & 3) != 0) return false;
  let off: u32 = 0;
  let outputs: u32 = 0;
  while (off < bytes) {
    const p = a + <usize>off;
    const op = <u32>load<u8>(p, NET_ACT_OP);
    const words = <u32>load<u8>(p, NET_ACT_WORDS);
    const want = opWords(op);
    if (want == 0 || words != want || off + words * 4 > bytes) return false;
    const arg = <u32>load<u16>(p, NET_ACT_ARG);
    if (op == NET_ACT_END) break;
    if (op == NET_ACT_OUTPUT) {
      if (arg >= maxPorts || ++outputs > NET_ACT_MAX_OUTPUTS) return false;
    } else if (op == NET_ACT_DROP) {
      if (arg >= NET_DROP_REASONS) return false;
    } else if (op == NET_ACT_COUNT) {
      if (arg >= NET_SW_COUNTERS) return false;
    } else if (op == NET_ACT_PUSH_VLAN) {
      const tpid = <u32>load<u16>(p, NET_ACT_VLAN_TPID);
      if (tpid != 0x8100 && tpid != 0x88a8) return false;
    } else if (op == NET_ACT_CHECK_L2) {
      if (arg == 0 || arg > 3) return false;
    }
    off += words * 4;
  }
  return true;
}

@inline function macEq(a: usize, b: usize): bool {
  return load<u32>(a) == load<u32>(b) && load<u16>(a, 4) == load<u16>(b, 4);
}

/**
 * Runs the checked list at `a` (`bytes` long) on the packet of `c`. Header edits go to the
 * workspace head; each OUTPUT sends a copy. Returns EX_*.
 */
export function runActions(c: OutCtx, a: usize, bytes: u32): u32 {
  const ws = c.ws;
  const src = <usize>load<u32>(c.pkt, PK_SRC);
  const len = load<u32>(c.pkt, PK_LEN);
  const l3 = <u32>load<u16>(c.rec, M_L3);
  let off: u32 = 0;
  // Bounded: every action advances off by at least 4 (checked), and bytes <= 96.
  while (off < bytes) {
    const p = a + <usize>off;
    const op = <u32>load<u8>(p, NET_ACT_OP);
    const words = <u32>load<u8>(p, NET_ACT_WORDS);
    const arg = <u32>load<u16>(p, NET_ACT_ARG);
    off += max<u32>(words, 1) * 4;
    switch (op) {
      case NET_ACT_END:
        return EX_DONE;
      case NET_ACT_OUTPUT:
        outputTo(c, arg);
        break;
      case NET_ACT_DROP:
        dropReasonStat(c.sw, arg);
        swStat(c.sw, NET_SW_STAT_ACTION_DROPS, 1);
        return EX_DROPPED;
      case NET_ACT_PUSH_VLAN:
        if (
          !headCover(ws, src, len, l3, l3 - load<u32>(ws, WS_BASE)) ||
          !headPushVlan(ws, <u32>load<u16>(p, NET_ACT_VLAN_TPID), arg)
        )
          return EX_DROPPED;
        break;
      case NET_ACT_POP_VLAN:
        if (!headCover(ws, src, len, l3, l3 - load<u32>(ws, WS_BASE))) return EX_DROPPED;
        headPopVlan(ws);
        break;
      case NET_ACT_SET_ETH_DST:
      case NET_ACT_SET_ETH_SRC: {
        if (!headCover(ws, src, len, l3, 12)) return EX_DROPPED;
        const at = ws + WS_HEAD + (op == NET_ACT_SET_ETH_SRC ? 6 : 0);
        memory.copy(at, p + 2, 6);
        break;
      }
      case NET_ACT_DEC_TTL:
        if (!decTtl(c, src, len, l3)) {
          swStat(c.sw, NET_SW_STAT_TTL_EXPIRED, 1);
          return EX_DROPPED;
        }
        break;
      case NET_ACT_ENCAP_VXLAN:
        store<u32>(ws, <u32>p, WS_ENCAP);
        break;
      case NET_ACT_DECAP_VXLAN:
        // A frame from a tunnel port is already its inner frame; one parsed as VXLAN over an
        // Ethernet frame continues from the inner frame, if no edit has been made yet.
        if (
          (load<u16>(c.pkt, PK_FLAGS) & PKF_TUNNEL) == 0 &&
          ((<u32>load<u8>(c.rec, K_FLAGS)) & KEY_FLAG_TUNNEL) != 0 &&
          load<u32>(ws, WS_EDITED) == 0
        )
          store<u32>(ws, <u32>load<u16>(c.rec, M_INNER_L2), WS_BASE);
        break;
      case NET_ACT_COUNT:
        counterAdd(c.sw, arg, len);
        break;
      case NET_ACT_CHECK_L2: {
        const base = src + <usize>load<u32>(ws, WS_BASE);
        if ((arg & NET_ACT_L2_CHECK_DST) != 0 && !macEq(base, p + NET_ACT_L2_DST_MAC))
          return EX_UPCALL | (NET_UPC_L2_MISMATCH << 8);
        if ((arg & NET_ACT_L2_CHECK_SRC) != 0 && !macEq(base + 6, p + NET_ACT_L2_SRC_MAC))
          return EX_UPCALL | (NET_UPC_L2_MISMATCH << 8);
        break;
      }
      case NET_ACT_UPCALL:
        return EX_UPCALL | (NET_UPC_ACTION << 8) | (arg << 16);
      default:
        return EX_DROPPED;
    }
  }
  return EX_DONE;
}

/** DEC_TTL: IPv4 TTL (header checksum recomputed) or IPv6 hop limit. False: expired (<= 1). */
function decTtl(c: OutCtx, src: usize, len: u32, l3: u32): bool {
  const ws = c.ws;
  const ver = <u32>load<u8>(c.rec, M_IPVER);
  const base = load<u32>(ws, WS_BASE);
  if (ver == 4) {
    // SAFETY: the parser checked a whole IPv4 header (IHL >= 5) at l3 inside the frame.
    const ihl = ((<u32>load<u8>(src + <usize>l3)) & 15) << 2;
    if (!headCover(ws, src, len, l3, l3 + ihl - base)) return false;
    const ip = ws + WS_HEAD + <usize>load<u32>(ws, WS_L3);
    const ttl = <u32>load<u8>(ip, 8);
    if (ttl <= 1) return false;
    store<u8>(ip, <u8>(ttl - 1), 8);
    ipv4HeaderChecksum(ip, ihl);
  } else if (ver == 6) {
    if (!headCover(ws, src, len, l3, l3 + 8 - base)) return false;
    const ip = ws + WS_HEAD + <usize>load<u32>(ws, WS_L3);
    const hl = <u32>load<u8>(ip, 7);
    if (hl <= 1) return false;
    store<u8>(ip, <u8>(hl - 1), 7);
  }
  return true;
}
