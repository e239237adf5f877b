// Per-call cache of the state region's layout. sim_run binds these at entry from the region's
// config block; nothing here survives between calls as state (the region is the only state), so
// a run can be paused, saved and resumed from its bytes alone.
import { CC_FLOW_BYTES } from '../cc/layout';
import { evqBind, evqPush } from './event-queue';
import * as L from './layout';

export let S: usize = 0;
export let NODES: usize = 0;
export let PORTS: usize = 0;
export let ROUTE: usize = 0;
export let RPORTS: usize = 0;
export let FLOWS: usize = 0;
export let CCS: usize = 0;
export let PARAMS: usize = 0;
export let PKTS: usize = 0;
export let INTS: usize = 0;
export let HIST: usize = 0;
export let SERIES: usize = 0;
export let FLAGS: u32 = 0;
export let MTU: u32 = 0;
export let HDR: u32 = 0;
export let ACK_BYTES: u32 = 0;
export let INT_WIRE: u32 = 0;
export let N_HOSTS: u32 = 0;

export function bind(st: usize): void {
  S = st;
  NODES = st + <usize>load<u32>(st, L.C_OFF_NODES);
  PORTS = st + <usize>load<u32>(st, L.C_OFF_PORTS);
  ROUTE = st + <usize>load<u32>(st, L.C_OFF_ROUTE);
  RPORTS = st + <usize>load<u32>(st, L.C_OFF_RPORTS);
  FLOWS = st + <usize>load<u32>(st, L.C_OFF_FLOWS);
  CCS = st + <usize>load<u32>(st, L.C_OFF_CC);
  PARAMS = st + <usize>load<u32>(st, L.C_OFF_PARAMS);
  PKTS = st + <usize>load<u32>(st, L.C_OFF_PKTS);
  INTS = st + <usize>load<u32>(st, L.C_OFF_INT);
  HIST = st + <usize>load<u32>(st, L.C_OFF_HIST);
  SERIES = st + <usize>load<u32>(st, L.C_OFF_SERIES);
  FLAGS = load<u32>(st, L.C_FLAGS);
  MTU = load<u32>(st, L.C_MTU);
  HDR = load<u32>(st, L.C_HDR_BYTES);
  ACK_BYTES = load<u32>(st, L.C_ACK_BYTES);
  INT_WIRE = (FLAGS & L.CF_INT) != 0 ? load<u32>(st, L.C_INT_HOP_WIRE) : 0;
  N_HOSTS = load<u32>(st, L.C_HOSTS);
  evqBind(st + <usize>load<u32>(st, L.C_OFF_EVQ));
}

// Record addresses. SAFETY: indices come from the region itself (written by TS, checked by
// validState in sim_init: every node, port, route and flow index in range, every area inside the
// region) or from the pools the kernel manages, so they are in range by construction.
@inline export function node(i: u32): usize {
  return NODES + <usize>i * <usize>L.NODE_BYTES;
}
@inline export function port(i: u32): usize {
  return PORTS + <usize>i * <usize>L.PORT_BYTES;
}
@inline export function flow(i: u32): usize {
  return FLOWS + <usize>i * <usize>L.FLOW_BYTES;
}
@inline export function ccState(i: u32): usize {
  return CCS + <usize>i * <usize>CC_FLOW_BYTES;
}
@inline export function pkt(i: u32): usize {
  return PKTS + <usize>i * <usize>L.PKT_BYTES;
}
@inline export function pktInt(i: u32): usize {
  return INTS + <usize>i * <usize>L.PKT_INT_BYTES;
}

@inline export function addU64(off: usize, v: u64): void {
  store<u64>(S + off, load<u64>(S + off) + v);
}

export function fail(status: i32): void {
  if (load<i32>(S, L.C_STATUS) == 0) store<i32>(S, status, L.C_STATUS);
}

@inline export function schedule(t: i64, type: u32, arg: u32): void {
  if (!evqPush(t, (arg << L.EV_TYPE_BITS) | type)) fail(L.ST_EVQ_EXHAUSTED);
}

/** A packet from the pool (index), or 0xffffffff with the status set when the pool is empty. */
export function pktAlloc(): u32 {
  const free = load<u32>(S, L.C_PKT_FREE);
  if (free == 0) {
    fail(L.ST_POOL_EXHAUSTED);
    return 0xffffffff;
  }
  const k = free - 1;
  store<u32>(S, load<u32>(pkt(k), L.K_NEXT), L.C_PKT_FREE);
  const used = load<u32>(S, L.C_PKT_USED) + 1;
  store<u32>(S, used, L.C_PKT_USED);
  if (used > load<u32>(S, L.C_PKT_HIGH)) store<u32>(S, used, L.C_PKT_HIGH);
  return k;
}

export function pktFree(k: u32): void {
  store<u32>(pkt(k), load<u32>(S, L.C_PKT_FREE), L.K_NEXT);
  store<u32>(S, k + 1, L.C_PKT_FREE);
  store<u32>(S, load<u32>(S, L.C_PKT_USED) - 1, L.C_PKT_USED);
}

/** xorshift64* in the region: RED marking decisions. Uniform in [0, 1). */
export function rand01(): f64 {
  let x = load<u64>(S, L.C_RNG);
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  store<u64>(S, x, L.C_RNG);
  return <f64>((x * 0x2545f4914f6cdd1d) >> 11) * (1.0 / 9007199254740992.0);
}
