// Upcalls and downcalls: how a packet the fast path cannot handle reaches the slow path, and how
// the slow path's answer comes back. Both travel in ring regions (io-ring.ts) whose records share
// one layout of NET_UPC_RECORD_BYTES:
//
//   +0   u16 port       upcall: the logical ingress port; downcall: the port the packet entered by
//   +2   u16 code       upcall: the reason (NET_UPC_*); downcall: the operation (NET_DOWN_*)
//   +4   u32 seq        upcall: a number per switch, counting up; downcall: the upcall's seq it
//                       answers (0 when it answers none). Lets the slow path measure latency.
//   +8   u32 frameLen   bytes of the frame (virtio-net header excluded) as it arrived
//   +12  u32 capLen     bytes of it stored at NET_UPC_FRAME (<= NET_UPC_FRAME_CAP)
//   +16  u32 flags      NET_UPF_*
//   +20  u32 cookie     downcall: the flow's cookie (flow-record.ts); upcall: the UPCALL action's arg
//   +24  u32 tick       upcall: the switch's tick when the packet arrived
//   +28  u16 devPort    upcall: the VNIC port the frame was popped from (differs from `port` on a
//                       trunk: `port` is then the sub-port)
//   +30  u16 actionBytes  downcall: bytes of the action list at NET_UPC_ACTIONS
//   +32  4 B remoteIp   upcall from a tunnel port: the VXLAN sender's IPv4 (network order)
//   +36  u16 remotePort upcall from a tunnel port: its UDP source port
//   +40  u32 hash       with flag NET_UPF_PENDING: the flow key's hash naming its pending slot
//                       (upcall: counted there; downcall: this answer releases one count)
//   +44 .. +63 reserved, zero
//   +64  the parse record (64 B): upcall: the parser's record, key with the ingress port at +42;
//        downcall: the flow key to install or delete (48 B) then 16 reserved bytes
//   +128 actions (96 B): downcall INSTALL / REINJECT: the action list (actions.ts)
//   +224 virtio_net_hdr (12 B, virtio 1.2 §5.1.6, as the sender's driver wrote it) + 4 zero bytes
//   +240 frame bytes (capLen)
//
// Upcall (fast path → slow path): one ring per port (port-table.ts, upcallRing), so a port that
// floods new flows fills its own ring only; the fast path drops (counting upcallDrops on the
// port) when it is full. The slow path drains the rings fairly. After a burst that wrote any, the
// fast path adds 1 to the switch's upcall bell and notifies it (switch-state.ts). The frame is
// copied (it leaves guest RAM at once; the sender's TX buffer completes in the same burst); frames
// longer than NET_UPC_FRAME_CAP are cut (NET_UPF_TRUNCATED) and cannot be re-injected.
//
// Downcall (slow path → fast path): one ring per switch (switch-state.ts, downRing), consumed at
// the start of each burst, before any TX queue. Operations:
//   INSTALL          key → a new flow record with this action list and cookie (checked, copied)
//   REINJECT         run this action list once on the frame carried at +240 (ingress `port`)
//   INSTALL_REINJECT both, the install first
//   DELETE           remove the flow with this key
//   FLUSH_COOKIE     remove every flow whose cookie equals `cookie` (over several bursts)
//   FLUSH_ALL        remove every flow (over several bursts)
//   RELEASE          nothing but releases of counted upcalls the slow path answered with no other
//                    downcall (it dropped the packets): frameLen hashes (u32, at most
//                    NET_UPC_FRAME_CAP / 4) at +240
// Ordered upcalls (switch word `ordered` set): every miss the fast path hands up is counted in its
// key's pending slot (flag NET_UPF_PENDING, hash at +40), and a packet that hits a flow whose slot
// is still pending goes up too, behind the others, instead of overtaking them. The slow path
// answers each counted upcall exactly once with the flag and hash copied (on the install /
// re-injection that answers it, or a RELEASE); the fast path re-injects, then releases, so packets
// of a flow leave in the order they came, as OVS keeps them while a flow is being set up.
// A refused downcall is counted in the switch (installFailed / reinjectFailed with the status in
// the switch's last-refusal word); the slow path does not wait for an answer.

export const NET_UPC_RECORD_BYTES: u32 = 2048;
export const NET_UPC_PORT: u32 = 0;
export const NET_UPC_CODE: u32 = 2;
export const NET_UPC_SEQ: u32 = 4;
export const NET_UPC_FRAME_LEN: u32 = 8;
export const NET_UPC_CAP_LEN: u32 = 12;
export const NET_UPC_FLAGS: u32 = 16;
export const NET_UPC_COOKIE: u32 = 20;
export const NET_UPC_TICK: u32 = 24;
export const NET_UPC_DEV_PORT: u32 = 28;
export const NET_UPC_ACTION_BYTES: u32 = 30;
export const NET_UPC_REMOTE_IP: u32 = 32;
export const NET_UPC_REMOTE_PORT: u32 = 36;
export const NET_UPC_HASH: u32 = 40;
export const NET_UPC_PARSE: u32 = 64;
export const NET_UPC_KEY: u32 = 64;
export const NET_UPC_ACTIONS: u32 = 128;
export const NET_UPC_NET_HDR: u32 = 224;
export const NET_UPC_FRAME: u32 = 240;
export const NET_UPC_FRAME_CAP: u32 = NET_UPC_RECORD_BYTES - NET_UPC_FRAME;

// Upcall reasons (code of an upcall record).
export const NET_UPC_MISS: u32 = 1; // no flow for the key
export const NET_UPC_L2_MISMATCH: u32 = 2; // a CHECK_L2 action failed (spoofed or stray MAC)
export const NET_UPC_ACTION: u32 = 3; // an UPCALL action (ARP, a flow the slow path wants to see)

// Flags of either record.
export const NET_UPF_TRUNCATED: u32 = 1; // capLen < frameLen
export const NET_UPF_FROM_TUNNEL: u32 = 2; // arrived on a tunnel port (remoteIp, remotePort set)
export const NET_UPF_NET_HDR: u32 = 4; // the virtio_net_hdr at +224 is meaningful (CSUM / GSO)
export const NET_UPF_PENDING: u32 = 8; // counted in (upcall) / releases (downcall) the pending slot of +40

// Downcall operations (code of a downcall record).
export const NET_DOWN_INSTALL: u32 = 1;
export const NET_DOWN_REINJECT: u32 = 2;
export const NET_DOWN_INSTALL_REINJECT: u32 = 3;
export const NET_DOWN_DELETE: u32 = 4;
export const NET_DOWN_FLUSH_COOKIE: u32 = 5;
export const NET_DOWN_FLUSH_ALL: u32 = 6;
export const NET_DOWN_RELEASE: u32 = 7;
/**
 * A masked flush: the record's key area holds u32 cookie, mask, cookie2, mask2 (see switch-state.ts
 * +1688); a term that must never match has a cookie with bits outside its mask.
 */
export const NET_DOWN_FLUSH_MASKED: u32 = 8;

// Why a downcall was refused (the switch's last-refusal word).
export const NET_DOWN_ST_BAD_OP: u32 = 1;
export const NET_DOWN_ST_BAD_ACTIONS: u32 = 2; // unknown op, bad length, a port id out of range
export const NET_DOWN_ST_TABLE_FULL: u32 = 3; // no free flow record (should not happen: eviction)
export const NET_DOWN_ST_BAD_FRAME: u32 = 4; // capLen > NET_UPC_FRAME_CAP, or truncated frame
export const NET_DOWN_ST_BAD_PORT: u32 = 5; // ingress port out of range
