import { readdirSync, readFileSync } from 'node:fs';
import { GCProfiler } from 'node:v8';
import { currentThreadId } from './cpu-affinity.js';

/**
 * Where the pause of a swap commit goes. The core records each SwapKernel commit in its control
 * region (block below) before it acknowledges it; DpuCore.swapKernel reads it back with the ack.
 *
 * Always:  requested (the command's stamp) → picked up (the core took it from its mailbox at
 *          the top of a pass: the rest of the pass that was running when it arrived) → done
 *          (every job re-pointed).
 * `trace`: the pass before the pick-up (its length and the time inside job calls), the minor and
 *          major GCs of the core's V8 heap since the previous command (count, cost), and the
 *          scheduler's view of the core thread (Linux /proc/<pid>/task/<tid>/schedstat: time on a
 *          CPU, time runnable but waiting for one) read by the control plane just before it
 *          posts the command and by the core just after the commit, together with the CPU time
 *          of every other thread of the process over the same window. With those,
 *          pause ≈ core on CPU + core waiting for a CPU + unaccounted, where the waiting was
 *          caused by whoever held the CPUs (this process's other threads, or others), and the
 *          unaccounted rest is time the VM's vCPU did not run at all (steal) or clock skew.
 *
 *   +0  f64 requestedNs   +8  f64 pickupNs   +16 f64 doneNs      (process.hrtime clock, ns)
 *   +24 f64 lastPassNs    +32 f64 lastJobsNs                      (trace)
 *   +40 f64 gcCount       +48 f64 gcUs                            (trace)
 *   +56 f64 runNs         +64 f64 waitNs     +72 f64 othersRunNs  (trace: cumulative, after the commit)
 *   +80 f64 traced        1 when the core runs with `trace`
 *   +88 f64 tid           the core thread's kernel thread id      (0 when unknown)
 *   +96 f64 switches      times the core thread was given a CPU, ever (trace: after the commit)
 */
export const PT_REQUESTED = 0;
export const PT_PICKUP = 1;
export const PT_DONE = 2;
export const PT_LAST_PASS = 3;
export const PT_LAST_JOBS = 4;
export const PT_GC_COUNT = 5;
export const PT_GC_US = 6;
export const PT_RUN = 7;
export const PT_WAIT = 8;
export const PT_OTHERS_RUN = 9;
export const PT_TRACED = 10;
export const PT_TID = 11;
export const PT_SWITCHES = 12;
export const PAUSE_TRACE_BYTES = 8 * 13;

/** Where one swap commit's pause went, in ns (the `trace` figures null on a core started without it). */
export interface PauseTrace {
  /** When the command was written (process.hrtime, ns): the pause's start. */
  requestedNs: number;
  /** When the last job was re-pointed (process.hrtime, ns): the pause's end. */
  doneNs: number;
  /** The core thread's kernel thread id (0 where unknown). */
  coreTid: number;
  /** Command written → taken by the core at its next burst boundary. */
  boundaryWaitNs: number;
  /** Taken → every job re-pointed. */
  commitNs: number;
  /** The pass during which the command arrived: its length. */
  lastPassNs: number | null;
  /** … and how much of it was spent inside job calls. */
  lastJobsNs: number | null;
  /** GCs of the core's heap since the previous command ended (a GC inside the pause is among them). */
  gcCount: number | null;
  /** … their total cost (µs, as V8 reports it). */
  gcUs: number | null;
  /** Over [just before the command was posted, just after the commit]: the core thread on a CPU. */
  coreRunNs: number | null;
  /** … runnable, waiting for a CPU (another thread held it). */
  coreWaitNs: number | null;
  /** … the CPU time of this process's other threads (main, vCPUs, other cores, V8's helpers). */
  othersRunNs: number | null;
  /** … neither on a CPU nor waiting for one in the guest's scheduler: the VM itself not running (steal). */
  unaccountedNs: number | null;
  /**
   * … the times the core thread was given a CPU again (Linux schedstat pcount): 0 means it never
   * left its CPU from just before the command was posted until the commit was done, so the whole
   * pause was the process's own work (or the VM's vCPU stolen, which no thread sees).
   */
  coreSwitches: number | null;
}

/**
 * The scheduler's counters of one thread: [ns on a CPU, ns waiting on a run queue, times given a
 * CPU], or null. The first is only as fresh as the scheduler's last update of a running thread
 * (up to a tick); the other two change only when the thread gets a CPU, so they are exact.
 */
export function threadSchedstat(pid: number | 'self', tid: number | 'thread-self'): [number, number, number] | null {
  try {
    const path = tid === 'thread-self' ? '/proc/thread-self/schedstat' : `/proc/${pid}/task/${tid}/schedstat`;
    const f = readFileSync(path, 'latin1').split(' ');
    return [Number(f[0]), Number(f[1]), Number(f[2])];
  } catch {
    return null;
  }
}

/** CPU time (ns) of every thread of this process but `exceptTid`, from the scheduler; null off Linux. */
export function othersRunNs(exceptTid: number): number | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  let sum = 0;
  for (const t of tids) {
    if (Number(t) === exceptTid) continue;
    const s = threadSchedstat('self', Number(t));
    if (s) sum += s[0];
  }
  return sum;
}

/**
 * Core side: writes the block. Without `trace` it only costs the three times of each commit.
 * Runs on the core's thread.
 */
export class PauseRecorder {
  private readonly gc: GCProfiler | null;
  private tid = 0;

  constructor(
    private readonly f64: Float64Array,
    private readonly at: number,
    readonly traced: boolean,
  ) {
    this.gc = traced ? new GCProfiler() : null;
  }

  /** When the core starts: says whether it traces and its thread id, and starts counting GCs. */
  start(): void {
    this.f64[this.at + PT_TRACED] = this.traced ? 1 : 0;
    try {
      this.tid = currentThreadId();
    } catch {
      this.tid = 0;
    }
    this.f64[this.at + PT_TID] = this.tid;
    if (this.traced) this.gc!.start();
  }

  /**
   * One commit: its three times; with `trace` the pass it waited for, the GCs since the previous
   * command, and the scheduler's counters of this thread and of the process's other threads.
   */
  commit(requestedNs: number, pickupNs: number, doneNs: number, lastPassNs: number, lastJobsNs: number): void {
    const f = this.f64;
    const at = this.at;
    f[at + PT_REQUESTED] = requestedNs;
    f[at + PT_PICKUP] = pickupNs;
    f[at + PT_DONE] = doneNs;
    if (!this.gc) return;
    f[at + PT_LAST_PASS] = lastPassNs;
    f[at + PT_LAST_JOBS] = lastJobsNs;
    const gcs = this.gc.stop().statistics;
    this.gc.start();
    f[at + PT_GC_COUNT] = gcs.length;
    f[at + PT_GC_US] = gcs.reduce((sum, g) => sum + g.cost, 0);
    const own = threadSchedstat('self', 'thread-self');
    f[at + PT_RUN] = own?.[0] ?? 0;
    f[at + PT_WAIT] = own?.[1] ?? 0;
    f[at + PT_SWITCHES] = own?.[2] ?? 0;
    f[at + PT_OTHERS_RUN] = othersRunNs(this.tid) ?? 0;
  }

  /** Any other command has been acknowledged: the next commit's GC window starts here. */
  commandDone(): void {
    if (!this.gc) return;
    this.gc.stop();
    this.gc.start();
  }
}

/** A snapshot taken by the control plane just before it posts a SwapKernel (trace mode). */
export interface SchedSnapshot {
  runNs: number;
  waitNs: number;
  switches: number;
  othersRunNs: number;
  atNs: number;
}

export function schedSnapshot(tid: number): SchedSnapshot | null {
  const own = threadSchedstat('self', tid);
  const others = othersRunNs(tid);
  if (!own || others === null) return null;
  return {
    runNs: own[0],
    waitNs: own[1],
    switches: own[2],
    othersRunNs: others,
    atNs: Number(process.hrtime.bigint()),
  };
}

/** Reads the block the core wrote for its last commit, with the snapshot taken before it was posted. */
export function readPauseTrace(f64: Float64Array, at: number, before: SchedSnapshot | null): PauseTrace {
  const v = (k: number): number => f64[at + k]!;
  const traced = v(PT_TRACED) === 1;
  const t = (x: number): number | null => (traced ? x : null);
  let run: number | null = null,
    wait: number | null = null,
    others: number | null = null,
    unaccounted: number | null = null,
    switches: number | null = null;
  if (traced && before && v(PT_TID) > 0) {
    run = v(PT_RUN) - before.runNs;
    wait = v(PT_WAIT) - before.waitNs;
    others = v(PT_OTHERS_RUN) - before.othersRunNs;
    unaccounted = Math.max(0, v(PT_DONE) - before.atNs - run - wait);
    switches = v(PT_SWITCHES) - before.switches;
  }
  return {
    requestedNs: v(PT_REQUESTED),
    doneNs: v(PT_DONE),
    coreTid: v(PT_TID),
    boundaryWaitNs: Math.max(0, v(PT_PICKUP) - v(PT_REQUESTED)),
    commitNs: Math.max(0, v(PT_DONE) - v(PT_PICKUP)),
    lastPassNs: t(v(PT_LAST_PASS)),
    lastJobsNs: t(v(PT_LAST_JOBS)),
    gcCount: t(v(PT_GC_COUNT)),
    gcUs: t(v(PT_GC_US)),
    coreRunNs: run,
    coreWaitNs: wait,
    othersRunNs: others,
    unaccountedNs: unaccounted,
    coreSwitches: switches,
  };
}
