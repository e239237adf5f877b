import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { affinityUnsupported } from '../../../src/dpu/core/cpu-affinity.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import {
  classNice,
  VCPU_CLASS_NICE,
  VCPU_CLASS_POLICY,
  VCPU_CLASSES,
  type VcpuClass,
} from '../../../src/hypervisor/sched/vcpu-class.js';
import { expandCpuList } from '../../../src/hypervisor/sched/vcpu-thread.js';
import { HostMemory } from '../../../src/memory/host-memory.js';

const MIB = 1 << 20;

/** Nice value of one thread of this process, read by the kernel's account (/proc, field 19 of stat). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Scheduling policy of one thread of this process by the kernel's account (field 41 of stat). */
function policyOf(tid: number): string {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
  return p === 5 ? 'idle' : p === 0 ? 'other' : `policy ${p}`;
}

function refused(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('accepted');
}

/** Can this process raise a thread's priority (root or CAP_SYS_NICE)? */
const canRaise = process.getuid?.() === 0;
const linux = existsSync('/proc/self/task');

describe('vCPU priority classes', () => {
  it('orders the classes: latency-sensitive above normal above best-effort', () => {
    expect([...VCPU_CLASSES]).toEqual(['latency-sensitive', 'normal', 'best-effort']);
    expect(classNice('latency-sensitive')).toBeLessThan(classNice('normal'));
    expect(classNice('normal')).toBeLessThan(classNice('best-effort'));
    refused(
      () => classNice('realtime' as VcpuClass),
      /vCPU class: expected one of latency-sensitive, normal, best-effort, got "realtime"/,
    );
  });

  it('refuses bad classes and CPU lists at the boundary, naming the field', () => {
    const memory = new HostMemory({ sizeBytes: 16 * MIB });
    refused(
      () => new GuestVcpu(memory, 'v', { class: 'urgent' as VcpuClass }),
      /GuestVcpu v options\.class: expected one of 'latency-sensitive', 'normal', 'best-effort', got "urgent"/,
    );
    refused(() => new GuestVcpu(memory, 'v', { class: 'normal', nice: 3 }), /give class or nice, not both/);
    refused(() => new GuestVcpu(memory, 'v', { cpus: [] }), /options\.cpus: expected at least one CPU/);
    refused(() => new GuestVcpu(memory, 'v', { cpus: [0, 0] }), /options\.cpus: expected distinct CPU numbers/);
    refused(() => new GuestVcpu(memory, 'v', { cpus: [1024] }), /options\.cpus\.0: expected/);
    if (!affinityUnsupported()) refused(() => new GuestVcpu(memory, 'v', { cpus: [1023] }), /outside them/);
  });

  it.skipIf(!linux || affinityUnsupported() !== null)(
    'gives each vCPU thread, and only it, its class priority and CPUs; place() changes them on the thread',
    async () => {
      const memory = new HostMemory({ sizeBytes: 16 * MIB });
      const cpu = expandCpuList(readFileSync('/proc/self/status', 'utf8').match(/Cpus_allowed_list:\s*(\S+)/)![1]!)[0]!;
      const be = new GuestVcpu(memory, 'be', { class: 'best-effort', cpus: [cpu] });
      const ls = new GuestVcpu(memory, 'ls', { class: 'latency-sensitive' });
      try {
        const p = await be.placement();
        expect(p.class).toBe('best-effort');
        expect(p.nice).toBe(VCPU_CLASS_NICE['best-effort']);
        expect(p.refused).toBe(false);
        expect(p.cpus).toBe(String(cpu));
        expect(niceOf(p.tid)).toBe(19);
        expect(p.policy).toBe('idle');
        expect(policyOf(p.tid)).toBe('idle');
        expect(p.tid).not.toBe(process.pid);
        const q = await ls.placement();
        expect(q.policy).toBe('other');
        expect(policyOf(q.tid)).toBe('other');
        if (canRaise) {
          expect(q.nice).toBe(VCPU_CLASS_NICE['latency-sensitive']);
          expect(niceOf(q.tid)).toBe(-5);
        } else {
          // Refused raise: said so, and the thread keeps the process's priority.
          expect(q.refused).toBe(true);
        }
        // The main thread is untouched (someone outside may renice it, but never to a class's raise).
        if (canRaise) expect(niceOf(process.pid)).not.toBe(VCPU_CLASS_NICE['latency-sensitive']);
        // A pooled thread given to another VM: re-placed on its own thread.
        const moved = await be.place({ class: 'normal' });
        expect(moved.class).toBe('normal');
        expect(niceOf(moved.tid)).toBe(VCPU_CLASS_NICE.normal);
        expect(policyOf(moved.tid)).toBe(VCPU_CLASS_POLICY.normal);
        // Back to the normal policy: the nice value is the class's, not what SCHED_IDLE left.
        const up = await be.place({ class: 'latency-sensitive' });
        expect(policyOf(up.tid)).toBe('other');
        if (canRaise) expect(niceOf(up.tid)).toBe(VCPU_CLASS_NICE['latency-sensitive']);
        // A vCPU given neither class nor nice is a normal one, policy included.
        const plain = new GuestVcpu(memory, 'plain');
        try {
          const pp = await plain.placement();
          expect(pp.class).toBe('normal');
          expect(policyOf(pp.tid)).toBe(VCPU_CLASS_POLICY.normal);
          expect(niceOf(pp.tid)).toBe(VCPU_CLASS_NICE.normal);
        } finally {
          await plain.stop();
        }
        expect(moved.cpus).toBe(String(cpu)); // CPUs kept when not given
        await expect(be.place({ class: 'normal', cpus: [cpu, cpu] })).rejects.toThrow(/distinct CPU numbers/);
      } finally {
        await be.stop();
        await ls.stop();
      }
    },
  );
});
