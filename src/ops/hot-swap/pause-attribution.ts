import { readdirSync, readFileSync } from 'node:fs';
import type { PauseTrace } from '../../dpu/core/pause-trace.js';
import { threadWindow, type CpuSwitch } from './cpu-timeline.js';

/** The threads a hot-swap pause involves, by kernel thread id (0: unknown). */
export interface PauseThreads {
  /** The control plane: the thread that posts the commit (the process's main thread). */
  control: number;
  /** The guest's vCPU, if a guest runs traffic. */
  guest: number;
}

/** One thread's scheduler counters (Linux /proc/self/task/<tid>/{schedstat,status}). */
export interface ThreadSample {
  runNs: number;
  /** Time runnable but waiting on a run queue. */
  waitNs: number;
  voluntary: number;
  nonvoluntary: number;
}

/** The counters of one thread of this process, or null (not Linux, or the thread is gone). */
export function sampleThread(tid: number): ThreadSample | null {
  if (tid <= 0) return null;
  try {
    const f = readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ');
    const st = readFileSync(`/proc/self/task/${tid}/status`, 'latin1');
    const n = (k: string): number => Number(new RegExp(`${k}:\\s*(\\d+)`).exec(st)?.[1] ?? NaN);
    return {
      runNs: Number(f[0]),
      waitNs: Number(f[1]),
      voluntary: n('voluntary_ctxt_switches'),
      nonvoluntary: n('nonvoluntary_ctxt_switches'),
    };
  } catch {
    return null;
  }
}

/** A thread's counters over a commit: sampled as it was posted and once it was acknowledged. */
export interface ThreadDelta {
  runUs: number;
  waitUs: number;
  /** Times it blocked. */
  voluntary: number;
  /** Times the OS took it off its CPU while runnable. */
  nonvoluntary: number;
}

export function threadDelta(a: ThreadSample | null, b: ThreadSample | null): ThreadDelta | null {
  if (!a || !b) return null;
  return {
    runUs: (b.runNs - a.runNs) / 1000,
    waitUs: (b.waitNs - a.waitNs) / 1000,
    voluntary: b.voluntary - a.voluntary,
    nonvoluntary: b.nonvoluntary - a.nonvoluntary,
  };
}

/** Who held the core's CPU while the core waited for it, µs. */
export interface Holders {
  guest: number;
  control: number;
  /** This process's other threads (V8's compiler and GC helpers, other workers). */
  own: number;
  /** Threads of other processes: outside this process. */
  foreign: number;
  /** The busiest holders by name ("fio 812", "own V8 DefaultWorke 40"). */
  top: string[];
}

/**
 * Where one commit's pause went, µs. `coreOnCpu` + `coreWaiting` ≈ the pause: the core on a
 * CPU (the rest of the pass the command arrived in, and the commit: our code, a GC of its heap
 * included) or runnable and waiting for a CPU (the OS scheduler) behind `behind`. GCs: of the
 * core's heap since the previous command (`coreGcs`, V8's own cost), and of the control
 * thread's heap overlapping the pause (`controlGcUs`).
 */
export interface PauseAttribution {
  pauseUs: number;
  coreOnCpu: number;
  coreWaiting: number;
  /** Off a CPU, not runnable: in the core's own V8 heap work (a GC waiting for its helper threads). */
  coreBlocked: number;
  behind: Holders;
  coreGcs: number;
  coreGcUs: number;
  controlGcUs: number;
  lastPassUs: number;
  lastJobsUs: number;
}

/** A GC of the control thread's heap (PerformanceObserver 'gc'), on the process.hrtime clock. */
export interface GcSpan {
  startNs: number;
  endNs: number;
}

/** The attribution of one pause from the machine's CPU timeline (cpu-timeline.ts). */
export function attributePause(
  t: PauseTrace,
  switches: readonly CpuSwitch[],
  threads: PauseThreads,
  ownTids: ReadonlySet<number>,
  controlGcs: readonly GcSpan[],
): PauseAttribution {
  const from = t.requestedNs;
  const to = t.doneNs;
  const w = threadWindow(switches, t.coreTid, from, to);
  const behind: Holders = { guest: 0, control: 0, own: 0, foreign: 0, top: [] };
  for (const h of w.heldBy) {
    const us = h.ns / 1000;
    if (h.tid === threads.guest) behind.guest += us;
    else if (h.tid === threads.control) behind.control += us;
    else if (ownTids.has(h.tid)) behind.own += us;
    else behind.foreign += us;
  }
  behind.top = w.heldBy
    .slice(0, 4)
    .map((h) => `${ownTids.has(h.tid) || h.tid === threads.guest ? 'own ' : ''}${h.comm} ${(h.ns / 1000).toFixed(0)}`);
  let controlGcNs = 0;
  for (const g of controlGcs) controlGcNs += Math.max(0, Math.min(g.endNs, to) - Math.max(g.startNs, from));
  return {
    pauseUs: (to - from) / 1000,
    coreOnCpu: w.onCpuNs / 1000,
    coreWaiting: w.waitingNs / 1000,
    coreBlocked: w.blockedNs / 1000,
    behind,
    coreGcs: t.gcCount ?? 0,
    coreGcUs: t.gcUs ?? 0,
    controlGcUs: controlGcNs / 1000,
    lastPassUs: (t.lastPassNs ?? 0) / 1000,
    lastJobsUs: (t.lastJobsNs ?? 0) / 1000,
  };
}

/** The thread ids of this process now (Linux), empty elsewhere. */
export function ownThreadIds(): Set<number> {
  try {
    return new Set(readdirSync('/proc/self/task').map(Number));
  } catch {
    return new Set();
  }
}

/** One line for a human. */
export function describeAttribution(a: PauseAttribution): string {
  const us = (x: number): string => x.toFixed(0);
  const b = a.behind;
  return (
    `${us(a.pauseUs)} µs: core on a CPU ${us(a.coreOnCpu)} (pass ${us(a.lastPassUs)}, jobs ${us(a.lastJobsUs)}), ` +
    `blocked ${us(a.coreBlocked)}, ` +
    `waiting ${us(a.coreWaiting)} behind foreign ${us(b.foreign)} / guest vCPU ${us(b.guest)} / control ${us(b.control)} / ` +
    `own threads ${us(b.own)} [${b.top.join(', ')}]; core GCs ${a.coreGcs} (${us(a.coreGcUs)} µs), control GC ${us(a.controlGcUs)}`
  );
}
