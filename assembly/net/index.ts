// Kernel family "net": the virtio-net device and the vSwitch fast path that serves it, on DPU
// cores. Exports are flat and prefixed: net_* (entries and sizes) and the NET_* layout constants
// the TS side and the slow path take from the generated constants.
//
//   actions.ts       the action list a flow runs (the slow path's output)
//   flow-record.ts   flow cache value → flow record (actions, counters); the flow key
//   port-table.ts    port id → a device's queues, a tunnel, a trunk sub-port
//   upcall.ts        upcall and downcall records (fast path ↔ slow path)
//   tunnel-io.ts     the VXLAN socket worker's rings
//   mirror.ts        pcap mirror records
//   io-ring.ts       the ring regions all of these travel in
//   switch-state.ts  one switch instance: tables, control words, counters

import { KERNEL_ABI } from '../common/abi';
import { flowRecordBytes } from './flow-record';
import { ringBytes, ringOk } from './io-ring';
import { NET_PT_PORTS_LIMIT, portTableBytes } from './port-table';
import { NET_SC_BURST_LIMIT } from './scratch';
import { switchStateBytes } from './switch-state';
import { scratchBytes } from './scratch';
import { scratchInit, switchArm, switchInit } from './switch-init';
import { switchRun } from './vswitch';
import { flowRecordsInit } from './flow-table';
import { flowDump, flowStamps } from './flow-dump';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x74656e; // "net"
export const QT_VERSION: i32 = (0 << 16) | (1 << 8) | 0; // 0.1.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

/** Payload bytes (header excluded) of a port table for `maxPorts` ports; 0 when out of range. */
export function net_port_table_bytes(maxPorts: u32): u32 {
  if (maxPorts == 0 || maxPorts > NET_PT_PORTS_LIMIT) return 0;
  return portTableBytes(maxPorts) - 64;
}

/** Payload bytes of a flow record region for `capacity` flows (f64: may pass 2^32 when absurd). */
export function net_flow_record_bytes(capacity: u32): f64 {
  return <f64>(flowRecordBytes(capacity) - 64);
}

/** Payload bytes of a ring region of `capacity` records of `recordBytes`. */
export function net_ring_bytes(capacity: u32, recordBytes: u32): f64 {
  return <f64>(ringBytes(capacity, recordBytes) - 64);
}

/** 1 when `ring` is a well-formed ring region (io-ring.ts), else 0. */
export function net_ring_ok(ring: usize): i32 {
  return ringOk(ring) ? 1 : 0;
}

/** Payload bytes of the switch's scratch region for bursts of `maxBurst` packets (0: out of range). */
export function net_scratch_bytes(maxBurst: u32): u32 {
  if (maxBurst == 0 || maxBurst > NET_SC_BURST_LIMIT) return 0;
  return scratchBytes(maxBurst) - 64;
}

/** Lays out a scratch region for bursts of `maxBurst` packets. 0 or -1. */
export function net_scratch_init(sc: usize, maxBurst: u32): i32 {
  return scratchInit(sc, maxBurst);
}

/** Lays out a flow record region for `capacity` flows, all free. 0 or -1. */
export function net_flow_records_init(fr: usize, capacity: u32): i32 {
  return flowRecordsInit(fr, capacity);
}

/** Links a switch state to its port table, flow cache, flow records, downcall ring and scratch. */
export function net_switch_init(sw: usize, pt: usize, fc: usize, fr: usize, down: usize, sc: usize): i32 {
  return switchInit(sw, pt, fc, fr, down, sc);
}

/** Job entry: one run of the switch (budget = packets taken in at most). */
export function net_switch_run(sw: usize, budget: i32): i32 {
  return switchRun(sw, budget);
}

/** Arm entry: enables kicks before the core sleeps; returns work pending. */
export function net_switch_arm(sw: usize, budget: i32): i32 {
  return switchArm(sw);
}

/** Lists installed flows (flow-dump.ts): returns the slot to continue from, or -1. */
export function net_flow_dump(sw: usize, start: u32, out: usize, max: u32): i32 {
  return flowDump(sw, start, out, max);
}

/** Last-hit ticks of a list of installed flows' keys (flow-dump.ts): returns count, or -1. */
export function net_flow_stamps(sw: usize, keys: usize, count: u32, out: usize): i32 {
  return flowStamps(sw, keys, count, out);
}

/** Payload bytes of a switch state region for `maxPorts` ports. */
export function net_switch_bytes(maxPorts: u32): u32 {
  if (maxPorts == 0 || maxPorts > NET_PT_PORTS_LIMIT) return 0;
  return switchStateBytes(maxPorts) - 64;
}

export * from './actions';
export {
  NET_FR_MAGIC,
  NET_FR_LAYOUT,
  NET_FR_CAPACITY,
  NET_FR_FREE_COUNT,
  NET_FR_FREE_STACK,
  NET_FR_RECORDS,
  NET_FR_BYTES,
  NET_FR_FLAGS,
  NET_FR_COOKIE,
  NET_FR_CREATED,
  NET_FR_ACTION_BYTES,
  NET_FR_IN_PORT,
  NET_FR_PACKETS,
  NET_FR_BYTES_COUNT,
  NET_FR_ACTIONS,
  NET_FR_IN_USE,
  NET_KEY_BYTES,
  NET_KEY_IN_PORT,
  NET_KEY_VNI,
} from './flow-record';
export {
  NET_PT_MAGIC,
  NET_PT_LAYOUT,
  NET_PT_MAX_PORTS,
  NET_PT_HIGH_WATER,
  NET_PT_ENTRIES,
  NET_PT_ENTRY_BYTES,
  NET_PORT_NONE_ID,
  NET_PT_PORTS_LIMIT,
  NET_PE_KIND,
  NET_PE_FLAGS,
  NET_PE_PARENT,
  NET_PE_VLAN,
  NET_PE_MTU,
  NET_PE_TARGET,
  NET_PE_VLAN_MAP,
  NET_PE_MIRROR,
  NET_PE_UPCALL_RING,
  NET_PE_MAC,
  NET_PORT_NONE,
  NET_PORT_VNIC,
  NET_PORT_TUNNEL,
  NET_PORT_TRUNK_SUB,
  NET_PF_UP,
  NET_PF_MIRROR,
  NET_VLAN_MAP_BYTES,
} from './port-table';
export {
  NET_RING_MAGIC,
  NET_RING_LAYOUT,
  NET_RING_CAPACITY,
  NET_RING_RECORD_BYTES,
  NET_RING_BELL,
  NET_RING_FULL,
  NET_RING_SPSC,
  NET_RING_HEAD,
  NET_RING_TAIL,
  NET_RING_RECORDS,
} from './io-ring';
export * from './upcall';
export * from './tunnel-io';
export * from './mirror';
export { NET_PEND_STALE_DEFAULT } from './pending';
export {
  NET_SW_MAGIC,
  NET_SW_LAYOUT,
  NET_SW_PORT_TABLE,
  NET_SW_FLOW_CACHE,
  NET_SW_FLOW_RECORDS,
  NET_SW_DOWN_RING,
  NET_SW_NOW,
  NET_SW_MAX_IDLE,
  NET_SW_AGE_BUDGET,
  NET_SW_SCRATCH,
  NET_SW_UPCALL_BELL,
  NET_SW_EPOCH,
  NET_SW_UPCALL_SEQ,
  NET_SW_LAST_REFUSAL,
  NET_SW_MAX_PORTS,
  NET_SW_FLUSH_COOKIE,
  NET_SW_FLUSH_MODE,
  NET_SW_FLUSH_LEFT,
  NET_SW_STATS,
  NET_SW_DROPS,
  NET_SW_MALFORMED,
  NET_SW_COUNTER_ARRAY,
  NET_SW_COUNTERS,
  NET_SW_PORT_STATS,
  NET_SW_ORDERED,
  NET_SW_PEND_STALE,
  NET_SW_SPLIT,
  NET_SW_SLOW_HIST,
  NET_SW_CLOCK,
  NET_SW_FLUSH_MASK,
  NET_SW_FLUSH_COOKIE2,
  NET_SW_FLUSH_MASK2,
  NET_SW_STAMP_SLOTS,
  NET_SW_PORT_HIST_BYTES,
  NET_SW_PEND_SLOTS,
  NET_SW_PEND_BYTES,
  NET_SW_PORT_STAT_BYTES,
  NET_FLUSH_NONE,
  NET_FLUSH_COOKIE,
  NET_FLUSH_ALL,
  NET_FLUSH_MASKED,
  NET_SW_STAT_BURSTS,
  NET_SW_STAT_PACKETS,
  NET_SW_STAT_BYTES,
  NET_SW_STAT_HITS,
  NET_SW_STAT_MISSES,
  NET_SW_STAT_UPCALLS,
  NET_SW_STAT_UPCALL_DROPS,
  NET_SW_STAT_MALFORMED,
  NET_SW_STAT_BAD_REQUESTS,
  NET_SW_STAT_OUTPUTS,
  NET_SW_STAT_OUTPUT_DROPS,
  NET_SW_STAT_ACTION_DROPS,
  NET_SW_STAT_TTL_EXPIRED,
  NET_SW_STAT_INSTALLS,
  NET_SW_STAT_INSTALL_FAILED,
  NET_SW_STAT_REINJECTED,
  NET_SW_STAT_REINJECT_FAILED,
  NET_SW_STAT_DELETES,
  NET_SW_STAT_EVICTED,
  NET_SW_STAT_AGED,
  NET_SW_STAT_FLUSHED,
  NET_SW_STAT_L2_MISMATCH,
  NET_SW_STAT_NO_PORT,
  NET_SW_STAT_TSO_SEGMENTS,
  NET_SW_STAT_CSUM_FILLED,
  NET_SW_STAT_MIRRORED,
  NET_SW_STAT_TUNNEL_IN,
  NET_SW_STAT_TUNNEL_OUT,
  NET_SW_STAT_HELD,
  NET_SW_STAT_COUNT,
  NET_PS_IN_PACKETS,
  NET_PS_IN_BYTES,
  NET_PS_OUT_PACKETS,
  NET_PS_OUT_BYTES,
  NET_PS_OUT_DROPS,
  NET_PS_UPCALLS,
  NET_PS_UPCALL_DROPS,
  NET_PS_ERRORS,
} from './switch-state';
export {
  NETD_MAGIC,
  NETD_LAYOUT,
  NETD_FEATURES,
  NETD_STATUS,
  NETD_CONFIG_IRQ,
  NETD_MAX_PAIRS,
  NETD_CUR_PAIRS,
  NETD_MTU,
  NETD_LINK_STATUS,
  NETD_MAC,
  NETD_RX_MODE,
  NETD_CTRL_VQ,
  NETD_UNI_COUNT,
  NETD_MULTI_COUNT,
  NETD_TX_CURSOR,
  NETD_PORT,
  NETD_CTRL_COMMANDS,
  NETD_CTRL_ERRORS,
  NETD_QUEUES,
  NETD_MAC_TABLE,
  NETD_VLAN_FILTER,
  NETD_QSTATS,
  NETD_BAD,
  NETD_STATE_BYTES,
  NET_MAX_PAIRS,
  NET_MAC_TABLE,
  NET_QS_BYTES,
  NET_QS_RX_PACKETS,
  NET_QS_RX_BYTES,
  NET_QS_RX_DROPS,
  NET_QS_RX_FILTERED,
  NET_QS_RX_BUFFERS,
  NET_QS_RX_ERRORS,
  NET_QS_RX_CSUM_PARTIAL,
  NET_QS_TX_PACKETS,
  NET_QS_TX_BYTES,
  NET_QS_TX_ERRORS,
  NET_QS_TX_TSO,
  NET_QS_TX_CSUM,
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
  NET_BAD_COUNT,
  NET_RXM_PROMISC,
  NET_RXM_ALLMULTI,
  NET_RXM_ALLUNI,
  NET_RXM_NOMULTI,
  NET_RXM_NOUNI,
  NET_RXM_NOBCAST,
  NET_RXM_UNI_OVER,
  NET_RXM_MULTI_OVER,
  NET_F_CSUM,
  NET_F_GUEST_CSUM,
  NET_F_MTU,
  NET_F_MAC,
  NET_F_GUEST_TSO4,
  NET_F_GUEST_TSO6,
  NET_F_HOST_TSO4,
  NET_F_HOST_TSO6,
  NET_F_HOST_ECN,
  NET_F_MRG_RXBUF,
  NET_F_STATUS,
  NET_F_CTRL_VQ,
  NET_F_CTRL_RX,
  NET_F_CTRL_VLAN,
  NET_F_CTRL_RX_EXTRA,
  NET_F_GUEST_ANNOUNCE,
  NET_F_MQ,
  NET_F_CTRL_MAC_ADDR,
  NET_S_LINK_UP,
  NET_S_ANNOUNCE,
} from './net-state';
export {
  NET_HDR_BYTES,
  NET_HDR_FLAGS,
  NET_HDR_GSO_TYPE,
  NET_HDR_HDR_LEN,
  NET_HDR_GSO_SIZE,
  NET_HDR_CSUM_START,
  NET_HDR_CSUM_OFFSET,
  NET_HDR_NUM_BUFFERS,
  NET_HDR_F_NEEDS_CSUM,
  NET_HDR_F_DATA_VALID,
  NET_GSO_NONE,
  NET_GSO_TCPV4,
  NET_GSO_UDP,
  NET_GSO_TCPV6,
  NET_GSO_ECN,
} from './net-hdr';
export { NET_SC_MAGIC, NET_SC_LAYOUT, NET_SC_BURST_LIMIT } from './scratch';
export {
  NET_CTRL_RX,
  NET_CTRL_MAC,
  NET_CTRL_VLAN,
  NET_CTRL_ANNOUNCE,
  NET_CTRL_MQ,
  NET_CTRL_OK,
  NET_CTRL_ERR,
} from './ctrl-queue';
export { NET_TSO_MAX_SEGS } from './output';
export { NET_DUMP_BYTES, NET_DUMP_RECORDS, NET_STAMP_NONE } from './flow-dump';
