import { ETHERTYPE_ARP, ETHERTYPE_IPV4, buildEthernet } from './ethernet.js';
import { readMac, writeMac } from './mac-address.js';

/**
 * ARP for IPv4 over Ethernet (RFC 826): the 28-byte packet the ARP responder reads and writes.
 *
 *   +0 htype 1  +2 ptype 0x0800  +4 hlen 6  +5 plen 4  +6 oper (1 request, 2 reply)
 *   +8 sender MAC  +14 sender IP  +18 target MAC  +24 target IP
 */
export const ARP_BYTES = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpPacket {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

/** Reads an ARP packet at `at`; null unless it is Ethernet/IPv4 ARP and whole. */
export function parseArp(frame: Uint8Array, at: number): ArpPacket | null {
  if (frame.length < at + ARP_BYTES) return null;
  const v = new DataView(frame.buffer, frame.byteOffset + at, ARP_BYTES);
  if (v.getUint16(0) !== 1 || v.getUint16(2) !== ETHERTYPE_IPV4 || v.getUint8(4) !== 6 || v.getUint8(5) !== 4) {
    return null;
  }
  return {
    op: v.getUint16(6),
    senderMac: readMac(frame, at + 8),
    senderIp: v.getUint32(14),
    targetMac: readMac(frame, at + 18),
    targetIp: v.getUint32(24),
  };
}

/** The ARP packet's 28 bytes. */
export function encodeArp(p: ArpPacket): Uint8Array {
  const b = new Uint8Array(ARP_BYTES);
  const v = new DataView(b.buffer);
  v.setUint16(0, 1);
  v.setUint16(2, ETHERTYPE_IPV4);
  v.setUint8(4, 6);
  v.setUint8(5, 4);
  v.setUint16(6, p.op);
  writeMac(b, 8, p.senderMac);
  v.setUint32(14, p.senderIp >>> 0);
  writeMac(b, 18, p.targetMac);
  v.setUint32(24, p.targetIp >>> 0);
  return b;
}

/** A whole ARP frame (Ethernet header, optional 802.1Q tag). */
export function arpFrame(p: ArpPacket, eth: { dst: number; src: number; vlan?: number }): Uint8Array {
  return buildEthernet({ ...eth, ethertype: ETHERTYPE_ARP }, encodeArp(p));
}
