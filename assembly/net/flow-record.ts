// Flow records: what a flow-cache hit leads to. The fast path's flow cache (assembly/flow/
// flow-cache.ts, keyed by the 48-byte flow key below) maps a key to a u32 value, the index of
// the flow's record in this region; the record holds the action list and the flow's counters.
// The fast path is the only writer of the flow cache and of this region: the slow path installs
// a flow by a downcall (upcall.ts), and the fast path allocates the record, checks and copies the
// action list, then inserts key → index. Aging and eviction free the record again.
//
// Flow key (the parser's, assembly/flow/parser.ts, plus the ingress port):
//   +0 src address 16 B  +16 dst address 16 B  +32 u16 src port  +34 u16 dst port  +36 u8 proto
//   +37 u8 flags (1 VXLAN inner, 2 non-first fragment)  +38 u16 ethertype  +40 u16 VLAN id
//   +42 u16 ingress port id (NET_KEY_IN_PORT; the logical port: a trunk's sub-port, a tunnel)
//   +44 u32 VNI (frames from a tunnel port: the VXLAN header's VNI, flags bit 1 set)
// Non-IP frames (ARP...) are keyed too: addresses and ports zero, ethertype and VLAN set; the slow
// path decides what such a flow does (typically UPCALL for ARP).
//
// Region 'NFLR' (layout 1):
//   +64  u32 capacity (records)   +68 u32 freeCount   +72 u32 freeStack (offset of the stack)
//   +128 record[capacity], NET_FR_BYTES each; then the free stack, u32 record index each
// Record (128 B, two cache lines; the first is the one a hit writes):
//   +0  u32 flags (NET_FR_IN_USE)   +4 u32 cookie (the slow path's tag: which rule/route made it)
//   +8  u32 created (tick)          +12 u16 actionBytes   +14 u16 inPort
//   +16 u64 packets   +24 u64 bytes
//   +32 actions (NET_ACT_MAX_BYTES = 96 bytes, actions.ts)
// The last-hit tick lives in the flow-cache entry (the lookup stamps it); aging reads it there.

export const NET_FR_MAGIC: u32 = 0x524c464e; // 'NFLR'
export const NET_FR_LAYOUT: u32 = 1;
export const NET_FR_CAPACITY: u32 = 64;
export const NET_FR_FREE_COUNT: u32 = 68;
export const NET_FR_FREE_STACK: u32 = 72;
export const NET_FR_RECORDS: u32 = 128;
export const NET_FR_BYTES: u32 = 128;

export const NET_FR_FLAGS: u32 = 0;
export const NET_FR_COOKIE: u32 = 4;
export const NET_FR_CREATED: u32 = 8;
export const NET_FR_ACTION_BYTES: u32 = 12;
export const NET_FR_IN_PORT: u32 = 14;
export const NET_FR_PACKETS: u32 = 16;
export const NET_FR_BYTES_COUNT: u32 = 24;
export const NET_FR_ACTIONS: u32 = 32;
export const NET_FR_IN_USE: u32 = 1;

export const NET_KEY_BYTES: u32 = 48;
export const NET_KEY_IN_PORT: u32 = 42;
export const NET_KEY_VNI: u32 = 44;

/** Bytes of a flow record region for `capacity` flows (records, then the free stack). */
export function flowRecordBytes(capacity: u32): u64 {
  return <u64>NET_FR_RECORDS + <u64>capacity * NET_FR_BYTES + ((<u64>capacity) << 2);
}
