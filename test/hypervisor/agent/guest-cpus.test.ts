import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host } from '../../../src/orchestrator/host.js';
import { VCPU_CLASS_NICE } from '../../../src/hypervisor/sched/vcpu-class.js';

const MIB = 1 << 20;

function threads(): number {
  return readdirSync('/proc/self/task').length;
}

/** [tid, nice, policy] of every thread of this process by the kernel's account (stat fields 19, 41). */
function schedOfThreads(): [number, number, number][] {
  return readdirSync('/proc/self/task').flatMap((t) => {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return [[Number(t), Number(f[16]), Number(f[38])] as [number, number, number]];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

describe('guest CPUs: vCPUs of several VMs bound to one thread', () => {
  let host: Host;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 256 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: 128, timeoutMs: 30_000, guestCpus: 1 },
    });
    await host.vms.agentStats();
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('runs, parks and stops each VM on its own while they share the thread', async () => {
    const threads0 = threads();
    const [a, b] = await Promise.all([
      host.vms.create({ name: 'share-a', vcpus: 2, memoryMiB: 16 }),
      host.vms.create({ name: 'share-b', vcpus: 1, memoryMiB: 16 }),
    ]);
    await Promise.all([a.start(), b.start()]);
    expect((await host.vms.agentStats()).guestCpus).toEqual({ threads: 1, boundVcpus: 3 });
    expect(threads()).toBeLessThanOrEqual(threads0);
    // The shared thread runs as a normal vCPU: nice 10 under SCHED_IDLE (5), the only such thread here.
    if (process.platform === 'linux') {
      const idle = schedOfThreads().filter(([, , policy]) => policy === 5);
      expect(idle.map(([, nice]) => nice)).toEqual([VCPU_CLASS_NICE.normal]);
    }
    const client = (await host.vms.hostAgent()).client;
    const ticks = async (id: number) => (await client.vmStats(id)).vcpus[0]!.ticks;
    await a.pause();
    expect((await client.vmStats(a.id)).vcpus.every((v) => v.state === 'parked')).toBe(true);
    const pausedAt = await ticks(a.id);
    const bAt = await ticks(b.id);
    // b's vCPU goes on (its CPU looks at it at least every poll interval); a's stays parked.
    for (let i = 0; i < 500 && (await ticks(b.id)) === bAt; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await ticks(b.id)).toBeGreaterThan(bAt);
    expect(await ticks(a.id)).toBe(pausedAt);
    await a.resume();
    await b.stop();
    expect((await host.vms.agentStats()).guestCpus.boundVcpus).toBe(2);
    expect(a.state).toBe('running');
    // A graceful shutdown on a shared CPU: the power button is seen, every vCPU halts.
    await a.shutdown({ mode: 'acpi', timeoutMs: 10_000 });
    expect((await host.vms.agentStats()).guestCpus.boundVcpus).toBe(0);
    await Promise.all([a.destroy(), b.destroy()]);
  }, 60_000);

  it('keeps a dedicated VM on threads of its own beside shared ones', async () => {
    const threads0 = threads();
    const d = await host.vms.create({ name: 'own', vcpus: 2, memoryMiB: 16, vcpuPlacement: 'dedicated' });
    const s = await host.vms.create({ name: 'shared', vcpus: 1, memoryMiB: 16 });
    await Promise.all([d.start(), s.start()]);
    const st = await host.vms.agentStats();
    expect(st.vcpuThreads).toBe(3);
    expect(st.guestCpus.boundVcpus).toBe(1);
    expect(threads()).toBeGreaterThanOrEqual(threads0 + 2);
    await Promise.all([d.destroy(), s.destroy()]);
    expect((await host.vms.agentStats()).vcpuThreads).toBe(0);
  }, 60_000);
});
