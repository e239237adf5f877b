import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, oneOf } from '../../common/validate.js';

/**
 * The Zero scheduler's vCPU priority classes. A vCPU is a thread, so a class is what the OS gives
 * a thread: its scheduling priority (Linux nice, set on that thread alone) and, optionally, the
 * CPUs it may run on. Linux's fair scheduler lets a waking thread of a higher priority run ahead
 * of lower ones on its CPU: a latency-sensitive vCPU that wakes preempts normal and best-effort
 * ones sharing that CPU, and takes most of it when they compete. Nice orders threads within this
 * process's scheduling group only (with autogroup, its session): other sessions are not affected.
 *
 * - `latency-sensitive`: nice -5, above every other guest and the control plane (nice 0), below
 *   the DPU cores (nice -10): in the machine modelled the cores are hardware of their own, so a
 *   core keeps precedence where it shares a CPU with a guest; `Vm.placeDevice` moves a device's
 *   backend to a core off that guest's CPU.
 * - `normal`: the default of every vCPU; nice 10 under SCHED_IDLE.
 * - `best-effort`: nice 19 under SCHED_IDLE, runs on what the others leave.
 *
 * Normal and best-effort vCPUs run under Linux's SCHED_IDLE policy ({@link VCPU_CLASS_POLICY}):
 * in the machine modelled a guest never takes a CPU from a DPU core or the control plane, and a
 * nice value alone cannot promise that (the fair scheduler still gives a nice-10 thread a whole
 * time slice now and then on a core's CPU: a spinning guest then holds a core up for a slice).
 * A SCHED_IDLE thread is preempted as soon as any other thread wants its CPU, and the kernel
 * counts a CPU running only such threads as idle when it places a waking thread, so cores, the
 * control plane, latency-sensitive vCPUs and the machine's other work go there rather than to a
 * core's CPU. The price: under SCHED_IDLE the kernel gives every thread the same weight, so
 * normal and best-effort vCPUs on threads of their own share a CPU evenly between themselves;
 * inside a shared guest-CPU thread normal ones are stepped before best-effort ones.
 *
 * A raise above the process's priority needs root or CAP_SYS_NICE; when refused the vCPU keeps
 * the process's priority and its placement says so (`VcpuPlacement.refused`).
 */
export const VCPU_CLASSES = ['latency-sensitive', 'normal', 'best-effort'] as const;

/** A vCPU priority class (see {@link VCPU_CLASSES}). */
export type VcpuClass = (typeof VCPU_CLASSES)[number];

/** The thread priority (Linux nice) of each class. */
export const VCPU_CLASS_NICE: Readonly<Record<VcpuClass, number>> = {
  'latency-sensitive': -5,
  normal: 10,
  'best-effort': 19,
};

/** A Linux scheduling policy a vCPU thread runs under: the fair scheduler's normal or idle one. */
export type VcpuPolicy = 'other' | 'idle';

/** The scheduling policy of each class (see {@link VCPU_CLASSES}). */
export const VCPU_CLASS_POLICY: Readonly<Record<VcpuClass, VcpuPolicy>> = {
  'latency-sensitive': 'other',
  normal: 'idle',
  'best-effort': 'idle',
};

/** Where and how a vCPU runs, as its thread reports it (out of band). */
export interface VcpuPlacement {
  /** Its class, or null when placed by a raw nice value. */
  class: VcpuClass | null;
  /** The kernel thread id (Linux), 0 where unknown. */
  tid: number;
  /** The nice value asked for, null: the process's. */
  requested: number | null;
  /** The thread's nice value now. */
  nice: number;
  /** True when the asked priority was refused (no root or CAP_SYS_NICE). */
  refused: boolean;
  /** The CPUs it may run on (a taskset list such as "0" or "0-1"), or null where unknown. */
  cpus: string | null;
  /** The scheduling policy it runs under now (the kernel's account), null where unknown (not Linux). */
  policy: VcpuPolicy | null;
}

/** How a vCPU is to be scheduled: its class and, optionally, its CPUs. */
export interface VcpuSchedSpec {
  /** The priority class. Default 'normal'. */
  class?: VcpuClass | undefined;
  /** CPUs the vCPU may run on (distinct CPU numbers, 1–1024 of them). Default: the process's. */
  cpus?: number[] | undefined;
}

/** The CPU list of a spec: 1–1024 distinct CPU numbers 0–1023. */
export const cpuListSchema = z
  .array(intIn(0, 1023), { error: 'an array of CPU numbers' })
  .min(1, { error: 'at least one CPU' })
  .max(1024, { error: 'at most 1024 CPUs' })
  .refine((a) => new Set(a).size === a.length, { error: 'distinct CPU numbers' });

/** The schema of {@link VcpuSchedSpec} (strict: unknown keys are refused). */
export const vcpuSchedSchema = z.strictObject({
  class: oneOf(VCPU_CLASSES).optional(),
  cpus: cpuListSchema.optional(),
});

/** The nice value of a class; refuses a name that is not one. */
export function classNice(c: VcpuClass): number {
  const n = (VCPU_CLASS_NICE as Record<string, number | undefined>)[c];
  if (n === undefined)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `vCPU class: expected one of ${VCPU_CLASSES.join(', ')}, got ${JSON.stringify(c)}`,
      { field: 'class', got: c },
    );
  return n;
}
