import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AllocatorStats } from '../../../src/memory/region-allocator.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { Vm } from '../../../src/orchestrator/vms/vm.js';

const MIB = 1 << 20;
const VMS = 100;

function held(s: AllocatorStats): Omit<AllocatorStats, 'allocs' | 'frees' | 'failures'> {
  const { allocs: _a, frees: _f, failures: _x, ...rest } = s;
  return rest;
}

/** OS threads of this process (worker threads included). */
function threads(): number {
  return readdirSync('/proc/self/task').length;
}

describe('host.vms elasticity: 100 VMs of 16 MiB up and down, nothing leaked', () => {
  let host: Host;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 2048 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: VMS * 16 + 64, timeoutMs: 120_000 },
    });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('creates and starts 100 VMs, stops and destroys them: regions, pool, vCPU threads and OS threads back', async () => {
    const agent0 = await host.vms.agentStats();
    const mem0 = held(host.memory.stats());
    const threads0 = threads();
    const states = new Map<string, string>();
    host.vms.on('vm.state', (e) => states.set(e.vm, e.state));

    const vms: Vm[] = await Promise.all(
      Array.from({ length: VMS }, (_, i) => host.vms.create({ name: `elastic-${i}`, vcpus: 1, memoryMiB: 16 })),
    );
    await Promise.all(vms.map((vm) => vm.start()));
    const up = await host.vms.agentStats();
    expect(up.vms).toBe(VMS);
    expect(up.vcpuThreads).toBe(VMS);
    expect(up.pool.usedBytes).toBeGreaterThanOrEqual(VMS * 16 * MIB);
    expect(vms.every((vm) => vm.state === 'running')).toBe(true);
    // Their vCPUs are bound to the agent's guest CPUs: no thread was started for them.
    expect(up.guestCpus.boundVcpus).toBe(VMS);
    expect(threads()).toBeLessThanOrEqual(threads0);
    // Each VM's RAM is its own: no two overlap.
    const spans = vms.map((vm) => [vm.ramBase, vm.ramBase + vm.memoryBytes] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);

    await Promise.all(vms.map((vm) => vm.stop()));
    expect((await host.vms.agentStats()).vcpuThreads).toBe(0);
    await Promise.all(vms.map((vm) => vm.destroy()));

    const down = await host.vms.agentStats();
    expect(down.vms).toBe(0);
    expect(down.vcpuThreads).toBe(0);
    expect(down.guestCpus.boundVcpus).toBe(0);
    expect(down.pool).toEqual(agent0.pool);
    expect(held(host.memory.stats())).toEqual(mem0);
    expect(host.vms.list()).toEqual([]);
    expect([...states.values()].every((s) => s === 'destroyed')).toBe(true);
    expect(states.size).toBe(VMS);
    // Terminated worker threads leave the process a moment after their exit event.
    for (let i = 0; i < 200 && threads() > threads0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(threads()).toBeLessThanOrEqual(threads0);
  }, 300_000);
});

describe('host.vms with dedicated vCPU threads kept between VMs (keepVcpus)', () => {
  let host: Host;
  const N = 20;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: N * 16 + 16, timeoutMs: 120_000, keepVcpus: N },
    });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('warm threads serve VMs without new threads, and come back when the VMs go', async () => {
    expect(await host.vms.warm(N)).toBe(N);
    expect(await host.vms.warm(N + 5)).toBe(N); // never more than keepVcpus wait
    const threads0 = threads();
    const vms = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        host.vms.create({ name: `warm-${i}`, vcpus: 1, memoryMiB: 16, vcpuPlacement: 'dedicated' }),
      ),
    );
    await Promise.all(vms.map((vm) => vm.start()));
    let s = await host.vms.agentStats();
    expect(s.vcpuThreads).toBe(N);
    expect(s.idleVcpuThreads).toBe(0);
    expect(threads()).toBeLessThanOrEqual(threads0); // no thread was started for them
    // A stop and a start again reuse the same threads.
    await vms[0]!.stop();
    expect((await host.vms.agentStats()).idleVcpuThreads).toBe(1);
    await vms[0]!.start();
    expect((await host.vms.agentStats()).idleVcpuThreads).toBe(0);
    await Promise.all(vms.map((vm) => vm.destroy()));
    s = await host.vms.agentStats();
    expect(s.vcpuThreads).toBe(0);
    expect(s.idleVcpuThreads).toBe(N);
    expect(s.pool.usedBytes).toBe(0);
    expect(threads()).toBeLessThanOrEqual(threads0);
  }, 300_000);
});
