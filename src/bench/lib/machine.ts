import { availableParallelism, cpus, loadavg } from 'node:os';
import { hugePageSupport } from '../../memory/huge-pages.js';

/**
 * One line on the machine a bench runs on, for stderr: the figures of the memory- and
 * scheduler-bound cases depend on it (CPU model and count, transparent huge pages and whether
 * host memory gets them, the load when the run started, Node's version).
 */
export function machineLine(): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${model}, ${availableParallelism()} CPUs, ${hugePageSupport()}, load ${loadavg()[0]!.toFixed(2)}, node ${process.version}`;
}
