import { readFileSync } from 'node:fs';
import type { PauseTrace } from '../../dpu/core/pause-trace.js';

/** One commit as a core reported it. */
export interface PauseSample {
  pauseNs: number;
  trace: PauseTrace;
}

/**
 * Where the time of the slow commits of a series went, summed over those commits (µs), from the
 * cores' pause traces (DpuOptions.trace). `coreWaitUs` is time the core thread was runnable
 * but had no CPU; `unaccountedUs` time it was neither on a CPU nor waiting in the guest's
 * scheduler (the VM not running); `othersRunUs` the CPU time this process's other threads had
 * in the same windows (when it is far below the core's wait, the CPU went to other processes).
 */
export interface PauseBreakdown {
  commits: number;
  slow: number;
  thresholdUs: number;
  slowPauseUs: number;
  boundaryWaitUs: number;
  commitUs: number;
  jobsUs: number;
  gcCount: number;
  gcUs: number;
  coreWaitUs: number;
  unaccountedUs: number;
  othersRunUs: number;
}

export function breakdown(samples: readonly PauseSample[], thresholdUs = 100): PauseBreakdown {
  const b: PauseBreakdown = {
    commits: samples.length,
    slow: 0,
    thresholdUs,
    slowPauseUs: 0,
    boundaryWaitUs: 0,
    commitUs: 0,
    jobsUs: 0,
    gcCount: 0,
    gcUs: 0,
    coreWaitUs: 0,
    unaccountedUs: 0,
    othersRunUs: 0,
  };
  for (const { pauseNs, trace: t } of samples) {
    if (pauseNs / 1000 <= thresholdUs) continue;
    b.slow++;
    b.slowPauseUs += pauseNs / 1000;
    b.boundaryWaitUs += t.boundaryWaitNs / 1000;
    b.commitUs += t.commitNs / 1000;
    b.jobsUs += (t.lastJobsNs ?? 0) / 1000;
    b.gcCount += t.gcCount ?? 0;
    b.gcUs += t.gcUs ?? 0;
    // A wait that began before the command was posted is only counted up to the pause.
    b.coreWaitUs += Math.min(t.coreWaitNs ?? 0, pauseNs) / 1000;
    b.unaccountedUs += (t.unaccountedNs ?? 0) / 1000;
    b.othersRunUs += (t.othersRunNs ?? 0) / 1000;
  }
  return b;
}

/** True when the core thread never left its CPU during the commit (`trace` only; else false). */
export function undisturbed({ trace: t }: PauseSample): boolean {
  return t.coreSwitches === 0;
}

/** One line for a human: what the slow commits' pause was made of. */
export function describeBreakdown(b: PauseBreakdown): string {
  if (b.slow === 0) return `no commit over ${b.thresholdUs} µs of ${b.commits}`;
  const pct = (x: number): string => `${((100 * x) / b.slowPauseUs).toFixed(0)} %`;
  const us = (x: number): string => `${x.toFixed(0)} µs`;
  return (
    `${b.slow}/${b.commits} commits over ${b.thresholdUs} µs, ${us(b.slowPauseUs)} of pause: ` +
    `core waiting for a CPU ${us(b.coreWaitUs)} (${pct(b.coreWaitUs)}), VM not running ${us(b.unaccountedUs)} ` +
    `(${pct(b.unaccountedUs)}), in the job calls of the pass it waited for ${us(b.jobsUs)} (${pct(b.jobsUs)}), ` +
    `commit ${us(b.commitUs)}; ${b.gcCount} GCs of the core's heap in their windows (${us(b.gcUs)}); ` +
    `the process's other threads ran ${us(b.othersRunUs)} meanwhile`
  );
}

/** Steal and busy time of the whole machine (all CPUs), in USER_HZ ticks, from /proc/stat; null off Linux. */
export function cpuTicks(): { steal: number; total: number } | null {
  try {
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const f = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { steal: f[7] ?? 0, total: f.reduce((a, x) => a + x, 0) };
  } catch {
    return null;
  }
}
