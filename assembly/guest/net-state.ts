// The guest network stack's state ('GNET'), in guest RAM like a guest kernel's own structures:
// the two virtqueue drivers it owns (receive, transmit), its buffers, its address, an ARP cache,
// and the counters its workloads keep.
//
//   +0   u32 magic  +4 u32 rxDrv  +8 u32 txDrv (host addresses of the GDRV states)
//   +12  u32 ramBase (host address of GPA 0)   +16 u64 rxBufGpa  +24 u64 txBufGpa
//   +32  u32 bufBytes  +36 u32 queueSize  +40 u8 mac[6]  +46 u16 flags (GNF_*)
//   +48  4 B ip (network order)  +52 u16 echoPort (UDP echo server, 0: off)  +54 u16 sinkPort
//   +56  u32 reapScratch (host address, 8 B x GNET_REAP)
//   +64  u64 counters[GNC_COUNT]
//   +192 traffic generator: 4 B dstIp, u16 dstPort, u16 srcPort, u32 nextSeq, u32 payload
//   +208 u32 window (datagrams ahead of the sink's count, 0: unlimited)
//   +212 sink: u32 highest seq + 1   +216 u64 received  +224 u64 reordered  +232 u64 duplicates
//   +240 ping: u32 lastReplySeq, u32 replies, u16 ident, u16 vlan (802.1Q id of every frame sent, 0: untagged)
//   +256 ARP cache: GNET_ARP entries of 16 B {4 B ip, 6 B mac, u16 valid, u32 zero}
//   +512 duplicate filter for the sink: GNET_SEEN_BITS bits by seq modulo that
//   +8704 route: 4 B netmask, 4 B gateway (network order; gateway 0: every address is on-link)

export const GN_MAGIC: u32 = 0x54454e47; // 'GNET'
export const GN_RX_DRV: u32 = 4;
export const GN_TX_DRV: u32 = 8;
export const GN_RAM: u32 = 12;
export const GN_RX_BUF: u32 = 16;
export const GN_TX_BUF: u32 = 24;
export const GN_BUF_BYTES: u32 = 32;
export const GN_QSIZE: u32 = 36;
export const GN_MAC: u32 = 40;
export const GN_FLAGS: u32 = 46;
export const GN_IP: u32 = 48;
export const GN_ECHO_PORT: u32 = 52;
export const GN_SINK_PORT: u32 = 54;
export const GN_REAP: u32 = 56;
export const GN_COUNTERS: u32 = 64;
export const GN_GEN_DST_IP: u32 = 192;
export const GN_GEN_DST_PORT: u32 = 196;
export const GN_GEN_SRC_PORT: u32 = 198;
export const GN_GEN_SEQ: u32 = 200;
export const GN_GEN_PAYLOAD: u32 = 204;
export const GN_GEN_WINDOW: u32 = 208;
export const GN_SINK_NEXT: u32 = 212;
export const GN_SINK_RECEIVED: u32 = 216;
export const GN_SINK_REORDERED: u32 = 224;
export const GN_SINK_DUPLICATES: u32 = 232;
export const GN_PING_LAST: u32 = 240;
export const GN_PING_REPLIES: u32 = 244;
export const GN_PING_IDENT: u32 = 248;
export const GN_VLAN: u32 = 250;
export const GN_ARP: u32 = 256;
export const GN_ARP_ENTRIES: u32 = 16;
export const GN_SEEN: u32 = 512;
export const GN_SEEN_BITS: u32 = 1 << 16;
export const GN_NETMASK: u32 = GN_SEEN + GN_SEEN_BITS / 8;
export const GN_GATEWAY: u32 = GN_NETMASK + 4;
export const GN_STATE_BYTES: u32 = GN_NETMASK + 64;
export const GNET_REAP: u32 = 64;

/** Flags: the checksum of UDP is left to the device (VIRTIO_NET_F_CSUM negotiated). */
export const GNF_CSUM_OFFLOAD: u32 = 1;

// Counters (u64 at GN_COUNTERS + 8 * index).
export const GNC_RX_FRAMES: u32 = 0;
export const GNC_TX_FRAMES: u32 = 1;
export const GNC_ARP_REQUESTS: u32 = 2; // requests answered
export const GNC_ARP_REPLIES: u32 = 3; // replies learnt
export const GNC_ECHO_REQUESTS: u32 = 4; // ICMP echo requests answered
export const GNC_ECHO_REPLIES: u32 = 5;
export const GNC_UDP_ECHOED: u32 = 6;
export const GNC_UDP_SENT: u32 = 7;
export const GNC_TX_FULL: u32 = 8; // a frame not sent: no free TX slot
export const GNC_NO_ARP: u32 = 9; // a frame not sent: destination not resolved (a request went out)
export const GNC_RX_IGNORED: u32 = 10; // not for us, or not understood
export const GNC_RX_BAD: u32 = 11; // shorter than its headers say, or a bad IPv4 checksum
export const GNC_COUNT: u32 = 16;

@inline export function gnBump(st: usize, c: u32): void {
  const p = st + GN_COUNTERS + ((<usize>c) << 3);
  store<u64>(p, load<u64>(p) + 1);
}
