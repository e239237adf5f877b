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
import { execFileSync } from 'node:child_process';
import { VCPU_CLASS_POLICY, type VcpuClass, type VcpuPlacement, type VcpuPolicy } from './vcpu-class.js';

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
  const tid = threadId();
  // The class's policy first (a thread moved back from SCHED_IDLE keeps its nice value).
  if (cls !== null && tid > 0 && !setPolicy(tid, VCPU_CLASS_POLICY[cls])) refused = true;
  if (nice !== null) {
    try {
      setPriority(nice);
    } catch {
      refused = true;
    }
  }
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
    policy: null,
  });
}

/**
 * Puts one thread under a scheduling policy (chrt, util-linux: Node has no sched_setscheduler).
 * False when it could not (no chrt, not Linux, not permitted).
 */
export function setPolicy(tid: number, policy: VcpuPolicy): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('chrt', [policy === 'idle' ? '-i' : '-o', '-p', '0', String(tid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The scheduling policy a thread of this process runs under (field 41 of its stat), or null. */
export function policyOf(tid: number): VcpuPolicy | null {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    const policy = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
    return policy === 5 ? 'idle' : policy === 0 ? 'other' : null;
  } catch {
    return null;
  }
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
  const policy = p.tid > 0 ? policyOf(p.tid) : null;
  if (p.tid > 0) {
    try {
      // The kernel's own account, without starting a process (VMs start many vCPUs).
      const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/self/task/${p.tid}/status`, 'latin1'));
      if (m) cpus = m[1]!;
    } catch {
      // not Linux: unknown
    }
  }
  return { ...p, nice, cpus, policy };
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
