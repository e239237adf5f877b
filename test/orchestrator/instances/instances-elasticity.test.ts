import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AllocatorStats } from '../../../src/memory/region-allocator.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { ContainerInstance } from '../../../src/orchestrator/instances/container-instance.js';

const MIB = 1 << 20;
const N = 1000;

function held(s: AllocatorStats): Omit<AllocatorStats, 'allocs' | 'frees' | 'failures'> {
  const { allocs: _a, frees: _f, failures: _x, ...rest } = s;
  return rest;
}

function threads(): number {
  return readdirSync('/proc/self/task').length;
}

describe('host.instances elasticity: 1,000 containers up and down, nothing leaked', () => {
  let host: Host;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 2048 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: 1200, timeoutMs: 120_000 },
      instances: { containerHost: { memoryMiB: 1100, capacity: 1024 } },
    });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('creates and starts 1,000 containers in a few batches, then stops and destroys them: accounting back to zero', async () => {
    // The container host comes up with the first container; the figures below are taken after it.
    const first = await host.instances.create({ kind: 'container', name: 'first' });
    await first.destroy();
    const agent0 = await host.vms.agentStats();
    const mem0 = held(host.memory.stats());
    const threads0 = threads();
    const states = new Map<string, string>();
    let events = 0;
    host.instances.on('instance.state', (e) => {
      states.set(e.instance, e.state);
      events++;
    });

    const cs = (await Promise.all(
      Array.from({ length: N }, (_, i) => host.instances.create({ kind: 'container', name: `ct-${i}` })),
    )) as ContainerInstance[];
    await Promise.all(cs.map((c) => c.start()));
    const up = await host.vms.agentStats();
    expect(cs.every((c) => c.state === 'running')).toBe(true);
    expect(await host.instances.containerStats()).toEqual({
      containers: N,
      memoryBytes: N * MIB,
      hostUp: true,
      networkStacks: 0,
      networkRoom: 0,
    });
    // Batched: 1,000 creates and 1,000 starts took a handful of requests, not 2,000.
    expect(up.requests - agent0.requests).toBeLessThanOrEqual(10);
    // No thread, no host memory region per container: they live inside the container host.
    expect(threads()).toBeLessThanOrEqual(threads0);
    expect(held(host.memory.stats())).toEqual(mem0);
    expect(up.pool).toEqual(agent0.pool);
    // Each quota is its own.
    const spans = cs.map((c) => [c.memory.gpa, c.memory.gpa + c.memory.bytes] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);

    await Promise.all(cs.map((c) => c.stop()));
    await Promise.all(cs.map((c) => c.destroy()));
    expect(await host.instances.containerStats()).toEqual({
      containers: 0,
      memoryBytes: 0,
      hostUp: true,
      networkStacks: 0,
      networkRoom: 0,
    });
    expect(host.instances.list()).toEqual([]);
    expect(events).toBe(4 * N);
    expect(states.size).toBe(N);
    expect([...states.values()].every((s) => s === 'destroyed')).toBe(true);
    const down = await host.vms.agentStats();
    expect(down.pool).toEqual(agent0.pool);
    expect(down.vcpuThreads).toBe(agent0.vcpuThreads);
    expect(held(host.memory.stats())).toEqual(mem0);

    // The container host itself goes too: the agent's pool and the bound vCPUs back to nothing.
    await host.vms.get('container-host')!.destroy();
    const empty = await host.vms.agentStats();
    expect(empty.vms).toBe(0);
    expect(empty.vcpuThreads).toBe(0);
    expect(empty.guestCpus.boundVcpus).toBe(0);
    expect(empty.pool.usedBytes).toBe(0);
  }, 300_000);
});

describe('container networking: a trunk sub-port of the container host port', () => {
  let host: Host;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: 128, timeoutMs: 60_000 },
      instances: { containerHost: { memoryMiB: 32, capacity: 16, port: 'ct-host-nic' } },
    });
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'hosts', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createSubnet({ name: 'ctr', vpc: 'blue', cidr: '198.19.10.0/24' });
    net.createPort({ name: 'ct-host-nic', subnet: 'hosts', ip: '198.19.1.10' });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('gives each networked container a sub-port on its own VLAN, and takes it away with the container', async () => {
    const a = (await host.instances.create({
      kind: 'container',
      name: 'web-a',
      network: { subnet: 'ctr', ip: '198.19.10.5' },
    })) as ContainerInstance;
    const b = (await host.instances.create({
      kind: 'container',
      name: 'web-b',
      network: { subnet: 'ctr', ip: '198.19.10.6' },
    })) as ContainerInstance;
    const subs = () => host.network.list().ports.filter((p) => p.kind === 'sub');
    expect(
      subs()
        .map((p) => [p.name, p.parent, p.ip])
        .sort(),
    ).toEqual([
      ['ct-web-a', 'ct-host-nic', '198.19.10.5'],
      ['ct-web-b', 'ct-host-nic', '198.19.10.6'],
    ]);
    expect(new Set(subs().map((p) => p.vlan)).size).toBe(2);
    expect(a.subPort!.vlan).not.toBe(b.subPort!.vlan);
    // Each has a stack in the container host's network area.
    const net0 = await host.instances.containerStats();
    expect(net0.networkStacks).toBe(2);
    expect(net0.networkRoom).toBeGreaterThan(0);
    // An address the subnet does not hold: refused by the network, no container made.
    await expect(
      host.instances.create({ kind: 'container', name: 'web-c', network: { subnet: 'ctr', ip: '198.19.11.6' } }),
    ).rejects.toMatchObject({ code: 'QT_INVALID_ARGUMENT' });
    expect(host.instances.get('web-c')).toBeUndefined();
    expect(subs()).toHaveLength(2);
    expect((await host.instances.containerStats()).networkStacks).toBe(2);
    await a.start();
    await a.destroy();
    await b.destroy();
    expect(subs()).toEqual([]);
    // Their stacks' room is back in the area.
    const net1 = await host.instances.containerStats();
    expect([net1.networkStacks, net1.networkRoom]).toEqual([0, net0.networkRoom + 2]);
  }, 60_000);
});
