// The pcap mirror: a port flagged MIRROR (port-table.ts) has every frame that enters or leaves it
// copied into its mirror ring (a ring region, io-ring.ts); a writer on an I/O worker turns the
// records into a classic libpcap file. A full ring drops the copy (the ring's `full` counter),
// never the frame.
//
// Record (NET_MIR_RECORD_BYTES):
//   +0 u32 tick (the switch's tick)  +4 u32 origLen  +8 u32 capLen  +12 u16 port
//   +14 u8 direction (0 entering the switch from the port, 1 leaving to it)  +15 u8 zero
//   +16 frame bytes (capLen <= NET_MIR_FRAME_CAP), as on the wire: no virtio-net header

export const NET_MIR_RECORD_BYTES: u32 = 2048;
export const NET_MIR_TICK: u32 = 0;
export const NET_MIR_ORIG_LEN: u32 = 4;
export const NET_MIR_CAP_LEN: u32 = 8;
export const NET_MIR_PORT: u32 = 12;
export const NET_MIR_DIRECTION: u32 = 14;
export const NET_MIR_FRAME: u32 = 16;
export const NET_MIR_FRAME_CAP: u32 = NET_MIR_RECORD_BYTES - NET_MIR_FRAME;
export const NET_MIR_IN: u32 = 0;
export const NET_MIR_OUT: u32 = 1;
