import { getPriority, setPriority } from 'node:os';
import { CTL_CPU, CTL_NICE, CTL_NICE_REFUSED } from './core-layout.js';
import { currentThreadId, pinThread } from './cpu-affinity.js';

/**
 * Run on the core's own thread when it starts: sets its priority and pins it, and reports both
 * in the control region (out of band: `DpuCore.priority()`).
 *
 * Priority: on Linux, setpriority on the calling thread's id changes that thread alone. A
 * priority above the thread's current one needs root or CAP_SYS_NICE; when refused the core keeps
 * running at the priority it had and says so. Pinning: to `cpu` (the pool has already moved every
 * other thread off it); a failure leaves the core unpinned, reported as CPU -1.
 */
export function placeCoreThread(i32: Int32Array, controlBase: number, nice: number | null, cpu: number | null): void {
  let refused = 0;
  if (nice !== null) {
    try {
      setPriority(nice);
    } catch {
      refused = 1;
    }
  }
  let now: number;
  try {
    now = getPriority();
  } catch {
    now = 0;
  }
  Atomics.store(i32, (controlBase + CTL_NICE) >> 2, now);
  Atomics.store(i32, (controlBase + CTL_NICE_REFUSED) >> 2, refused);
  let pinned = -1;
  if (cpu !== null) {
    try {
      pinThread(currentThreadId(), String(cpu));
      pinned = cpu;
    } catch {
      pinned = -1; // the pool checked that pinning works here
    }
  }
  Atomics.store(i32, (controlBase + CTL_CPU) >> 2, pinned);
}
