import { readMac, writeMac } from './mac-address.js';

/**
 * Ethernet II headers with 802.1Q / 802.1ad tags, as the slow path reads a missed frame and writes
 * the frames it originates (ARP replies). Fields are numbers; MACs are 48-bit integers.
 */
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETH_HEADER_BYTES = 14;
/** Tags read before giving up: a frame with more is 'malformed' for the slow path. */
export const MAX_VLAN_TAGS = 2;

export interface EthernetHeader {
  dst: number;
  src: number;
  /** VLAN ids, outermost first (12 bits each; priority and DEI are not kept). */
  vlans: number[];
  /** The ethertype after the tags. */
  ethertype: number;
  /** Where the L3 header starts. */
  payloadOffset: number;
}

/** Reads the L2 header; null when the frame is shorter than its header or has too many tags. */
export function parseEthernet(frame: Uint8Array): EthernetHeader | null {
  if (frame.length < ETH_HEADER_BYTES) return null;
  const vlans: number[] = [];
  let at = 12;
  let type = (frame[at]! << 8) | frame[at + 1]!;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
    if (vlans.length === MAX_VLAN_TAGS || frame.length < at + 4 + 2 + 2) return null;
    vlans.push(((frame[at + 2]! << 8) | frame[at + 3]!) & 0xfff);
    at += 4;
    type = (frame[at]! << 8) | frame[at + 1]!;
  }
  return { dst: readMac(frame, 0), src: readMac(frame, 6), vlans, ethertype: type, payloadOffset: at + 2 };
}

/** An Ethernet frame: header (with one 802.1Q tag when `vlan` is given) then `payload`. */
export function buildEthernet(
  h: { dst: number; src: number; ethertype: number; vlan?: number },
  payload: Uint8Array,
): Uint8Array {
  const tag = h.vlan === undefined ? 0 : 4;
  const f = new Uint8Array(ETH_HEADER_BYTES + tag + payload.length);
  writeMac(f, 0, h.dst);
  writeMac(f, 6, h.src);
  let at = 12;
  if (h.vlan !== undefined) {
    f[12] = ETHERTYPE_VLAN >> 8;
    f[13] = ETHERTYPE_VLAN & 0xff;
    f[14] = (h.vlan >> 8) & 0x0f;
    f[15] = h.vlan & 0xff;
    at = 16;
  }
  f[at] = h.ethertype >> 8;
  f[at + 1] = h.ethertype & 0xff;
  f.set(payload, at + 2);
  return f;
}

/** The frame with its outermost VLAN tag removed (a copy); the frame itself when untagged. */
export function popVlan(frame: Uint8Array): Uint8Array {
  const t = (frame[12]! << 8) | frame[13]!;
  if (frame.length < 18 || (t !== ETHERTYPE_VLAN && t !== ETHERTYPE_QINQ)) return frame;
  const out = new Uint8Array(frame.length - 4);
  out.set(frame.subarray(0, 12), 0);
  out.set(frame.subarray(16), 12);
  return out;
}

/** The frame with an 802.1Q tag for `vlan` pushed outermost (a copy). */
export function pushVlan(frame: Uint8Array, vlan: number): Uint8Array {
  const out = new Uint8Array(frame.length + 4);
  out.set(frame.subarray(0, 12), 0);
  out[12] = ETHERTYPE_VLAN >> 8;
  out[13] = ETHERTYPE_VLAN & 0xff;
  out[14] = (vlan >> 8) & 0x0f;
  out[15] = vlan & 0xff;
  out.set(frame.subarray(12), 16);
  return out;
}
