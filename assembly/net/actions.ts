// The action list the vSwitch fast path executes for a flow: the contract between the slow path
// (which computes it) and the fast path (which runs it per packet). One list per flow, kept in
// the flow's record (flow-record.ts); a re-injected packet carries its own in the downcall.
//
// A list is at most NET_ACT_MAX_BYTES bytes of actions, each a whole number of 4-byte words:
//
//   +0 u8 op   +1 u8 words (the action's length in 4-byte words, header word included)
//   +2 u16 arg (op-specific)   then (words - 1) * 4 bytes of operands
//
// Actions run in order on one packet; header edits (VLAN, MAC, TTL, VXLAN) apply to the copy
// each later OUTPUT makes, never to the sender's buffer (a TX buffer is device-readable only).
// A list ends at its byte length, at END, or after DROP. The fast path checks a list once, when
// it is installed (op known, words >= 1 and inside the list, operands in range); a list that
// fails is refused (NET_DOWN_ST_BAD_ACTIONS) and nothing is installed.
//
//   op                   words  arg             operands
//   END            0     1      0               -
//   OUTPUT         1     1      port id         -                    copy to that port (port-table.ts)
//   DROP           2     1      drop reason     -                    count under reason (< 16), stop
//   PUSH_VLAN      3     2      TCI             +4 u16 TPID (0x8100 | 0x88a8), +6 u16 0
//   POP_VLAN       4     1      0               -                    outermost tag; none: no-op
//   SET_ETH_DST    5     2      MAC bytes 0..1  +4 MAC bytes 2..5
//   SET_ETH_SRC    6     2      MAC bytes 0..1  +4 MAC bytes 2..5
//   DEC_TTL        7     1      0               -                    IPv4 TTL (checksum kept, RFC 1624)
//                                                                    or IPv6 hop limit; <= 1: drop
//   ENCAP_VXLAN    8     7      UDP dst port    +4 u32 VNI (24 bits)  +8 outer src IPv4 (4 bytes,
//                                               network order)  +12 outer dst IPv4  +16 outer src
//                                               MAC  +22 outer dst MAC    (RFC 7348 §5)
//   DECAP_VXLAN    9     1      0               -                    continue with the inner frame
//   COUNT         10     1      counter index   -                    packets/bytes into the switch's
//                                                                    counter array (< NET_SW_COUNTERS)
//   CHECK_L2      11     4      1 src | 2 dst   +4 src MAC  +10 dst MAC: on a mismatch the packet
//                                               is upcalled (NET_UPC_L2_MISMATCH), nothing installed
//   UPCALL        12     1      reason          -                    hand this packet to the slow path
//
// MAC operands are the six address bytes in wire order. Output to a tunnel port sends the UDP
// payload (VXLAN header + inner frame) to the socket worker (tunnel-io.ts): the socket makes the
// outer IP and UDP headers; the list's ENCAP_VXLAN still names VNI, remote address and port.
// Output to a VNIC port after ENCAP_VXLAN delivers the whole outer frame (IPv4, UDP checksum 0,
// source port from the flow hash in 49152..65535).

export const NET_ACT_MAX_BYTES: u32 = 96;
export const NET_ACT_OP: u32 = 0;
export const NET_ACT_WORDS: u32 = 1;
export const NET_ACT_ARG: u32 = 2;
export const NET_ACT_OPERANDS: u32 = 4;

export const NET_ACT_END: u32 = 0;
export const NET_ACT_OUTPUT: u32 = 1;
export const NET_ACT_DROP: u32 = 2;
export const NET_ACT_PUSH_VLAN: u32 = 3;
export const NET_ACT_POP_VLAN: u32 = 4;
export const NET_ACT_SET_ETH_DST: u32 = 5;
export const NET_ACT_SET_ETH_SRC: u32 = 6;
export const NET_ACT_DEC_TTL: u32 = 7;
export const NET_ACT_ENCAP_VXLAN: u32 = 8;
export const NET_ACT_DECAP_VXLAN: u32 = 9;
export const NET_ACT_COUNT: u32 = 10;
export const NET_ACT_CHECK_L2: u32 = 11;
export const NET_ACT_UPCALL: u32 = 12;
/** One past the last op: an op at or above it is refused at install. */
export const NET_ACT_OPS: u32 = 13;

// Words of each op (the length an action of that op must declare).
export const NET_ACT_OUTPUT_WORDS: u32 = 1;
export const NET_ACT_DROP_WORDS: u32 = 1;
export const NET_ACT_PUSH_VLAN_WORDS: u32 = 2;
export const NET_ACT_POP_VLAN_WORDS: u32 = 1;
export const NET_ACT_SET_ETH_WORDS: u32 = 2;
export const NET_ACT_DEC_TTL_WORDS: u32 = 1;
export const NET_ACT_ENCAP_VXLAN_WORDS: u32 = 7;
export const NET_ACT_DECAP_VXLAN_WORDS: u32 = 1;
export const NET_ACT_COUNT_WORDS: u32 = 1;
export const NET_ACT_CHECK_L2_WORDS: u32 = 4;
export const NET_ACT_UPCALL_WORDS: u32 = 1;

// ENCAP_VXLAN operand offsets (from the action's start).
export const NET_ACT_VXLAN_VNI: u32 = 4;
export const NET_ACT_VXLAN_SRC_IP: u32 = 8;
export const NET_ACT_VXLAN_DST_IP: u32 = 12;
export const NET_ACT_VXLAN_SRC_MAC: u32 = 16;
export const NET_ACT_VXLAN_DST_MAC: u32 = 22;
// CHECK_L2 operand offsets and arg bits.
export const NET_ACT_L2_SRC_MAC: u32 = 4;
export const NET_ACT_L2_DST_MAC: u32 = 10;
export const NET_ACT_L2_CHECK_SRC: u32 = 1;
export const NET_ACT_L2_CHECK_DST: u32 = 2;
// PUSH_VLAN operand.
export const NET_ACT_VLAN_TPID: u32 = 4;

/** Outputs one list may make (each is a copy into a receiver). */
export const NET_ACT_MAX_OUTPUTS: u32 = 16;
/** DROP reasons index a per-switch counter array of this many entries (the slow path names them). */
export const NET_DROP_REASONS: u32 = 16;
/** Headers the actions may add in front of a frame: ENCAP_VXLAN (50) + one VLAN tag (4), rounded. */
export const NET_ACT_MAX_GROWTH: u32 = 64;
