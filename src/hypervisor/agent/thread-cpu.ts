import { readFileSync } from 'node:fs';

/**
 * CPU time of the calling thread alone, in ns: the first field of Linux's
 * /proc/thread-self/schedstat (time spent on a CPU). A worker thread reading it gets its own
 * time, not the process's, which is what "the host agent's own CPU use" means. Where the file
 * does not exist (not Linux), the process's user + system time stands in for it.
 */
export function threadCpuNs(): number {
  try {
    const first = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0];
    const ns = Number(first);
    if (Number.isFinite(ns)) return ns;
  } catch {
    // not Linux: fall through
  }
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}
