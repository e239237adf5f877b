// Layout of a simulation state region (magic 'NSIM', layout 1). The TS side (src/netsim/) sizes the
// areas, writes the topology, routes and flows, and reads results; it takes every offset below
// from this module's exports. Times are i64 picoseconds; sequence numbers count packets.
//
//   +0     header (64 B)
//   +64    config and counters (C_*)                            CONFIG_BYTES
//   areas at the offsets stored in C_OFF_* (relative to the region base, 64-byte aligned):
//   nodes     NODE_BYTES each        node id order = topology order (hosts and switches mixed)
//   ports     PORT_BYTES each        one per direction of each link, grouped by node
//   route     u32 per (switch, host): (first << 8) | count into rports; count 0 = unreachable
//   rports    u32 port ids
//   flows     FLOW_BYTES each, sorted by start time
//   cc        CC_FLOW_BYTES each, the congestion-control state of each flow (assembly/cc)
//   params    CC_PARAMS_BYTES, the law parameters (assembly/cc/layout.ts)
//   pkts      PKT_BYTES each, a pool with a free list
//   int       PKT_INT_BYTES each (only when INT is on), the INT hops of packet i
//   hist      HIST_BINS u32 per port: queue-length samples of its data queue (log-linear bins)
//   series    SERIES_BYTES each: a ring of queue samples of the monitored ports
//   evq       the event queue (event-queue.ts)

export const NSIM_MAGIC: u32 = 0x4d49534e; // 'NSIM'
export const NSIM_LAYOUT: u32 = 1;
export const CONFIG_BYTES: u32 = 512;

// ---- config (set by TS) --------------------------------------------------------------------
export const C_NODES: usize = 64; // u32 counts
export const C_PORTS: usize = 68;
export const C_HOSTS: usize = 72;
export const C_SWITCHES: usize = 76;
export const C_FLOWS: usize = 80;
export const C_PKT_CAP: usize = 84;
export const C_EVQ_CAP: usize = 88; // event nodes
export const C_SERIES_CAP: usize = 92;
export const C_OFF_NODES: usize = 96; // u32 offsets from the region base
export const C_OFF_PORTS: usize = 100;
export const C_OFF_ROUTE: usize = 104;
export const C_OFF_RPORTS: usize = 108;
export const C_OFF_FLOWS: usize = 112;
export const C_OFF_CC: usize = 116;
export const C_OFF_PARAMS: usize = 120;
export const C_OFF_PKTS: usize = 124;
export const C_OFF_INT: usize = 128;
export const C_OFF_HIST: usize = 132;
export const C_OFF_SERIES: usize = 136;
export const C_OFF_EVQ: usize = 140;
export const C_FLAGS: usize = 144; // CF_*
export const C_MTU: usize = 148; // payload bytes
export const C_HDR_BYTES: usize = 152; // data header bytes on the wire
export const C_ACK_BYTES: usize = 156;
export const C_INT_HOP_WIRE: usize = 160; // INT header bytes every data packet carries when INT is on
export const C_INFLIGHT_CAP: usize = 164; // packets outstanding per flow, lossy mode (<= SACK_BITS)
export const C_EVQ_KIND: usize = 168; // EVQ_WHEEL or EVQ_HEAP
export const C_RTO_LOW_PS: usize = 176; // i64
export const C_RTO_HIGH_PS: usize = 184;
export const C_SAMPLE_PS: usize = 192; // queue sampling period (0: off)
export const C_SEED: usize = 200; // u64, RED marking PRNG (xorshift64*)
export const C_DT_SHIFT_LOSSY: usize = 208; // u32: lossy admission threshold = free >> shift (0 = whole buffer)
export const C_RESUME_OFFSET: usize = 212; // u32 PFC resume offset bytes
export const C_STOP_PS: usize = 216; // i64: sim_run stops before the first event later than this
export const C_RPORTS: usize = 224; // u32 entries in the rports area

// ---- state and counters (written by the simulator) -----------------------------------------
export const C_NOW_PS: usize = 256; // i64
export const C_EVENTS: usize = 264; // u64 events handled
export const C_PKT_HOPS: usize = 272; // u64 packet transmissions on links (packet-hops)
export const C_DROPS: usize = 280; // u64
export const C_PAUSES: usize = 288; // u64 PFC pause frames sent
export const C_RTX: usize = 296; // u64 retransmitted packets
export const C_TIMEOUTS: usize = 304; // u64
export const C_DELIVERED_BYTES: usize = 312; // u64 payload delivered in order to receivers
export const C_NEXT_FLOW: usize = 320; // u32 first flow not yet started
export const C_FINISHED: usize = 324; // u32
export const C_PKT_FREE: usize = 328; // u32 free list head (index + 1; 0 = empty)
export const C_PKT_USED: usize = 332; // u32 packets in use
export const C_PKT_HIGH: usize = 336; // u32 high-water mark
export const C_STATUS: usize = 340; // i32: 0 ok, ST_* on a fatal condition
export const C_SERIES_LEN: usize = 344; // u32 samples written (ring wraps at C_SERIES_CAP)
export const C_NEXT_SAMPLE_PS: usize = 352; // i64
export const C_RNG: usize = 360; // u64
export const C_MAX_QUEUE: usize = 368; // u32 largest data queue seen on any switch port
export const C_ECN_MARKS: usize = 376; // u64
export const C_INJECTED_BYTES: usize = 384; // u64 payload bytes handed to the network (first transmissions)
export const C_DROPPED_BYTES: usize = 392; // u64 payload bytes dropped
export const C_QUEUED_BYTES: usize = 400; // u64 data bytes sitting in switch queues now
export const C_OOO_ARRIVALS: usize = 408; // u64 data packets that arrived after a later one of their flow

export const CF_PFC: u32 = 1; // PFC on (lossless); off: lossy with dynamic-threshold drops
export const CF_INT: u32 = 2; // switches stamp INT, ACKs echo it
export const CF_ACK_HIGH_PRIO: u32 = 4; // ACKs in the control (strict-priority) queue
export const CF_SACK: u32 = 8; // selective retransmission + in-flight cap (IRN-style); else go-back-N on timeout

export const ST_OK: i32 = 0;
export const ST_POOL_EXHAUSTED: i32 = -10;
export const ST_EVQ_EXHAUSTED: i32 = -11;
export const ST_NO_ROUTE: i32 = -12;
export const ST_BAD_STATE: i32 = -1;

// ---- node ------------------------------------------------------------------------------------
export const NODE_BYTES: u32 = 64;
export const N_KIND: usize = 0; // NK_*
export const N_FIRST_PORT: usize = 4;
export const N_PORT_COUNT: usize = 8;
export const N_INDEX: usize = 12; // host index or switch index
export const N_BUFFER: usize = 16; // switch: shared buffer bytes
export const N_USED: usize = 20; // switch: data bytes buffered
export const N_SHARED_USED: usize = 24; // switch: bytes in the shared pool (PFC accounting)
export const N_HDRM_TOTAL: usize = 28; // switch: sum of per-port headroom
export const N_RSRV_TOTAL: usize = 32; // switch: sum of per-port reserve
export const N_ACTIVE: usize = 36; // host: active flow ring (flow index + 1; 0 = none)
export const N_WAKE_PS: usize = 40; // host: i64 time of the pending wake-up (0 = none)
export const N_RSRV: usize = 48; // switch: reserve bytes per ingress port
export const N_HDRM: usize = 52; // switch: headroom bytes per ingress port
// host: i64; while now < this, no flow of the host may send (0: unknown, scan the ring)
export const N_IDLE_UNTIL: usize = 56;
export const NK_HOST: u32 = 0;
export const NK_SWITCH: u32 = 1;

// ---- port (one direction of a link; egress at its node, ingress for the reverse direction) ---
export const PORT_BYTES: u32 = 128;
export const PT_NODE: usize = 0;
export const PT_PEER: usize = 4; // the port at the other end
export const PT_PS_PER_BYTE: usize = 8; // u32 serialization time
export const PT_FLAGS: usize = 12; // PTF_*
export const PT_DELAY_PS: usize = 16; // i64 propagation
export const PT_RATE_BPS: usize = 24; // f64
export const PT_Q0_HEAD: usize = 32; // control queue (ACKs, strict priority): packet index + 1
export const PT_Q0_TAIL: usize = 36;
export const PT_Q0_BYTES: usize = 40;
export const PT_Q1_HEAD: usize = 44; // data queue
export const PT_Q1_TAIL: usize = 48;
export const PT_Q1_BYTES: usize = 52;
export const PT_BUSY_UNTIL: usize = 56; // i64 end of the transmission in progress
export const PT_TX_BYTES: usize = 64; // u64 bytes transmitted (INT)
export const PT_IN_BYTES: usize = 72; // u32 as ingress: data bytes from this port held by its switch
export const PT_IN_HDRM: usize = 76; // u32 as ingress: of which in headroom
export const PT_KMIN: usize = 80; // u32 ECN
export const PT_KMAX: usize = 84;
export const PT_PMAX: usize = 88; // f32
export const PT_PFC_SHIFT: usize = 92; // u32 PFC dynamic threshold: (free) >> shift
export const PT_PAUSES: usize = 96; // u32 pause frames sent upstream (as ingress)
export const PT_DROPS: usize = 100; // u32 packets dropped at admission (as egress)
export const PT_DATA_TX: usize = 104; // u32 data packets transmitted
export const PT_MAX_Q: usize = 108; // u32 largest data queue
export const PT_PAUSED_PS: usize = 112; // i64 total time this egress was paused
export const PT_PAUSE_START: usize = 120; // i64 when the current pause began
export const PTF_TXDONE_PENDING: u32 = 1; // a TXDONE event is scheduled
export const PTF_PAUSED: u32 = 2; // data queue paused by the downstream (PFC)
export const PTF_PAUSE_SENT: u32 = 4; // as ingress: we paused the upstream
export const PTF_MONITOR: u32 = 8; // sampled into the series ring

// ---- packet ----------------------------------------------------------------------------------
export const PKT_BYTES: u32 = 64;
export const PKT_INT_BYTES: u32 = 128;
export const K_NEXT: usize = 0; // queue link / free list (index + 1)
export const K_FLOW: usize = 4;
export const K_SEQ: usize = 8;
export const K_WIRE: usize = 12; // wire bytes
export const K_TYPE: usize = 16; // KT_*
export const K_FLAGS: usize = 20; // KF_*
export const K_PORT: usize = 24; // port it arrives at (ingress of the receiving node)
export const K_IN_PORT: usize = 28; // switch: the ingress port it was admitted through
export const K_TS: usize = 32; // i64 data: send time; ACK: the echoed send time
export const K_ACK_SEQ: usize = 40; // ACK: cumulative ack
export const K_SACK_SEQ: usize = 44; // ACK: the data sequence that triggered it
export const K_NHOP: usize = 48;
export const K_DST: usize = 52; // destination host index
export const K_HASH: usize = 56; // ECMP hash
export const K_PAYLOAD: usize = 60; // data payload bytes
export const KT_DATA: u32 = 1;
export const KT_ACK: u32 = 2;
export const KT_PAUSE: u32 = 3;
export const KT_RESUME: u32 = 4;
export const KF_CE: u32 = 1; // ECN congestion experienced
export const KF_ECE: u32 = 2; // ACK: echo of CE
export const KF_RTX: u32 = 4; // a retransmission
export const KF_NEW: u32 = 8; // ACK: acknowledges a packet not acknowledged before

// ---- flow ------------------------------------------------------------------------------------
export const FLOW_BYTES: u32 = 192;
export const F_SRC: usize = 0; // source host node id
export const F_DST: usize = 4; // destination host node id
export const F_SIZE: usize = 8; // u32 payload bytes
export const F_PKTS: usize = 12;
export const F_START_PS: usize = 16; // i64
export const F_FINISH_PS: usize = 24; // i64 (0: not finished)
export const F_SND_NXT: usize = 32;
export const F_SND_UNA: usize = 36;
export const F_HASH: usize = 40;
export const F_STATE: usize = 44; // FS_*
export const F_NEXT_AVAIL: usize = 48; // i64 pacing
export const F_RECOVER: usize = 56; // recovery ends when snd_una reaches this
export const F_RTX_CURSOR: usize = 60; // next hole candidate
export const F_SACK_HIGH: usize = 64; // one past the highest SACKed sequence
export const F_RTX_COUNT: usize = 68;
export const F_PROGRESS_PS: usize = 72; // i64 last time snd_una advanced (RTO)
export const F_RCV_NXT: usize = 80; // receiver: next expected
export const F_NEXT_ACTIVE: usize = 84; // host ring links (flow index + 1)
export const F_PREV_ACTIVE: usize = 88;
export const F_HOPS: usize = 92; // hop count seen on the path
export const F_SND_MAP: usize = 96; // 32 B: SACKed bits, sequence mod SACK_BITS
export const F_RCV_MAP: usize = 128; // 32 B: received-out-of-order bits
export const F_ACKED_BYTES: usize = 160; // u64 payload acknowledged (throughput)
export const F_TIMER_PS: usize = 168; // i64 RTO event pending at this time (0: none)
export const F_BASE_RTT_PS: usize = 176; // i64 the pair's base RTT (TS)
export const F_TIMEOUTS: usize = 184;
export const FS_WAITING: u32 = 0;
export const FS_ACTIVE: u32 = 1;
export const FS_RECOVERY: u32 = 2; // flag added to ACTIVE
export const FS_DONE: u32 = 4;
export const SACK_BITS: u32 = 256;

// ---- queue histogram and series --------------------------------------------------------------
export const HIST_BINS: u32 = 256;
export const SERIES_BYTES: u32 = 16; // i64 time, u32 port, u32 bytes
export const SR_TIME: usize = 0;
export const SR_PORT: usize = 8;
export const SR_BYTES: usize = 12;
// A route entry: (first << ROUTE_FIRST_SHIFT) | count, count < 1 << ROUTE_FIRST_SHIFT.
export const ROUTE_FIRST_SHIFT: u32 = 8;

// ---- events ----------------------------------------------------------------------------------
export const EV_ARRIVE: u32 = 0; // arg = packet
export const EV_TXDONE: u32 = 1; // arg = port
export const EV_WAKE: u32 = 2; // arg = host node id
export const EV_FLOW_START: u32 = 3; // arg = flow
export const EV_RTO: u32 = 4; // arg = flow
export const EV_SAMPLE: u32 = 5; // arg unused
export const EV_TYPE_BITS: u32 = 3;
