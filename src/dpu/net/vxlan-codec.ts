import { ETH_HEADER_BYTES } from './ethernet.js';

/**
 * The VXLAN header (RFC 7348 §5): 8 bytes in front of the inner Ethernet frame, carried in a UDP
 * datagram (destination port 4789 by default).
 *
 *   +0 u8 flags (0x08: I, the VNI is valid)   +1..+3 reserved
 *   +4 u24 VNI (big-endian)                    +7 reserved
 *
 * Reserved bits are sent as zero and ignored on receipt (§5).
 */
export const VXLAN_HEADER_BYTES = 8;
export const VXLAN_FLAG_I = 0x08;
/** The IANA port for VXLAN (RFC 7348 §5). */
export const VXLAN_DEFAULT_PORT = 4789;
export const MAX_VNI = 0xffffff;

export type VxlanDecodeError = 'short' | 'no-vni-flag';

/** A UDP payload: the VXLAN header for `vni`, then `inner`. */
export function encodeVxlan(vni: number, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(VXLAN_HEADER_BYTES + inner.length);
  writeVxlanHeader(out, 0, vni);
  out.set(inner, VXLAN_HEADER_BYTES);
  return out;
}

/** Writes the 8-byte header at `at` (reserved bytes zero). */
export function writeVxlanHeader(b: Uint8Array, at: number, vni: number): void {
  b[at] = VXLAN_FLAG_I;
  b[at + 1] = 0;
  b[at + 2] = 0;
  b[at + 3] = 0;
  b[at + 4] = (vni >>> 16) & 0xff;
  b[at + 5] = (vni >>> 8) & 0xff;
  b[at + 6] = vni & 0xff;
  b[at + 7] = 0;
}

/**
 * Reads a UDP payload: the VNI and the inner frame (a view, not a copy), or why it is refused: too
 * short to hold the header and an Ethernet header, or the I flag clear (§5: the VNI is not valid).
 */
export function decodeVxlan(payload: Uint8Array): { vni: number; inner: Uint8Array } | { error: VxlanDecodeError } {
  if (payload.length < VXLAN_HEADER_BYTES + ETH_HEADER_BYTES) return { error: 'short' };
  if ((payload[0]! & VXLAN_FLAG_I) === 0) return { error: 'no-vni-flag' };
  const vni = (payload[4]! << 16) | (payload[5]! << 8) | payload[6]!;
  return { vni, inner: payload.subarray(VXLAN_HEADER_BYTES) };
}
