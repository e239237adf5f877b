// A VXLAN tunnel port's I/O: the fast path never touches a socket (cores never block); a socket
// worker owns the UDP socket (RFC 7348, port 4789 by default) and meets the core through two ring
// regions (io-ring.ts) named by the tunnel I/O region:
//
// Region 'NTIO' (layout 1), the port table entry's target for a TUNNEL port:
//   +64  u32 txRing        ring region, core → worker: datagrams to send
//   +68  u32 rxRing        ring region, worker → core: datagrams received
//   +72  u32 coreDoorbell  host address of the serving core's doorbell word (written by the
//                          control plane when the switch is placed); the worker adds 1 after
//                          publishing RX records and notifies when the core's sleeping word is set
//   +76  u32 coreSleeping  host address of that core's sleeping word
//   +80  u64 txPackets  +88 u64 txDropsFull  +96 u64 txTooBig     (the core's counters)
//   +104 u64 rxPackets  +112 u64 rxBad (shorter than a VXLAN header, I flag clear, bad inner frame)
//
// Records (NET_TIO_RECORD_BYTES, both rings):
//   +0  4 B  IPv4 address, network order: TX the destination, RX the source
//   +4  u16  UDP port: TX the destination, RX the source
//   +6  u16  length of the UDP payload at +16
//   +8 .. +15 zero
//   +16 UDP payload: the 8-byte VXLAN header (flags 0x08, VNI in bytes 4..6) then the inner frame
// The core sends to the address and port an ENCAP_VXLAN action names (actions.ts); the socket
// worker's own address is the socket's. A payload above NET_TIO_PAYLOAD_CAP is dropped (txTooBig).
// After a burst that queued TX records the core rings the TX ring's bell (io-ring.ts).

export const NET_TIO_MAGIC: u32 = 0x4f49544e; // 'NTIO'
export const NET_TIO_LAYOUT: u32 = 1;
export const NET_TIO_TX_RING: u32 = 64;
export const NET_TIO_RX_RING: u32 = 68;
export const NET_TIO_CORE_DOORBELL: u32 = 72;
export const NET_TIO_CORE_SLEEPING: u32 = 76;
export const NET_TIO_TX_PACKETS: u32 = 80;
export const NET_TIO_TX_DROPS_FULL: u32 = 88;
export const NET_TIO_TX_TOO_BIG: u32 = 96;
export const NET_TIO_RX_PACKETS: u32 = 104;
export const NET_TIO_RX_BAD: u32 = 112;
export const NET_TIO_STATE_BYTES: u32 = 128;

export const NET_TIO_RECORD_BYTES: u32 = 2048;
export const NET_TIO_ADDR: u32 = 0;
export const NET_TIO_PORT: u32 = 4;
export const NET_TIO_LEN: u32 = 6;
export const NET_TIO_PAYLOAD: u32 = 16;
export const NET_TIO_PAYLOAD_CAP: u32 = NET_TIO_RECORD_BYTES - NET_TIO_PAYLOAD;

/** The VXLAN header (RFC 7348 §5): flags byte with I = 0x08, 24-bit VNI in bytes 4..6. */
export const NET_VXLAN_HDR_BYTES: u32 = 8;
export const NET_VXLAN_FLAG_I: u32 = 0x08;
export const NET_VXLAN_DEFAULT_PORT: u32 = 4789;
