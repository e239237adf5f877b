// Kernel family "netsim": a packet-level discrete-event network simulator for congestion-control
// studies. All of its state is one region (layout.ts) that the TS side builds (src/netsim/); the
// congestion-control laws are the ones of the `cc` family (assembly/cc), compiled in.
//
//   sim_init(state)          validates the region (validate.ts), threads the packet pool, schedules the first
//                            flow start and the first queue sample. Returns 0 or a status.
//   sim_run(state, budget)   handles up to `budget` events, stopping before the first event later
//                            than C_STOP_PS. Returns events handled (>= 0) or a negative status.
//                            It is a job entry: (state, budget) -> items.
import { KERNEL_ABI } from '../common/abi';
import { headerOk } from '../common/header';
import * as C from './ctx';
import { EVQ_NONE, evqBind, evqBytes, evqInit, evqLastTime, evqPop, evqPush, evqUnpop } from './event-queue';
import { hostReceive, onFlowStart, onRto, onWake } from './host';
import * as L from './layout';
import { histBin, onPfc, onTxDone, sampleQueues, switchReceive } from './port';
import { validState } from './validate';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x6d697374656e; // "netsim"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export * from './layout';
export { EVQ_WHEEL, EVQ_HEAP, WHEEL_BUCKETS, WHEEL_SHIFT } from './event-queue';

export function sim_evq_bytes(cap: u32): u32 {
  return <u32>evqBytes(cap);
}

export function sim_hist_bin(bytes: u32): u32 {
  return histBin(bytes);
}

export function sim_init(st: usize): i32 {
  if (!headerOk(st, L.NSIM_MAGIC, L.NSIM_LAYOUT, L.CONFIG_BYTES) || !validState(st)) return L.ST_BAD_STATE;
  C.bind(st);
  evqInit(st + <usize>load<u32>(st, L.C_OFF_EVQ), load<u32>(st, L.C_EVQ_KIND), load<u32>(st, L.C_EVQ_CAP));
  C.bind(st);
  const cap = load<u32>(st, L.C_PKT_CAP);
  for (let i: u32 = 0; i < cap; i++) store<u32>(C.pkt(i), i + 2 <= cap ? i + 2 : 0, L.K_NEXT);
  store<u32>(st, cap > 0 ? 1 : 0, L.C_PKT_FREE);
  store<u64>(st, load<u64>(st, L.C_SEED) | 1, L.C_RNG);
  if (load<u32>(st, L.C_FLOWS) > 0) C.schedule(load<i64>(C.flow(0), L.F_START_PS), L.EV_FLOW_START, 0);
  const sample = load<i64>(st, L.C_SAMPLE_PS);
  if (sample > 0) C.schedule(sample, L.EV_SAMPLE, 0);
  return load<i32>(st, L.C_STATUS);
}

export function sim_run(st: usize, budget: i32): i32 {
  if (!headerOk(st, L.NSIM_MAGIC, L.NSIM_LAYOUT, L.CONFIG_BYTES)) return L.ST_BAD_STATE;
  C.bind(st);
  const stop = load<i64>(st, L.C_STOP_PS);
  let done: i32 = 0;
  while (done < budget) {
    const ev = evqPop();
    if (ev == EVQ_NONE) break;
    const t = evqLastTime();
    if (t > stop) {
      evqUnpop(t, ev);
      break;
    }
    done++;
    const type = ev & ((1 << L.EV_TYPE_BITS) - 1);
    const arg = ev >> L.EV_TYPE_BITS;
    if (type == L.EV_ARRIVE) arrive(arg, t);
    else if (type == L.EV_TXDONE) onTxDone(arg, t);
    else if (type == L.EV_WAKE) onWake(arg, t);
    else if (type == L.EV_FLOW_START) onFlowStart(arg, t);
    else if (type == L.EV_RTO) onRto(arg, t);
    else if (type == L.EV_SAMPLE) {
      sampleQueues(t);
      C.schedule(t + load<i64>(st, L.C_SAMPLE_PS), L.EV_SAMPLE, 0);
    }
    const status = load<i32>(st, L.C_STATUS);
    if (status != 0) {
      store<i64>(st, t, L.C_NOW_PS);
      store<u64>(st, load<u64>(st, L.C_EVENTS) + <u64>done, L.C_EVENTS);
      return status;
    }
    store<i64>(st, t, L.C_NOW_PS);
  }
  store<u64>(st, load<u64>(st, L.C_EVENTS) + <u64>done, L.C_EVENTS);
  return done;
}

function arrive(k: u32, now: i64): void {
  const kp = C.pkt(k);
  const type = load<u32>(kp, L.K_TYPE);
  if (type == L.KT_PAUSE || type == L.KT_RESUME) {
    onPfc(k, now);
    return;
  }
  const pi = load<u32>(kp, L.K_PORT);
  const ni = load<u32>(C.port(pi), L.PT_NODE);
  const nd = C.node(ni);
  if (load<u32>(nd, L.N_KIND) == L.NK_SWITCH) switchReceive(nd, pi, k, now);
  else hostReceive(ni, k, now);
}

// ---- event-core benchmark (the hold model) ----------------------------------------------------
// `evq_hold_init` fills a queue at `base` with `n` events; `evq_hold` then does `ops` hold
// operations (pop the earliest, push it back later by a packet-like increment: a serialization
// time, sometimes plus a 1 µs propagation, rarely a 300 µs timer). Returns the checksum of the
// popped times, so the work cannot be optimised away. The TS peers (src/bench/peers/) do the same.
export function evq_hold_init(base: usize, kind: u32, cap: u32, n: u32, seed: u64): void {
  evqInit(base, kind, cap);
  evqBind(base);
  let x = seed | 1;
  for (let i: u32 = 0; i < n; i++) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    evqPush(<i64>((x * 0x2545f4914f6cdd1d) >> 44), i);
  }
}

export function evq_hold(base: usize, ops: u32, seed: u64): u64 {
  evqBind(base);
  let x = seed | 1;
  let sum: u64 = 0;
  for (let i: u32 = 0; i < ops; i++) {
    const p = evqPop();
    if (p == EVQ_NONE) break;
    const t = evqLastTime();
    sum += <u64>t;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const r = <u32>((x * 0x2545f4914f6cdd1d) >> 54); // 0..1023
    let dt: i64 = 84_000 + <i64>(r & 63) * 1000;
    if (r < 512) dt += 1_000_000;
    if (r == 1023) dt += 300_000_000;
    evqPush(t + dt, p);
  }
  return sum;
}

// The congestion-control layout (parameter and per-flow state blocks), from assembly/cc.
export * from '../cc/layout';
