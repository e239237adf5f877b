// Kernel family "guest": guest-side Wasm run by a guest's vCPU worker — a virtqueue driver
// (split and packed) and loopback traffic workloads. It follows the kernel rules too (shared
// host memory import only, no data segments), so the same loader checks it.

import { KERNEL_ABI } from '../common/abi';
import { driverInit, drvAdd, drvDisableIrq, drvEnableIrq, drvKick, drvReap } from './driver';
import { gdBytes } from './driver-state';
import {
  benchPackedCollect,
  benchPackedRefill,
  benchPackedSetup,
  benchSplitCollect,
  benchSplitRefill,
  benchSplitSetup,
  drain,
  one,
  oneIrq,
  postMany,
  pump,
} from './loopback-traffic';
import { blkVerify, blkWorkload } from './blk-workload';
import { benchOne, benchPump, benchSetup, benchStart } from './blk-bench';
import { GN_ECHO_PORT, GN_SINK_PORT, GN_STATE_BYTES } from './net-state';
import { NET_STACK_EXTRA, netInit, netInitShared, netPoll, netSetRoute } from './net-stack';
import { trunkPoll } from './net-trunk';
import { genRun, genSetup, pingSend, resolve } from './net-traffic';
import { gagentInit, gagentPoll } from './guest-agent';
import { vmIdleStep } from './vm-control';
import { vmAgentStep } from './vm-agent';
import { guestProgramStep } from './guest-program';
import { blkJobStart, blkJobStep } from './blk-job';
import { probeBucket, probeInit, probeRecord, probeStep } from './timer-probe';
import { containerStep } from './container-runtime';
import { gvsockAreaBytes, gvsockArm, gvsockInit, gvsockRun, gvsockStart } from './vsock-driver';
import { auditBytes, auditInit, auditMissing, drainAudited, pumpAudited, pumpAuditedIrq } from './audit';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x7473657567; // "guest"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function gdrv_bytes(n: u32): u32 {
  return gdBytes(n);
}

export function gdrv_init(
  drv: usize,
  flags: u32,
  n: u32,
  ramBase: usize,
  ramBytes: u32,
  descGpa: u64,
  driverGpa: u64,
  deviceGpa: u64,
  doorbell: usize,
  sleepWord: usize,
  irq: usize,
  tablesGpa: u64,
): i32 {
  return driverInit(
    drv,
    flags,
    n,
    ramBase,
    ramBytes,
    descGpa,
    driverGpa,
    deviceGpa,
    doorbell,
    sleepWord,
    irq,
    tablesGpa,
  );
}

export function gdrv_add(drv: usize, outGpa: u64, outLen: u32, inGpa: u64, inLen: u32): i32 {
  return drvAdd(drv, outGpa, outLen, inGpa, inLen);
}

export function gdrv_kick(drv: usize): i32 {
  return drvKick(drv);
}

export function gdrv_reap(drv: usize, out: usize, max: u32): u32 {
  return drvReap(drv, out, max);
}

export function gdrv_enable_irq(drv: usize): i32 {
  return drvEnableIrq(drv);
}

export function gdrv_disable_irq(drv: usize): void {
  drvDisableIrq(drv);
}

export function gloop_pump(drv: usize, bufGpa: u64, scratch: usize, budget: u32): u32 {
  return pump(drv, bufGpa, scratch, budget);
}

export function gbench_post(drv: usize, bufGpa: u64, len: u32, count: u32): u32 {
  return postMany(drv, bufGpa, len, count);
}

export function gbench_split_setup(drv: usize, bufGpa: u64, len: u32): void {
  benchSplitSetup(drv, bufGpa, len);
}

export function gbench_split_refill(drv: usize, count: u32): void {
  benchSplitRefill(drv, count);
}

export function gbench_split_collect(drv: usize): u32 {
  return benchSplitCollect(drv);
}

export function gbench_packed_setup(drv: usize, bufGpa: u64, len: u32): void {
  benchPackedSetup(drv, bufGpa, len);
}

export function gbench_packed_refill(drv: usize, count: u32): void {
  benchPackedRefill(drv, count);
}

export function gbench_packed_collect(drv: usize): u32 {
  return benchPackedCollect(drv);
}

export function gloop_drain(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32): u32 {
  return drain(drv, bufGpa, scratch, spinLimit);
}

export function gloop_one(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32): i32 {
  return one(drv, bufGpa, scratch, spinLimit);
}

export function gloop_one_irq(drv: usize, bufGpa: u64, scratch: usize, timeoutNs: i64): i32 {
  return oneIrq(drv, bufGpa, scratch, timeoutNs);
}

export {
  GD_MAGIC,
  DF_PACKED,
  DF_EVENT_IDX,
  DF_INDIRECT,
  DF_IN_ORDER,
  TABLE_BYTES,
  GD_REAP_BYTES,
  GD_KICKS,
  GD_KICKS_SUPPRESSED,
  GD_ADDED,
  GD_COMPLETED,
  GD_IRQ_WAITS,
  GD_ERRORS,
} from './driver-state';

// Exactly-once audit of loopback traffic (assembly/guest/audit.ts).
export function gaudit_bytes(maxTransitions: u32, bits: u32): u32 {
  return auditBytes(maxTransitions, bits);
}

export function gaudit_init(audit: usize, maxTransitions: u32, bits: u32): i32 {
  return auditInit(audit, maxTransitions, bits);
}

export function gaudit_missing(audit: usize, upTo: u64): u64 {
  return auditMissing(audit, upTo);
}

export function gloop_pump_audit(drv: usize, bufGpa: u64, scratch: usize, budget: u32, audit: usize): u32 {
  return pumpAudited(drv, bufGpa, scratch, budget, audit);
}

export function gloop_pump_audit_irq(
  drv: usize,
  bufGpa: u64,
  scratch: usize,
  budget: u32,
  audit: usize,
  waitNs: i64,
): u32 {
  return pumpAuditedIrq(drv, bufGpa, scratch, budget, audit, waitNs);
}

export function gloop_drain_audit(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32, audit: usize): u32 {
  return drainAudited(drv, bufGpa, scratch, spinLimit, audit);
}

export {
  GA_MAGIC,
  GA_MAX_TRANSITIONS,
  GA_TRANSITIONS,
  GA_LAST_VERSION,
  GA_BITS,
  GA_DUPLICATES,
  GA_WRONG,
  GA_BEYOND,
  GA_UNTALLIED,
  GA_TALLY,
  GA_TALLY_SLOTS,
  GA_TRANSITION_BYTES,
  GA_SLOT_BYTES,
  GA_SLOT_VERSION,
  GA_SLOT_USED,
  GA_SLOT_COUNT,
  GA_TR_SEQ,
  GA_TR_FROM,
  GA_TR_TO,
} from './audit';

// The guest network stack (net-stack.ts, net-traffic.ts) over two virtio-net queues.
export function gnet_state_bytes(): u32 {
  return GN_STATE_BYTES + NET_STACK_EXTRA;
}

export function gnet_init(
  st: usize,
  rxDrv: usize,
  txDrv: usize,
  ramBase: usize,
  rxBufGpa: u64,
  txBufGpa: u64,
  bufBytes: u32,
  qsize: u32,
  macLo: u32,
  macHi: u32,
  ip: u32,
  flags: u32,
): i32 {
  return netInit(st, rxDrv, txDrv, ramBase, rxBufGpa, txBufGpa, bufBytes, qsize, macLo, macHi, ip, flags);
}

/** One pass of the stack (receive, answer, re-post, reap); returns frames handled. */
export function gnet_poll(st: usize, budget: u32): u32 {
  return netPoll(st, budget);
}

/** A stack on VLAN `vlan` sharing the NIC of stack `parent` (a container's, over a trunk). */
export function gnet_init_shared(st: usize, parent: usize, macLo: u32, macHi: u32, ip: u32, vlan: u32): i32 {
  return netInitShared(st, parent, macLo, macHi, ip, vlan);
}

/** One pass of the VLAN split over the NIC of stack `st` (net-trunk.ts); returns frames handled. */
export function gnet_trunk_poll(st: usize, table: usize, budget: u32): u32 {
  return trunkPoll(st, table, budget);
}

export {
  TRUNK_VLANS,
  TRUNK_MAILBOX_BYTES,
  TM_STATE,
  TM_IDLE,
  TM_POSTED,
  TM_TAKEN,
  TM_DONE,
  TM_OP,
  TM_VLAN,
  TM_DST,
  TM_IDENT,
  TM_SEQ,
  TM_LEN,
  TM_RC,
  TM_OP_PING,
} from './net-trunk';

export function gnet_set_ports(st: usize, echoPort: u32, sinkPort: u32): void {
  store<u16>(st, <u16>echoPort, GN_ECHO_PORT);
  store<u16>(st, <u16>sinkPort, GN_SINK_PORT);
}

/** Addresses outside `netmask` of the stack's own go to `gateway` (network order; 0: no route). */
export function gnet_set_route(st: usize, netmask: u32, gateway: u32): void {
  netSetRoute(st, netmask, gateway);
}

export function gnet_ping(st: usize, dst: u32, ident: u32, seq: u32, plen: u32): i32 {
  return pingSend(st, dst, ident, seq, plen);
}

/** 1 when `dst` is resolved (ARP); else asks for it and returns 0. */
export function gnet_resolve(st: usize, dst: u32): i32 {
  return resolve(st, dst);
}

export function gnet_gen_setup(st: usize, dst: u32, dport: u32, sport: u32, payload: u32, window: u32): void {
  genSetup(st, dst, dport, sport, payload, window);
}

export function gnet_gen_run(st: usize, count: u32, limit: u32): u32 {
  return genRun(st, count, limit);
}

export {
  GN_MAGIC,
  GN_FLAGS,
  GN_IP,
  GN_COUNTERS,
  GN_GEN_SEQ,
  GN_SINK_NEXT,
  GN_SINK_RECEIVED,
  GN_SINK_REORDERED,
  GN_SINK_DUPLICATES,
  GN_PING_LAST,
  GN_PING_REPLIES,
  GN_VLAN,
  GN_NETMASK,
  GN_GATEWAY,
  GN_STATE_BYTES,
  GNF_CSUM_OFFLOAD,
  GNC_RX_FRAMES,
  GNC_TX_FRAMES,
  GNC_ARP_REQUESTS,
  GNC_ARP_REPLIES,
  GNC_ECHO_REQUESTS,
  GNC_ECHO_REPLIES,
  GNC_UDP_ECHOED,
  GNC_UDP_SENT,
  GNC_TX_FULL,
  GNC_NO_ARP,
  GNC_RX_IGNORED,
  GNC_RX_BAD,
  GNC_COUNT,
} from './net-state';
// virtio-vsock driver (assembly/guest/vsock-driver.ts) and its endpoint (assembly/vsock/).
export function gvsock_area_bytes(flags: u32, n: u32, nEv: u32, bufBytes: u32, maxConns: u32, connRingBytes: u32): u32 {
  return gvsockAreaBytes(flags, n, nEv, bufBytes, maxConns, connRingBytes);
}

export function gvsock_init(
  ramBase: usize,
  ramBytes: u32,
  areaGpa: u64,
  areaBytes: u32,
  flags: u32,
  n: u32,
  nEv: u32,
  bufBytes: u32,
  maxConns: u32,
  connRingBytes: u32,
  config: usize,
  doorbell: usize,
  sleepWord: usize,
  irq: usize,
  appDoorbell: usize,
): i32 {
  return gvsockInit(
    ramBase,
    ramBytes,
    areaGpa,
    areaBytes,
    flags,
    n,
    nEv,
    bufBytes,
    maxConns,
    connRingBytes,
    config,
    doorbell,
    sleepWord,
    irq,
    appDoorbell,
  );
}

export function gvsock_start(vs: usize): i32 {
  return gvsockStart(vs);
}

export function gvsock_run(vs: usize, budget: u32): i32 {
  return gvsockRun(vs, budget);
}

export function gvsock_arm(vs: usize): i32 {
  return gvsockArm(vs);
}

export {
  GV_MAGIC,
  GV_FLAGS,
  GV_RAM_BASE,
  GV_RAM_BYTES,
  GV_QUEUE_SIZE,
  GV_EVENT_QUEUE_SIZE,
  GV_BUF_BYTES,
  GV_AREA_BYTES,
  GV_RX_DRV,
  GV_TX_DRV,
  GV_EV_DRV,
  GV_ENDPOINT,
  GV_CONFIG,
  GV_REAP,
  GV_SEG,
  GV_RX_BUF_GPA,
  GV_TX_BUF_GPA,
  GV_EV_BUF_GPA,
  GV_RINGS,
  GV_TRANSPORT_RESETS,
  GV_RX_TRUNCATED,
  GV_STARTED,
  GV_STATE_BYTES,
  GV_EVENT_BUF_BYTES,
} from './vsock-driver';
export { GLOOP_PAIR_BYTES, GLOOP_HALF_BYTES } from './loopback-traffic';

// virtio-blk workloads (assembly/guest/blk-workload.ts, blk-bench.ts).
export function gblk_workload(
  drv: usize,
  slotsGpa: u64,
  versGpa: u64,
  scratch: usize,
  rng: usize,
  base: u32,
  blocks: u32,
  depth: u32,
  rounds: u32,
): u32 {
  return blkWorkload(drv, slotsGpa, versGpa, scratch, rng, base, blocks, depth, rounds);
}

/** Reads back every block of a workload's range, checked against its version table. */
export function gblk_verify(
  drv: usize,
  slotsGpa: u64,
  versGpa: u64,
  scratch: usize,
  base: u32,
  blocks: u32,
  depth: u32,
): u32 {
  return blkVerify(drv, slotsGpa, versGpa, scratch, base, blocks, depth);
}

export function gblk_bench_setup(drv: usize, slotsGpa: u64, qd: u32, len: u32): i32 {
  return benchSetup(drv, slotsGpa, qd, len);
}

export function gblk_bench_start(drv: usize, slotsGpa: u64, qd: u32, rng: usize, blocks: u32): void {
  benchStart(drv, slotsGpa, qd, rng, blocks);
}

export function gblk_bench_pump(drv: usize, slotsGpa: u64, rng: usize, blocks: u32, rounds: u32): u32 {
  return benchPump(drv, slotsGpa, rng, blocks, rounds);
}

export function gblk_bench_one(drv: usize, slotsGpa: u64, rng: usize, blocks: u32, spinLimit: u32): i32 {
  return benchOne(drv, slotsGpa, rng, blocks, spinLimit);
}

export { BLKW_SLOT_BYTES, BLKW_BLOCK_BYTES } from './blk-workload';

// The guest agent (assembly/guest/guest-agent.ts) and the agent frame layout (agent-frame.ts).
export function gagent_init(ga: usize, vs: usize, clock: usize, vcpu: u32): i32 {
  return gagentInit(ga, vs, clock, vcpu);
}

export function gagent_poll(ga: usize, waitNs: i64): i32 {
  return gagentPoll(ga, waitNs);
}

export {
  QGA_MAGIC,
  QGA_PORT,
  QGA_PROTOCOL,
  QGA_PING,
  QGA_INFO,
  QGA_SHUTDOWN,
  QGA_INFO_BYTES,
  QGA_MAX_BODY,
  QGA_STATE_BYTES,
  QGA_HALTED,
} from './guest-agent';
export {
  AF_MAGIC,
  AF_VERSION,
  AF_OFF_MAGIC,
  AF_OFF_VERSION,
  AF_OFF_KIND,
  AF_OFF_TYPE,
  AF_OFF_ID,
  AF_OFF_STATUS,
  AF_OFF_FLAGS,
  AF_OFF_LENGTH,
  AF_HEADER_BYTES,
  AFK_REQUEST,
  AFK_RESPONSE,
  AFK_EVENT,
  AFS_OK,
  AFS_BAD_FRAME,
  AFS_UNSUPPORTED_VERSION,
  AFS_UNKNOWN_TYPE,
  AFS_BAD_REQUEST,
  AFS_NOT_FOUND,
  AFS_BAD_STATE,
  AFS_EXISTS,
  AFS_NO_RESOURCES,
  AFS_TIMEOUT,
  AFS_INTERNAL,
} from './agent-frame';

// A VM's control block and the program of a VM with no workload (assembly/guest/vm-control.ts).
export function gvm_idle(ctl: usize, waitNs: i64): i32 {
  return vmIdleStep(ctl, waitNs);
}

// vCPU 0 of a VM whose guest runs the guest agent (assembly/guest/vm-agent.ts).
export function gvm_agent(ctl: usize, vs: usize, ga: usize, waitNs: i64): i32 {
  return vmAgentStep(ctl, vs, ga, waitNs);
}

// vCPU 0 of a VM whose guest drives its own devices (assembly/guest/guest-program.ts).
export function gvm_guest(ctl: usize, prog: usize, vs: usize, ga: usize, waitNs: i64): i32 {
  return guestProgramStep(ctl, prog, vs, ga, waitNs);
}

/** Starts the checked block job at `job` (assembly/guest/blk-job.ts); 0, -1 out of range, -2 busy. */
export function gblk_job_start(job: usize, base: u32, count: u32, depth: u32, nowNs: u64): i32 {
  return blkJobStart(job, base, count, depth, nowNs);
}

/** One step of the checked block job; returns completions handled plus requests submitted. */
export function gblk_job_step(job: usize, nowNs: u64): u32 {
  return blkJobStep(job, nowNs);
}

export {
  GP_MAGIC,
  GP_NET,
  GP_BLK,
  GP_IRQ,
  GP_PING_SENT,
  GP_PING_COUNT,
  GP_STEPS,
  GP_SLEEPS,
  GP_BYTES,
  GP_PING_IDENT,
} from './program-state';
export {
  BJ_MAGIC,
  BJ_DRV,
  BJ_PHASE,
  BJ_RUN,
  BJ_SLOTS,
  BJ_VERS,
  BJ_SCRATCH,
  BJ_CAPACITY,
  BJ_BYTES,
  BJP_IDLE,
  BJP_WRITE,
  BJP_FLUSH,
  BJP_READ,
  BJP_DONE,
  BJP_FAILED,
} from './blk-job';
export {
  QGA_NET_STATS,
  QGA_NET_PING,
  QGA_BLK_CHECK,
  QGA_BLK_STATUS,
  QGA_NET_STATS_BYTES,
  QGA_BLK_STATUS_BYTES,
} from './guest-commands';

// Every vCPU of a container host: container tasks from the table in its RAM (assembly/guest/container-runtime.ts).
export function gvm_containers(ctl: usize, table: usize, ram: usize, ramBytes: u32, vcpu: u32, waitNs: i64): i32 {
  return containerStep(ctl, table, ram, ramBytes, vcpu, waitNs);
}

export {
  CT_MAGIC,
  CT_CAPACITY,
  CT_VCPUS,
  CT_EPOCH,
  CT_NET_GPA,
  CT_NET_BYTES,
  CT_NET_VLANS,
  CT_NET_MIN_BYTES,
  CT_SEEN,
  CT_MAX_VCPUS,
  CT_SLOTS,
  CT_SLOT_BYTES,
  CT_STATE,
  CT_SHARE,
  CT_MEM_GPA,
  CT_MEM_BYTES,
  CT_TASK,
  CT_ID,
  CT_UNITS,
  CT_ROUNDS,
  CT_FREE,
  CT_DEFINED,
  CT_RUNNING,
  CT_PAUSED,
  CT_SHUTOFF,
  CT_FAULT,
  CT_TASK_IDLE,
  CT_TASK_BUSY,
} from './container-runtime';

export {
  VMC_MAGIC,
  VMC_RUN,
  VMC_PARKED,
  VMC_POWER,
  VMC_HALTED,
  VMC_VCPUS,
  VMC_EXITED,
  VMC_WAKE,
  VMC_TICKS,
  VMC_CLOCK,
  VMC_ENTERED,
  VMC_IRQ,
  VMC_BYTES,
  VMC_RUNNING,
  VMC_PAUSED,
  VMC_STOPPED,
  VMC_CONTINUE,
  VMC_HALT,
  VMC_BUSY,
} from './vm-control';

// The timer probe: a latency-sensitive guest's program (assembly/guest/timer-probe.ts).
export function gprobe_init(p: usize, intervalNs: u64): i32 {
  return probeInit(p, intervalNs);
}

export function gprobe_record(p: usize, ns: u64): void {
  probeRecord(p, ns);
}

export function gprobe_bucket(ns: u64): u32 {
  return probeBucket(ns);
}

export function gvm_probe(ctl: usize, p: usize): i32 {
  return probeStep(ctl, p);
}

export {
  TP_MAGIC,
  TP_BUCKETS_WORD,
  TP_INTERVAL,
  TP_NEXT,
  TP_SAMPLES,
  TP_SUM,
  TP_MAX,
  TP_MISSED,
  TP_WAKES,
  TP_OVERFLOW,
  TP_HIST,
  TP_SUB_BITS,
  TP_TOP_BIT,
  TP_BUCKETS,
  TP_BYTES,
} from './timer-probe';

// Where a guest virtqueue driver kicks (driver-state.ts): relocating a device re-points them.
export { GD_DOORBELL, GD_SLEEP } from './driver-state';
