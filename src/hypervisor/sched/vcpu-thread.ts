import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import {
  affinityUnsupported,
  cpuList,
  currentThreadId,
  pinThread,
  threadAffinity,
} from '../../dpu/core/cpu-affinity.js';
import type { VcpuClass, VcpuPlacement } from './vcpu-class.js';

/**
 * Run on a vCPU's own thread: gives it the priority (`nice`, null: keep the process's) and CPUs
 * (`cpus`, null: keep the ones it has) of its class, and reports what it got. A refused raise
 * leaves the thread at the priority it had (`refused`), as the DPU cores do; a pin that fails
 * leaves its CPUs as they were (the caller checked the CPUs with {@link checkVcpuCpus}).
 */
export function placeVcpuThread(
  cls: VcpuClass | null,
  nice: number | null,
  cpus: number[] | null,
  previous: VcpuPlacement | null,
): VcpuPlacement {
  let refused = false;
  if (nice !== null) {
    try {
      setPriority(nice);
    } catch {
      refused = true;
    }
  }
  const tid = threadId();
  if (cpus !== null && tid > 0) {
    try {
      pinThread(tid, cpuList(cpus));
    } catch {
      // reported below: the thread's CPUs are what it has
    }
  }
  return reportVcpuThread({
    class: cls,
    tid,
    requested: nice,
    nice: 0,
    refused,
    cpus: previous?.cpus ?? null,
  });
}

/** The placement `p` with the thread's priority and CPUs read again (on the vCPU's own thread). */
export function reportVcpuThread(p: VcpuPlacement): VcpuPlacement {
  let nice: number;
  try {
    nice = getPriority();
  } catch {
    nice = 0; // not supported here: the default priority
  }
  let cpus = p.cpus;
  if (p.tid > 0) {
    try {
      // The kernel's own account, without starting a process (VMs start many vCPUs).
      const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/self/task/${p.tid}/status`, 'latin1'));
      if (m) cpus = m[1]!;
    } catch {
      // not Linux: unknown
    }
  }
  return { ...p, nice, cpus };
}

/**
 * Refuses CPUs a vCPU cannot be pinned to: where pinning does not work, or CPUs outside the
 * process's own set (`where` names the field).
 */
export function checkVcpuCpus(cpus: readonly number[], where: string): void {
  const why = affinityUnsupported();
  if (why) throw new QingtianError(ErrorCode.InvalidArgument, `${where}: ${why}`, { field: where });
  const own = threadAffinity(process.pid);
  const allowed = expandCpuList(own);
  const outside = cpus.filter((c) => !allowed.includes(c));
  if (outside.length)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: expected CPUs this process may run on (${own}), got ${outside.join(', ')} outside them`,
      { field: where, got: [...cpus] },
    );
}

/** "0-2,5" → [0, 1, 2, 5]. */
export function expandCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

function threadId(): number {
  try {
    return currentThreadId();
  } catch {
    return 0;
  }
}
