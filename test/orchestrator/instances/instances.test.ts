import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host } from '../../../src/orchestrator/host.js';
import type { ContainerInstance } from '../../../src/orchestrator/instances/container-instance.js';
import type { InstanceStateEvent } from '../../../src/orchestrator/instances/instance.js';
import type { InstanceSpec } from '../../../src/orchestrator/instances/instance-spec.js';
import type { VmInstance } from '../../../src/orchestrator/instances/vm-instance.js';

const MIB = 1 << 20;

describe('host.instances: one API and lifecycle for VMs, containers and bare metal', () => {
  let host: Host;
  const events: InstanceStateEvent[] = [];

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: 256, timeoutMs: 60_000, guestCpus: 2 },
      instances: { containerHost: { vcpus: 2, memoryMiB: 64, capacity: 64 } },
    });
    host.instances.on('instance.state', (e) => events.push(e));
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('takes a container through every transition, with the same events as a VM', async () => {
    const c = await host.instances.create({ kind: 'container', name: 'ct-life', cpuShare: 8, memoryMiB: 2 });
    const vm = await host.instances.create({ kind: 'vm', name: 'vm-life', vcpus: 1, memoryMiB: 16 });
    expect(host.vms.get('vm-life')).toBe((vm as VmInstance).vm);
    for (const i of [c, vm]) {
      expect(i.state).toBe('defined');
      await i.start();
      await i.pause();
      await i.resume();
      await i.stop();
      await i.start();
      await i.shutdown(i.kind === 'vm' ? { mode: 'acpi', timeoutMs: 10_000 } : undefined);
      expect(i.state).toBe('shutoff');
      await i.destroy();
      expect(i.state).toBe('destroyed');
    }
    const seq = (name: string) => events.filter((e) => e.instance === name).map((e) => [e.previous, e.state]);
    const expected = [
      ['none', 'defined'],
      ['defined', 'running'],
      ['running', 'paused'],
      ['paused', 'running'],
      ['running', 'shutoff'],
      ['shutoff', 'running'],
      ['running', 'shutoff'],
      ['shutoff', 'destroyed'],
    ];
    expect(seq('ct-life')).toEqual(expected);
    expect(seq('vm-life')).toEqual(expected);
    expect(events.filter((e) => e.instance === 'ct-life').every((e) => e.kind === 'container')).toBe(true);
    expect(host.instances.list()).toEqual([]);
  }, 60_000);

  it('refuses illegal transitions and bad specs naming the field, and changes nothing', async () => {
    const c = await host.instances.create({ kind: 'container', name: 'ct-refuse' });
    await expect(c.pause()).rejects.toMatchObject({ code: 'QT_INVALID_STATE' });
    await expect(c.stop()).rejects.toMatchObject({ code: 'QT_INVALID_STATE' });
    expect(() => c.shutdown({ timeoutMs: 5 })).toThrow(expect.objectContaining({ code: 'QT_INVALID_ARGUMENT' }));
    expect(c.state).toBe('defined');
    const before = await host.instances.containerStats();
    const bad: [unknown, string][] = [
      [{ kind: 'container', name: 'x', cpuShare: 0 }, 'cpuShare'],
      [{ kind: 'container', name: 'x', memoryMiB: 5000 }, 'memoryMiB'],
      [{ kind: 'container', name: 'x', task: 'spin' }, 'task'],
      [{ kind: 'container', name: 'x', extra: 1 }, 'extra'],
      [{ kind: 'pod', name: 'x' }, 'kind'],
      [{ kind: 'container', name: 'ct-refuse' }, 'name'],
      [{ kind: 'vm', name: 'ct-refuse', vcpus: 1, memoryMiB: 16 }, 'name'],
      [{ kind: 'container', name: 'x', network: { subnet: 's', ip: '198.18.0.5' } }, 'network'],
      [{ kind: 'bare-metal', name: 'x', memoryMiB: 16, vcpus: 2 }, 'vcpus'],
      [{ kind: 'vm', name: 'x', vcpus: 1, memoryMiB: 16, vcpuPlacement: 'pinned' }, 'vcpuPlacement'],
    ];
    for (const [spec, field] of bad) {
      const e = await host.instances.create(spec as InstanceSpec).then(
        () => null,
        (x: unknown) => x as { code: string; message: string },
      );
      expect(e, field).not.toBeNull();
      expect(e!.code).toBe('QT_INVALID_ARGUMENT');
      expect(e!.message).toContain(field);
    }
    // A quota the container host cannot hold: refused, nothing taken.
    await expect(host.instances.create({ kind: 'container', name: 'big', memoryMiB: 4096 })).rejects.toMatchObject({
      code: 'QT_OUT_OF_MEMORY',
    });
    expect(await host.instances.containerStats()).toEqual(before);
    expect(host.instances.list().map((i) => i.name)).toEqual(['ct-refuse']);
    await c.destroy();
  }, 60_000);

  it('gives each container its CPU share and a memory quota of its own, scrubbed when it goes', async () => {
    const a = (await host.instances.create({
      kind: 'container',
      name: 'ct-a',
      cpuShare: 1,
      memoryMiB: 1,
      task: 'busy',
    })) as ContainerInstance;
    const b = (await host.instances.create({
      kind: 'container',
      name: 'ct-b',
      cpuShare: 5,
      memoryMiB: 3,
      task: 'busy',
    })) as ContainerInstance;
    expect(a.memory.bytes).toBe(MIB);
    expect(b.memory.bytes).toBe(3 * MIB);
    const [lo, hi] = a.memory.gpa < b.memory.gpa ? [a, b] : [b, a];
    expect(lo.memory.gpa + lo.memory.bytes).toBeLessThanOrEqual(hi.memory.gpa);
    await Promise.all([a.start(), b.start()]);
    while ((await a.stats()).rounds < 20 || (await b.stats()).rounds < 20) await new Promise((r) => setTimeout(r, 10));
    // Paused (the change acknowledged by the host's vCPUs): no unit runs any more.
    await Promise.all([a.pause(), b.pause()]);
    const sa = await a.stats();
    const sb = await b.stats();
    expect(sa.units).toBe(sa.rounds * 1);
    expect(sb.units).toBe(sb.rounds * 5);
    await new Promise((r) => setTimeout(r, 50));
    expect((await a.stats()).units).toBe(sa.units);
    // The busy task wrote into its quota; destroy scrubs it.
    const ct = host.vms.get('container-host')!;
    const ram = host.memory.u8.subarray(ct.ramBase + b.memory.gpa, ct.ramBase + b.memory.gpa + b.memory.bytes);
    expect(ram.some((x) => x !== 0)).toBe(true);
    await Promise.all([a.destroy(), b.destroy()]);
    expect(ram.every((x) => x === 0)).toBe(true);
  }, 60_000);

  it('shuts a container host’s containers off with it, with reason host-shutoff', async () => {
    const c = await host.instances.create({ kind: 'container', name: 'ct-host-off' });
    await c.start();
    const ct = host.vms.get('container-host')!;
    await ct.stop();
    expect(c.state).toBe('shutoff');
    expect(events.at(-1)).toMatchObject({ instance: 'ct-host-off', state: 'shutoff', reason: 'host-shutoff' });
    await expect(c.start()).rejects.toMatchObject({ code: 'QT_INVALID_STATE' });
    expect(c.state).toBe('shutoff');
    await ct.start();
    await c.start();
    expect(c.state).toBe('running');
    await c.destroy();
  }, 60_000);

  it('gives a bare-metal instance every guest CPU, and nothing else runs beside it', async () => {
    // The container host is a VM: bare metal needs a host without one. Its containers go with it.
    const doomed = await host.instances.create({ kind: 'container', name: 'doomed' });
    await doomed.start();
    await host.vms.get('container-host')!.destroy();
    expect(doomed.state).toBe('destroyed');
    expect(events.at(-1)).toMatchObject({ instance: 'doomed', previous: 'running', reason: 'host-destroyed' });
    expect(host.instances.get('doomed')).toBeUndefined();
    await expect(doomed.start()).rejects.toMatchObject({ code: 'QT_INVALID_STATE' });
    const stats0 = await host.vms.agentStats();
    const bm = (await host.instances.create({ kind: 'bare-metal', name: 'metal', memoryMiB: 16 })) as VmInstance;
    expect(bm.kind).toBe('bare-metal');
    expect(bm.vcpus).toBe(2);
    for (const spec of [
      { kind: 'vm', name: 'beside', vcpus: 1, memoryMiB: 16 },
      { kind: 'container', name: 'beside' },
      { kind: 'bare-metal', name: 'beside', memoryMiB: 16 },
    ] as InstanceSpec[])
      await expect(host.instances.create(spec)).rejects.toMatchObject({
        code: 'QT_INVALID_ARGUMENT',
        details: { field: 'kind' },
      });
    await bm.start();
    const up = await host.vms.agentStats();
    expect(up.guestCpus).toEqual({ threads: 2, boundVcpus: 2 });
    expect(up.vcpuThreads).toBe(2);
    await bm.pause();
    await bm.resume();
    await bm.destroy();
    const down = await host.vms.agentStats();
    expect(down.guestCpus.boundVcpus).toBe(0);
    expect(down.pool).toEqual(stats0.pool);
    // A VM beside another VM refuses bare metal, naming kind.
    const vm = await host.instances.create({ kind: 'vm', name: 'alone', vcpus: 1, memoryMiB: 16 });
    await expect(host.instances.create({ kind: 'bare-metal', name: 'm2', memoryMiB: 16 })).rejects.toMatchObject({
      details: { field: 'kind' },
    });
    await vm.destroy();
    // The next container brings a new container host up.
    const again = await host.instances.create({ kind: 'container', name: 'again' });
    await again.start();
    expect(host.vms.get('container-host')!.state).toBe('running');
    await again.destroy();
  }, 60_000);
});
