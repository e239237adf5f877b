// The vSwitch fast path's state: one region per switch instance (one job on one DPU core). It
// names the shared tables, holds the words the control plane and the slow path exchange with the
// fast path, and the fast path's counters (read out of band).
//
// Region 'NSWT' (layout 1):
//   +64  u32 portTable    port table region ('NPRT', port-table.ts)
//   +68  u32 flowCache    flow cache region ('FEMC', assembly/flow/flow-cache.ts): key → record index
//   +72  u32 flowRecords  flow record region ('NFLR', flow-record.ts)
//   +76  u32 downRing     the downcall ring region (io-ring.ts, upcall.ts)
//   +80  u32 now          the tick (1 ms by convention), written by the control plane's clock; read
//                         once per burst (kernels have no clock of their own)
//   +84  u32 maxIdle      ticks a flow may go unhit before aging removes it (0: no aging)
//   +88  u32 ageBudget    flow-cache buckets aging (and flushes) visit per burst
//   +92  u32 scratch      the fast path's private scratch region ('NSCR': burst buffers, keys)
//   +96  i32 upcallBell   +1 and notify after a burst that wrote upcall records (any port)
//   +100 u32 epoch        +1 at the end of every burst: the control plane's "no burst holds it" test
//   +104 u32 upcallSeq    last upcall seq handed out
//   +108 u32 lastRefusal  NET_DOWN_ST_* of the last refused downcall
//   +112 u32 maxPorts     the port table's, copied at init (validated against it every burst)
//   +116 u32 flushCookie  +120 u32 flushMode (0 none, 1 cookie, 2 all, 3 masked: see +1688)
//   +124 u32 flushLeft (buckets)
//   +128 u64 counters[NET_SW_STAT_COUNT] (NET_SW_STAT_* index them)
//   +384 u64 drops[NET_DROP_REASONS]        DROP actions by the slow path's reason
//   +512 u64 malformed[16]                  parser verdicts by reason (assembly/flow/parser.ts PR_*)
//   +640 {u64 packets, u64 bytes}[NET_SW_COUNTERS]   COUNT actions
//   +1664 u32 ordered     1: upcalls are ordered (the slow path answers each counted upcall, see
//                         upcall.ts NET_UPF_PENDING); 0: off (a slow path that does not answer)
//   +1668 u32 pendStale   ticks after which a pending slot nobody answered is forgotten (0: 1000)
//   +1672 u32 split       offset of the per-port burst split (set by switch init; see below)
//   +1676 u32 slowHist    offset of the per-port slow-path latency histograms (set by switch init)
//   +1680 f64 clock       the DPU core's clock (ns) as this burst started, written by the core
//                         before each call (the kernel has no clock of its own)
//   +1688 u32 flushMask   +1692 u32 flushCookie2  +1696 u32 flushMask2: a masked flush (mode 3)
//                         removes the flows whose cookie c has (c & flushMask) == flushCookie or
//                         (c & flushMask2) == flushCookie2
//   +2048 port stats[maxPorts], 64 B each:
//          +0 u64 inPackets  +8 inBytes   (into the switch from the port)
//          +16 outPackets  +24 outBytes   (delivered by the switch to the port)
//          +32 outDrops (no receive buffer, filtered, port down, too big)
//          +40 upcalls  +48 upcallDrops (the port's upcall ring was full)  +56 errors (malformed,
//          bad virtio-net requests)
//   then the pending table: NET_SW_PEND_SLOTS × {u32 count, u32 tick}, indexed by the low bits of
//          a flow key's hash: upcalls of keys in the slot not yet answered, and when the last was
//          made. A packet that hits a flow while its slot is pending goes up behind them instead
//          of overtaking them (the answers re-inject in order; then the slot is free again).
//   then the burst split (src/dpu/core/burst-split.ts), keyed by port: u32 count, u32 cap
//          (= maxPorts), u32 ports[maxPorts] touched this burst, u32 frames[maxPorts] taken in
//          this burst, then per port NET_SW_PORT_HIST_BYTES of burst-duration histogram that the
//          DPU core running the switch writes (the kernel only counts; it has no clock).
//   then the upcall stamps: NET_SW_STAMP_SLOTS × {u32 seq, u32 0, f64 clock}, indexed by the low
//          bits of an upcall's seq: the clock of the burst that sent it up
//   then per port NET_SW_PORT_HIST_BYTES of slow-path latency histogram (f64 sumNs, 17 f64
//          counts, assembly/common/burst-latency.ts): per frame re-injected after an upcall, the
//          clock of the burst that re-injected it minus its upcall's stamp

export const NET_SW_MAGIC: u32 = 0x5457534e; // 'NSWT'
export const NET_SW_LAYOUT: u32 = 3;
export const NET_SW_PORT_TABLE: u32 = 64;
export const NET_SW_FLOW_CACHE: u32 = 68;
export const NET_SW_FLOW_RECORDS: u32 = 72;
export const NET_SW_DOWN_RING: u32 = 76;
export const NET_SW_NOW: u32 = 80;
export const NET_SW_MAX_IDLE: u32 = 84;
export const NET_SW_AGE_BUDGET: u32 = 88;
export const NET_SW_SCRATCH: u32 = 92;
export const NET_SW_UPCALL_BELL: u32 = 96;
export const NET_SW_EPOCH: u32 = 100;
export const NET_SW_UPCALL_SEQ: u32 = 104;
export const NET_SW_LAST_REFUSAL: u32 = 108;
export const NET_SW_MAX_PORTS: u32 = 112;
export const NET_SW_FLUSH_COOKIE: u32 = 116;
export const NET_SW_FLUSH_MODE: u32 = 120;
export const NET_SW_FLUSH_LEFT: u32 = 124;
export const NET_SW_STATS: u32 = 128;
export const NET_SW_DROPS: u32 = 384;
export const NET_SW_MALFORMED: u32 = 512;
export const NET_SW_COUNTER_ARRAY: u32 = 640;
export const NET_SW_COUNTERS: u32 = 64;
export const NET_SW_ORDERED: u32 = 1664;
export const NET_SW_PEND_STALE: u32 = 1668;
export const NET_SW_SPLIT: u32 = 1672;
export const NET_SW_SLOW_HIST: u32 = 1676;
export const NET_SW_CLOCK: u32 = 1680;
export const NET_SW_FLUSH_MASK: u32 = 1688;
export const NET_SW_FLUSH_COOKIE2: u32 = 1692;
export const NET_SW_FLUSH_MASK2: u32 = 1696;
/** Upcall stamps kept: a re-injection answering an upcall older than this many is not timed. */
export const NET_SW_STAMP_SLOTS: u32 = 1024;
/** One port's burst histogram: f64 sumNs and 17 f64 bucket counts (burst-split.ts BURST_SPLIT_SLOT_BYTES). */
export const NET_SW_PORT_HIST_BYTES: u32 = 144;
export const NET_SW_PORT_STATS: u32 = 2048;
export const NET_SW_PEND_SLOTS: u32 = 4096;
export const NET_SW_PEND_BYTES: u32 = 8;
export const NET_SW_PORT_STAT_BYTES: u32 = 64;

export const NET_FLUSH_NONE: u32 = 0;
export const NET_FLUSH_COOKIE: u32 = 1;
export const NET_FLUSH_ALL: u32 = 2;
export const NET_FLUSH_MASKED: u32 = 3;

/** Whether a flow of `cookie` is one the running flush (mode, at sw) removes. */
export function flushMatches(sw: usize, mode: u32, cookie: u32): bool {
  if (mode == NET_FLUSH_ALL) return true;
  if (mode == NET_FLUSH_COOKIE) return cookie == load<u32>(sw, NET_SW_FLUSH_COOKIE);
  if (mode == NET_FLUSH_MASKED)
    return (
      (cookie & load<u32>(sw, NET_SW_FLUSH_MASK)) == load<u32>(sw, NET_SW_FLUSH_COOKIE) ||
      (cookie & load<u32>(sw, NET_SW_FLUSH_MASK2)) == load<u32>(sw, NET_SW_FLUSH_COOKIE2)
    );
  return false;
}

// Global counters: u64 at NET_SW_STATS + 8 * index.
export const NET_SW_STAT_BURSTS: u32 = 0;
export const NET_SW_STAT_PACKETS: u32 = 1; // frames taken in (TX chains, tunnel RX, re-injections)
export const NET_SW_STAT_BYTES: u32 = 2;
export const NET_SW_STAT_HITS: u32 = 3;
export const NET_SW_STAT_MISSES: u32 = 4;
export const NET_SW_STAT_UPCALLS: u32 = 5;
export const NET_SW_STAT_UPCALL_DROPS: u32 = 6;
export const NET_SW_STAT_MALFORMED: u32 = 7;
export const NET_SW_STAT_BAD_REQUESTS: u32 = 8; // TX chains refused by the device (H ids)
export const NET_SW_STAT_OUTPUTS: u32 = 9; // copies delivered
export const NET_SW_STAT_OUTPUT_DROPS: u32 = 10; // copies not delivered (see the port's outDrops)
export const NET_SW_STAT_ACTION_DROPS: u32 = 11; // DROP actions (by reason in drops[])
export const NET_SW_STAT_TTL_EXPIRED: u32 = 12;
export const NET_SW_STAT_INSTALLS: u32 = 13;
export const NET_SW_STAT_INSTALL_FAILED: u32 = 14;
export const NET_SW_STAT_REINJECTED: u32 = 15;
export const NET_SW_STAT_REINJECT_FAILED: u32 = 16;
export const NET_SW_STAT_DELETES: u32 = 17;
export const NET_SW_STAT_EVICTED: u32 = 18;
export const NET_SW_STAT_AGED: u32 = 19;
export const NET_SW_STAT_FLUSHED: u32 = 20;
export const NET_SW_STAT_L2_MISMATCH: u32 = 21;
export const NET_SW_STAT_NO_PORT: u32 = 22; // ingress on a port that is down or gone
export const NET_SW_STAT_TSO_SEGMENTS: u32 = 23; // frames made by segmenting TSO frames
export const NET_SW_STAT_CSUM_FILLED: u32 = 24; // checksums the device completed (NEEDS_CSUM)
export const NET_SW_STAT_MIRRORED: u32 = 25;
export const NET_SW_STAT_TUNNEL_IN: u32 = 26;
export const NET_SW_STAT_TUNNEL_OUT: u32 = 27;
export const NET_SW_STAT_HELD: u32 = 28; // hits sent up behind their flow's pending upcalls (ordered)
export const NET_SW_STAT_COUNT: u32 = 32;

// Port stats: u64 at NET_SW_PORT_STATS + port * 64 + offset.
export const NET_PS_IN_PACKETS: u32 = 0;
export const NET_PS_IN_BYTES: u32 = 8;
export const NET_PS_OUT_PACKETS: u32 = 16;
export const NET_PS_OUT_BYTES: u32 = 24;
export const NET_PS_OUT_DROPS: u32 = 32;
export const NET_PS_UPCALLS: u32 = 40;
export const NET_PS_UPCALL_DROPS: u32 = 48;
export const NET_PS_ERRORS: u32 = 56;

/** Offset of the pending table in a switch state for `maxPorts` ports. */
@inline export function pendOffset(maxPorts: u32): u32 {
  return NET_SW_PORT_STATS + maxPorts * NET_SW_PORT_STAT_BYTES;
}

/** Offset of the per-port burst split in a switch state for `maxPorts` ports (8-aligned). */
@inline export function splitOffset(maxPorts: u32): u32 {
  return pendOffset(maxPorts) + NET_SW_PEND_SLOTS * NET_SW_PEND_BYTES;
}

/** Offset of the upcall stamps (8-aligned). */
@inline export function stampOffset(maxPorts: u32): u32 {
  return splitOffset(maxPorts) + ((8 + maxPorts * 8 + 7) & ~7) + maxPorts * NET_SW_PORT_HIST_BYTES;
}

/** Offset of the per-port slow-path latency histograms (8-aligned). */
@inline export function slowHistOffset(maxPorts: u32): u32 {
  return stampOffset(maxPorts) + NET_SW_STAMP_SLOTS * 16;
}

/** Bytes of a switch state region for `maxPorts` ports. */
export function switchStateBytes(maxPorts: u32): u32 {
  return slowHistOffset(maxPorts) + maxPorts * NET_SW_PORT_HIST_BYTES;
}
