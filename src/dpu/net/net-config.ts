import {
  NET_BAD_H1,
  NET_BAD_H2,
  NET_BAD_H2A,
  NET_BAD_H3,
  NET_BAD_H4,
  NET_BAD_H5,
  NET_BAD_H5A,
  NET_BAD_H6,
  NET_BAD_H6A,
  NET_BAD_H6C,
  NET_BAD_RING,
} from './net-layout.js';

/**
 * The virtio-net device configuration space (virtio 1.2 §5.1.4), little-endian:
 *   +0 u8 mac[6]  +6 le16 status  +8 le16 max_virtqueue_pairs  +10 le16 mtu  +12 le32 speed (Mb/s)
 *   +16 u8 duplex (1 full)
 */
export const NET_CONFIG_BYTES = 17;
/** The speed the config space reports, in Mb/s (a DPU-backed NIC; any value is allowed). */
export const NET_CONFIG_SPEED_MBPS = 100_000;

export function netConfigSpace(c: { mac: Uint8Array; status: number; maxPairs: number; mtu: number }): Uint8Array {
  const out = new Uint8Array(NET_CONFIG_BYTES);
  const v = new DataView(out.buffer);
  out.set(c.mac.subarray(0, 6), 0);
  v.setUint16(6, c.status, true);
  v.setUint16(8, c.maxPairs, true);
  v.setUint16(10, c.mtu, true);
  v.setUint32(12, NET_CONFIG_SPEED_MBPS, true);
  v.setUint8(16, 1);
  return out;
}

/** The device's bad-input counters: id → index (NET_BAD_*, assembly/net/net-state.ts). */
export const NET_BAD_INPUT_INDEX: Readonly<Record<string, number>> = {
  H1: NET_BAD_H1,
  H2: NET_BAD_H2,
  H2a: NET_BAD_H2A,
  H3: NET_BAD_H3,
  H4: NET_BAD_H4,
  H5: NET_BAD_H5,
  H5a: NET_BAD_H5A,
  H6: NET_BAD_H6,
  H6a: NET_BAD_H6A,
  H6c: NET_BAD_H6C,
  RING: NET_BAD_RING,
};
