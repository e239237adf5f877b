// The virtio-net header (§5.1.6) in front of every packet, and the checks a TX header passes
// before its frame enters the switch (bad-input ids H1-H5a, docs/virtio-policy.md). Every
// refusal is R: the request is completed with nothing done, counted, and the queue goes on.
//
//   +0 u8 flags (NEEDS_CSUM 1, DATA_VALID 2, RSC_INFO 4)   +1 u8 gso_type (NONE 0, TCPV4 1,
//   UDP 3, TCPV6 4, ECN 0x80)   +2 u16 hdr_len   +4 u16 gso_size   +6 u16 csum_start
//   +8 u16 csum_offset   +10 u16 num_buffers          (12 bytes with VERSION_1)

import {
  NET_BAD_H2,
  NET_BAD_H2A,
  NET_BAD_H4,
  NET_BAD_H5,
  NET_BAD_H5A,
  NET_F_CSUM,
  NET_F_HOST_ECN,
  NET_F_HOST_TSO4,
  NET_F_HOST_TSO6,
  NETD_MTU,
  hasFeature,
} from './net-state';

export const NET_HDR_BYTES: u32 = 12;
export const NET_HDR_FLAGS: u32 = 0;
export const NET_HDR_GSO_TYPE: u32 = 1;
export const NET_HDR_HDR_LEN: u32 = 2;
export const NET_HDR_GSO_SIZE: u32 = 4;
export const NET_HDR_CSUM_START: u32 = 6;
export const NET_HDR_CSUM_OFFSET: u32 = 8;
export const NET_HDR_NUM_BUFFERS: u32 = 10;

export const NET_HDR_F_NEEDS_CSUM: u32 = 1;
export const NET_HDR_F_DATA_VALID: u32 = 2;
export const NET_HDR_F_RSC_INFO: u32 = 4;
export const NET_GSO_NONE: u32 = 0;
export const NET_GSO_TCPV4: u32 = 1;
export const NET_GSO_UDP: u32 = 3;
export const NET_GSO_TCPV6: u32 = 4;
export const NET_GSO_ECN: u32 = 0x80;

export const ETH_HDR_BYTES: u32 = 14;
/** Largest frame a GSO request may carry (§5.1.6.2: 65550 = 65535 + Ethernet + a VLAN tag... as the spec's bound). */
export const NET_GSO_MAX_FRAME: u32 = 65550;

/**
 * Checks the 12 header bytes at `h` (a private copy) for a frame of `frameLen` bytes whose
 * outer ethertype is `etype` (0x8100 when tagged). Returns 0, or NET_BAD_* + 1 for the id the
 * request breaks. The header's deep checks for GSO (a TCP frame to segment) come later, at
 * output, once the frame is parsed (H5a there too).
 */
export function txHeaderCheck(dev: usize, h: usize, frameLen: u32, tagged: bool): u32 {
  const flags = <u32>load<u8>(h, NET_HDR_FLAGS);
  const gso = <u32>load<u8>(h, NET_HDR_GSO_TYPE);
  // H2a: not even an Ethernet header.
  if (frameLen < ETH_HDR_BYTES) return NET_BAD_H2A + 1;
  // H4: TX num_buffers must be 0 (§5.1.6.2.1); TX flags carry NEEDS_CSUM only.
  if (load<u16>(h, NET_HDR_NUM_BUFFERS) != 0 || (flags & ~NET_HDR_F_NEEDS_CSUM) != 0) return NET_BAD_H4 + 1;
  const base = gso & ~NET_GSO_ECN;
  if (gso != NET_GSO_NONE) {
    // H5a: a GSO type the device did not offer or that does not exist, ECN without HOST_ECN,
    // GSO without NEEDS_CSUM (§5.1.6.2.1), gso_size 0 or beyond the frame, hdr_len beyond it.
    if (base == NET_GSO_TCPV4) {
      if (!hasFeature(dev, NET_F_HOST_TSO4)) return NET_BAD_H5A + 1;
    } else if (base == NET_GSO_TCPV6) {
      if (!hasFeature(dev, NET_F_HOST_TSO6)) return NET_BAD_H5A + 1;
    } else return NET_BAD_H5A + 1;
    if ((gso & NET_GSO_ECN) != 0 && !hasFeature(dev, NET_F_HOST_ECN)) return NET_BAD_H5A + 1;
    if ((flags & NET_HDR_F_NEEDS_CSUM) == 0) return NET_BAD_H5A + 1;
    const size = <u32>load<u16>(h, NET_HDR_GSO_SIZE);
    if (size == 0 || size >= frameLen || <u32>load<u16>(h, NET_HDR_HDR_LEN) > frameLen) return NET_BAD_H5A + 1;
    if (frameLen > NET_GSO_MAX_FRAME) return NET_BAD_H2 + 1; // H2
  } else {
    const mtu = <u32>load<u16>(dev, NETD_MTU);
    if (frameLen > mtu + ETH_HDR_BYTES + (tagged ? 4 : 0)) return NET_BAD_H2 + 1; // H2
  }
  if ((flags & NET_HDR_F_NEEDS_CSUM) != 0) {
    // NEEDS_CSUM needs VIRTIO_NET_F_CSUM (§5.1.6.2.1), and the checksum field inside the frame (H5).
    if (!hasFeature(dev, NET_F_CSUM)) return NET_BAD_H4 + 1;
    const end = <u32>load<u16>(h, NET_HDR_CSUM_START) + <u32>load<u16>(h, NET_HDR_CSUM_OFFSET) + 2;
    if (end > frameLen) return NET_BAD_H5 + 1;
  }
  return 0;
}
