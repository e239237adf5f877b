// virtio-net device state (virtio 1.2 §5.1): one region per device, written by the control plane
// at setup and by the fast path (the switch job that serves the device) afterwards. The queues'
// own state is in their VQST regions (assembly/virtio/queue-state.ts); this region names them.
//
// Region 'NETD' (layout 1):
//   +64  u64 features       negotiated (the backend refuses bits it did not offer)
//   +72  u32 status         device status bits the device sets: DEVICE_NEEDS_RESET (64)
//   +76  u32 configIrq      the config-change interrupt word (0: none)
//   +80  u16 maxPairs       queue pairs the device offers (max_virtqueue_pairs; 1 without MQ)
//   +82  u16 curPairs       queue pairs in use (1 until VQ_PAIRS_SET)
//   +84  u16 mtu            config mtu (frames up to mtu + 14, + 4 with a VLAN tag)
//   +86  u16 linkStatus     config status: LINK_UP 1, ANNOUNCE 2
//   +88  u8 mac[6]          config mac (also the filter's own address)
//   +94  u16 rxMode         NET_RXM_* (control queue RX class)
//   +96  u32 ctrlVq         control queue state (VQST), 0 without CTRL_VQ
//   +100 u16 uniCount  +102 u16 multiCount   MAC table entries in use (overflow: NET_RXM_UNI_OVER / MULTI_OVER)
//   +104 u32 txCursor       next TX queue the switch serves first (round robin)
//   +108 u32 port           the device's port id in the switch (for counters)
//   +112 u64 ctrlCommands  +120 u64 ctrlErrors
//   +128 queues[NET_MAX_PAIRS] {u32 rxVq, u32 txVq}
//   +256 MAC table: uni[NET_MAC_TABLE] then multi[NET_MAC_TABLE], 8 bytes each (6 used)
//   +768 VLAN filter: 4096 bits
//   +1280 per-pair stats[NET_MAX_PAIRS], NET_QS_BYTES each (NET_QS_*)
//   +3328 bad-input counters: u64 per H id (NET_BAD_*)

export const NETD_MAGIC: u32 = 0x4454454e; // 'NETD'
export const NETD_LAYOUT: u32 = 1;
export const NETD_FEATURES: u32 = 64;
export const NETD_STATUS: u32 = 72;
export const NETD_CONFIG_IRQ: u32 = 76;
export const NETD_MAX_PAIRS: u32 = 80;
export const NETD_CUR_PAIRS: u32 = 82;
export const NETD_MTU: u32 = 84;
export const NETD_LINK_STATUS: u32 = 86;
export const NETD_MAC: u32 = 88;
export const NETD_RX_MODE: u32 = 94;
export const NETD_CTRL_VQ: u32 = 96;
export const NETD_UNI_COUNT: u32 = 100;
export const NETD_MULTI_COUNT: u32 = 102;
export const NETD_TX_CURSOR: u32 = 104;
export const NETD_PORT: u32 = 108;
export const NETD_CTRL_COMMANDS: u32 = 112;
export const NETD_CTRL_ERRORS: u32 = 120;
export const NETD_QUEUES: u32 = 128;
export const NETD_MAC_TABLE: u32 = 256;
export const NETD_VLAN_FILTER: u32 = 768;
export const NETD_QSTATS: u32 = 1280;
export const NETD_BAD: u32 = 3328;
export const NETD_STATE_BYTES: u32 = 3456;

export const NET_MAX_PAIRS: u32 = 16;
export const NET_MAC_TABLE: u32 = 32;

// Per-pair statistics (u64 each), at NETD_QSTATS + pair * NET_QS_BYTES.
export const NET_QS_BYTES: u32 = 128;
export const NET_QS_RX_PACKETS: u32 = 0;
export const NET_QS_RX_BYTES: u32 = 8;
export const NET_QS_RX_DROPS: u32 = 16; // no buffer, filtered, too big for the buffers
export const NET_QS_RX_FILTERED: u32 = 24;
export const NET_QS_RX_BUFFERS: u32 = 32; // buffers used (> packets with MRG_RXBUF)
export const NET_QS_RX_ERRORS: u32 = 40; // guest buffers refused (H6, H6a, H6c)
export const NET_QS_RX_CSUM_PARTIAL: u32 = 48; // delivered with NEEDS_CSUM (GUEST_CSUM)
export const NET_QS_TX_PACKETS: u32 = 64;
export const NET_QS_TX_BYTES: u32 = 72;
export const NET_QS_TX_ERRORS: u32 = 80; // requests refused (H1-H5a)
export const NET_QS_TX_TSO: u32 = 88; // TSO frames taken
export const NET_QS_TX_CSUM: u32 = 96; // NEEDS_CSUM frames taken

// Bad-input counters (u64 at NETD_BAD + 8 * id index).
export const NET_BAD_H1: u32 = 0;
export const NET_BAD_H2: u32 = 1;
export const NET_BAD_H2A: u32 = 2;
export const NET_BAD_H3: u32 = 3;
export const NET_BAD_H4: u32 = 4;
export const NET_BAD_H5: u32 = 5;
export const NET_BAD_H5A: u32 = 6;
export const NET_BAD_H6: u32 = 7;
export const NET_BAD_H6A: u32 = 8;
export const NET_BAD_H6C: u32 = 9;
export const NET_BAD_RING: u32 = 10; // a chain the ring layer rejected (C/D ids)
export const NET_BAD_COUNT: u32 = 16;

// rxMode bits (control queue class RX, and table overflow).
export const NET_RXM_PROMISC: u32 = 1;
export const NET_RXM_ALLMULTI: u32 = 2;
export const NET_RXM_ALLUNI: u32 = 4;
export const NET_RXM_NOMULTI: u32 = 8;
export const NET_RXM_NOUNI: u32 = 16;
export const NET_RXM_NOBCAST: u32 = 32;
export const NET_RXM_UNI_OVER: u32 = 64;
export const NET_RXM_MULTI_OVER: u32 = 128;

// Feature bits (§5.1.3), as bit numbers of the 64-bit feature word.
export const NET_F_CSUM: u32 = 0;
export const NET_F_GUEST_CSUM: u32 = 1;
export const NET_F_MTU: u32 = 3;
export const NET_F_MAC: u32 = 5;
export const NET_F_GUEST_TSO4: u32 = 7;
export const NET_F_GUEST_TSO6: u32 = 8;
export const NET_F_HOST_TSO4: u32 = 11;
export const NET_F_HOST_TSO6: u32 = 12;
export const NET_F_HOST_ECN: u32 = 13;
export const NET_F_MRG_RXBUF: u32 = 15;
export const NET_F_STATUS: u32 = 16;
export const NET_F_CTRL_VQ: u32 = 17;
export const NET_F_CTRL_RX: u32 = 18;
export const NET_F_CTRL_VLAN: u32 = 19;
export const NET_F_CTRL_RX_EXTRA: u32 = 20;
export const NET_F_GUEST_ANNOUNCE: u32 = 21;
export const NET_F_MQ: u32 = 22;
export const NET_F_CTRL_MAC_ADDR: u32 = 23;

// Config space status (§5.1.4).
export const NET_S_LINK_UP: u32 = 1;
export const NET_S_ANNOUNCE: u32 = 2;

@inline export function hasFeature(dev: usize, bit: u32): bool {
  return ((load<u64>(dev, NETD_FEATURES) >> bit) & 1) != 0;
}

@inline export function bumpAt(p: usize, off: u32, by: u64): void {
  store<u64>(p + <usize>off, load<u64>(p + <usize>off) + by);
}

/** Counts one bad input of kind `id` (NET_BAD_*). */
@inline export function countBad(dev: usize, id: u32): void {
  bumpAt(dev, NETD_BAD + (id << 3), 1);
}

@inline export function pairStats(dev: usize, pair: u32): usize {
  return dev + NETD_QSTATS + <usize>pair * NET_QS_BYTES;
}

@inline export function rxVq(dev: usize, pair: u32): usize {
  return <usize>load<u32>(dev + NETD_QUEUES + ((<usize>pair) << 3));
}

@inline export function txVq(dev: usize, pair: u32): usize {
  return <usize>load<u32>(dev + NETD_QUEUES + ((<usize>pair) << 3), 4);
}
