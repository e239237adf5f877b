import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';

/**
 * One line on the machine a bench runs on, for stderr: the figures of the memory- and
 * scheduler-bound cases depend on it (CPU model and count, transparent huge pages, the load
 * when the run started, Node's version).
 */
export function machineLine(): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  let thp = 'n/a';
  try {
    thp = /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? 'n/a';
  } catch {
    // not Linux, or no THP: say so
  }
  return `${model}, ${availableParallelism()} CPUs, transparent huge pages ${thp}, load ${loadavg()[0]!.toFixed(2)}, node ${process.version}`;
}
