import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';

/**
 * CPU affinity of threads, for dedicating CPUs to DPU cores (DPDK's lcore pinning with the
 * other threads kept off those CPUs, as `isolcpus` does for DPDK). Linux only: a thread is named
 * by its kernel thread id (/proc/thread-self) and moved with `taskset` (util-linux); Node has no
 * affinity API of its own.
 */

/** Why pinning cannot work here, or null when it can. */
export function affinityUnsupported(): string | null {
  if (process.platform !== 'linux') return `CPU pinning needs Linux (this is ${process.platform})`;
  if (!existsSync('/proc/thread-self')) return 'CPU pinning needs /proc/thread-self';
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'CPU pinning needs taskset (Debian package util-linux)';
  }
  return null;
}

/** The calling thread's kernel thread id. */
export function currentThreadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/** The CPUs a thread (or a process's main thread) may run on, as a taskset list ("0-1", "0,2"). */
export function threadAffinity(tid: number): string {
  const out = execFileSync('taskset', ['-c', '-p', String(tid)], { encoding: 'utf8' });
  return out.slice(out.lastIndexOf(':') + 1).trim();
}

/** Restricts one thread to `cpus` (a taskset list). */
export function pinThread(tid: number, cpus: string): void {
  execFileSync('taskset', ['-c', '-p', cpus, String(tid)], { stdio: 'ignore' });
}

/** Restricts every thread of this process to `cpus`; threads created later inherit it from their creator. */
export function pinProcess(cpus: string): void {
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(process.pid)], { stdio: 'ignore' });
}

/** A taskset list for a set of CPU numbers. */
export function cpuList(cpus: readonly number[]): string {
  return [...cpus].sort((a, b) => a - b).join(',');
}
