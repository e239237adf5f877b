import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QingtianError } from '../../../src/common/errors.js';
import { affinityUnsupported } from '../../../src/dpu/core/cpu-affinity.js';
import { VCPU_CLASS_NICE, type VcpuClass } from '../../../src/hypervisor/sched/vcpu-class.js';
import { Host } from '../../../src/orchestrator/host.js';

const MIB = 1 << 20;

/** Scheduling policy of one thread of this process by the kernel's account (field 41 of stat). */
function policyOf(tid: number): string {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
  return p === 5 ? 'idle' : p === 0 ? 'other' : `policy ${p}`;
}

function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

async function refused(p: () => Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await p();
  } catch (e) {
    expect(e).toBeInstanceOf(QingtianError);
    expect((e as QingtianError).code).toBe('QT_INVALID_ARGUMENT');
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a refusal');
}

const pinning = existsSync('/proc/self/task') && affinityUnsupported() === null;

describe('host.vms: vCPU priority classes', () => {
  let host: Host;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 256 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: 32 },
    });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('refuses bad classes and CPU lists in the spec, naming the field, creating nothing', async () => {
    const spec = { name: 'bad', vcpus: 1, memoryMiB: 1 };
    await refused(
      () => host.vms.create({ ...spec, vcpuClass: 'realtime' as VcpuClass }),
      /vm spec\.vcpuClass: expected one of 'latency-sensitive', 'normal', 'best-effort', got "realtime"/,
    );
    await refused(() => host.vms.create({ ...spec, cpus: [] }), /vm spec\.cpus: expected at least one CPU/);
    await refused(() => host.vms.create({ ...spec, cpus: [1, 1] }), /vm spec\.cpus: expected distinct CPU numbers/);
    if (pinning)
      await refused(
        () => host.vms.create({ ...spec, cpus: [1000] }),
        /vm spec\.cpus: expected CPUs this process may run on/,
      );
    expect(host.vms.list()).toEqual([]);
  });

  it('refuses a class or CPU list on shared vCPUs, naming the field; takes normal there', async () => {
    const spec = { name: 'sh', vcpus: 1, memoryMiB: 1, vcpuPlacement: 'shared' as const };
    await refused(
      () => host.vms.create({ ...spec, vcpuClass: 'latency-sensitive' }),
      /vm spec\.vcpuClass: expected no vCPU class but 'normal' with vcpuPlacement 'shared'.*got "latency-sensitive"/,
    );
    await refused(
      () => host.vms.create({ ...spec, cpus: [0] }),
      /vm spec\.cpus: expected no CPU list with vcpuPlacement 'shared'.*got \[0\]/,
    );
    expect(host.vms.list()).toEqual([]);
    const vm = await host.vms.create({ ...spec, vcpuClass: 'normal' });
    try {
      await vm.start();
      expect((await host.vms.agentStats()).guestCpus.boundVcpus).toBe(1);
      expect(await vm.vcpuPlacements()).toEqual([]);
    } finally {
      await vm.destroy();
    }
  });

  it.skipIf(!pinning)(
    'starts every vCPU thread with its class priority and CPUs; a VM without a class reports none',
    async () => {
      const ls = await host.vms.create({
        name: 'ls',
        vcpus: 2,
        memoryMiB: 1,
        vcpuClass: 'latency-sensitive',
        cpus: [0],
      });
      const be = await host.vms.create({ name: 'be', vcpus: 1, memoryMiB: 1, vcpuClass: 'best-effort' });
      const plain = await host.vms.create({ name: 'plain', vcpus: 1, memoryMiB: 1 });
      try {
        expect(await ls.vcpuPlacements()).toEqual([]); // not started yet
        await Promise.all([ls.start(), be.start(), plain.start()]);
        // A class or CPU list makes a VM's vCPUs dedicated; the plain VM's is bound to a guest CPU.
        const st = await host.vms.agentStats();
        expect(st.guestCpus.boundVcpus).toBe(1);
        expect(st.vcpuThreads).toBe(4);
        const lp = await ls.vcpuPlacements();
        expect(lp).toHaveLength(2);
        for (const p of lp) {
          expect(p.class).toBe('latency-sensitive');
          expect(p.cpus).toBe('0');
          expect(p.requested).toBe(VCPU_CLASS_NICE['latency-sensitive']);
          // The kernel's account of that thread agrees with what it reported.
          expect(niceOf(p.tid)).toBe(p.nice);
          if (!p.refused) expect(p.nice).toBe(-5);
          expect(p.policy).toBe('other');
          expect(policyOf(p.tid)).toBe('other');
        }
        const [bp] = await be.vcpuPlacements();
        expect(bp!.class).toBe('best-effort');
        expect(niceOf(bp!.tid)).toBe(19);
        // Below every DPU core and the control plane: the idle policy, as the kernel reports it.
        expect(bp!.policy).toBe('idle');
        expect(policyOf(bp!.tid)).toBe('idle');
        expect(await plain.vcpuPlacements()).toEqual([]);
        await ls.stop();
        await refused(
          () => ls.placeDevice('x', { core: 0 }),
          /vm\.placeDevice id: expected a device of ls that can be placed \(none/,
        );
      } finally {
        await Promise.all([ls.destroy(), be.destroy(), plain.destroy()]);
      }
    },
  );
});
