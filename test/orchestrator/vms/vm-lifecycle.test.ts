import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, QingtianError } from '../../../src/common/errors.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { AllocatorStats } from '../../../src/memory/region-allocator.js';
import type { VmStateEvent } from '../../../src/orchestrator/vms/vm.js';

const MIB = 1 << 20;

/** Allocator figures without the running totals (allocs, frees, failures). */
function held(s: AllocatorStats): Omit<AllocatorStats, 'allocs' | 'frees' | 'failures'> {
  const { allocs: _a, frees: _f, failures: _x, ...rest } = s;
  return rest;
}

async function refused(p: Promise<unknown> | (() => unknown), code: string): Promise<QingtianError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(QingtianError);
    expect((e as QingtianError).code).toBe(code);
    return e as QingtianError;
  }
  throw new Error('expected a refusal');
}

describe('host.vms: VM lifecycle through the host agent', () => {
  let host: Host;
  const events: VmStateEvent[] = [];
  const of = (name: string): string[] => events.filter((e) => e.vm === name).map((e) => `${e.state}:${e.reason}`);

  beforeAll(async () => {
    // Control traffic is sparse: a core that sleeps between requests leaves the CPUs to the two ends.
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 1, mode: 'interrupt' },
      vms: { poolMiB: 128 },
    });
    host.vms.on('vm.state', (e) => events.push(e));
  });
  afterAll(async () => {
    await host.shutdown();
  });

  it('defined -> running <-> paused -> shutoff -> running -> destroyed, an event for every transition', async () => {
    const vm = await host.vms.create({ name: 'plain', vcpus: 2, memoryMiB: 4 });
    expect(vm.state).toBe('defined');
    expect(host.vms.get('plain')).toBe(vm);
    await vm.start();
    expect(vm.state).toBe('running');
    expect((await host.vms.agentStats()).vcpuThreads).toBe(2);
    await vm.pause();
    expect(vm.state).toBe('paused');
    await vm.resume();
    await vm.stop();
    expect(vm.state).toBe('shutoff');
    expect((await host.vms.agentStats()).vcpuThreads).toBe(0);
    await vm.start();
    await vm.shutdown({ timeoutMs: 5000 }); // no guest agent: the power button, acknowledged by the halting vCPUs
    expect(vm.state).toBe('shutoff');
    await vm.destroy();
    expect(vm.state).toBe('destroyed');
    expect(host.vms.get('plain')).toBeUndefined();
    expect(of('plain')).toEqual([
      'defined:vm.create',
      'running:vm.start',
      'paused:vm.pause',
      'running:vm.resume',
      'shutoff:vm.stop',
      'running:vm.start',
      'shutoff:vm.shutdown',
      'destroyed:vm.destroy',
    ]);
  });

  it('a VM with a vsock device: the guest agent answers, acknowledges shutdown, and reboot boots it afresh', async () => {
    const vm = await host.vms.create({
      name: 'agent-vm',
      vcpus: 2,
      memoryMiB: 4,
      devices: [{ kind: 'vsock', cid: 40 }],
    });
    expect(vm.devices).toEqual([{ id: 'vsock0', kind: 'vsock' }]);
    await vm.start();
    const info = await vm.guestInfo({ timeoutMs: 5000 });
    expect(info.vcpu).toBe(0);
    expect(info.polls).toBeGreaterThan(0n);
    await vm.reboot({ timeoutMs: 5000 });
    expect(vm.state).toBe('running');
    // A fresh guest agent after the reboot: its request count started over.
    expect((await vm.guestInfo({ timeoutMs: 5000 })).requests).toBe(1n);
    await vm.shutdown({ timeoutMs: 5000 });
    expect(vm.state).toBe('shutoff');
    expect((await host.vms.agentStats()).vcpuThreads).toBe(0);
    // The ACPI way works too (vCPU 0 runs the agent and still obeys the power button).
    await vm.start();
    await vm.shutdown({ timeoutMs: 5000, mode: 'acpi' });
    await vm.destroy();
    expect(of('agent-vm')).toEqual([
      'defined:vm.create',
      'running:vm.start',
      'shutoff:guest-halt',
      'running:vm.start',
      'shutoff:guest-halt',
      'running:vm.start',
      'shutoff:vm.shutdown',
      'destroyed:vm.destroy',
    ]);
  });

  it('refuses illegal transitions with QT_INVALID_STATE and changes nothing', async () => {
    const vm = await host.vms.create({ name: 'strict', vcpus: 1, memoryMiB: 2 });
    const before = events.length;
    for (const op of [() => vm.pause(), () => vm.resume(), () => vm.stop(), () => vm.shutdown()]) {
      const e = await refused(op(), ErrorCode.InvalidState);
      expect(e.message).toMatch(/is defined/);
    }
    // Bad options are refused before the state is looked at, naming the field.
    const agentless = await refused(() => vm.shutdown({ mode: 'agent' }), ErrorCode.InvalidArgument);
    expect(agentless.details['field']).toBe('mode');
    expect((await refused(() => vm.shutdown({ timeoutMs: 0 }), ErrorCode.InvalidArgument)).message).toContain(
      'vm.shutdown options.timeoutMs',
    );
    await vm.start();
    await refused(vm.start(), ErrorCode.InvalidState);
    await refused(vm.resume(), ErrorCode.InvalidState);
    await vm.pause();
    await refused(vm.pause(), ErrorCode.InvalidState);
    await refused(vm.shutdown(), ErrorCode.InvalidState);
    await refused(vm.guestInfo(), ErrorCode.InvalidState);
    expect(vm.state).toBe('paused');
    await vm.destroy();
    await refused(vm.start(), ErrorCode.InvalidState);
    await refused(vm.destroy(), ErrorCode.InvalidState);
    expect(
      events
        .slice(before)
        .filter((e) => e.vm === 'strict')
        .map((e) => e.state),
    ).toEqual(['running', 'paused', 'destroyed']);
  });

  it('refuses bad specs naming the field, and a refusal changes nothing', async () => {
    await host.vms.agentStats(); // the agent is up: its boot is not part of what is compared
    const mem = host.memory.stats();
    const pool = (await host.vms.agentStats()).pool;
    const bad: [unknown, string][] = [
      [{ name: '', vcpus: 1, memoryMiB: 1 }, 'name'],
      [{ name: 'x y', vcpus: 1, memoryMiB: 1 }, 'name'],
      [{ name: 'a', vcpus: 0, memoryMiB: 1 }, 'vcpus'],
      [{ name: 'a', vcpus: 65, memoryMiB: 1 }, 'vcpus'],
      [{ name: 'a', vcpus: 1, memoryMiB: 0 }, 'memoryMiB'],
      [{ name: 'a', vcpus: 1, memoryMiB: 1.5 }, 'memoryMiB'],
      [{ name: 'a', vcpus: 1, memoryMiB: 1, colour: 'red' }, ''],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'gpu' }] }, 'devices.0.kind'],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'net' }] }, 'devices.0.port'],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'net', port: 'nowhere' }] }, 'devices.0.port'],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'blk', backend: 'ram' }] }, 'devices.0.capacityMiB'],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'vsock', cid: 2 }] }, 'devices.0.cid'],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'vsock', cid: 3 }] }, 'devices.0.cid'],
      [{ name: 'a', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'vsock', cid: 9, core: 7 }] }, 'devices.0.core'],
      [{ name: 'a', vcpus: 1, memoryMiB: 1, devices: [{ kind: 'vsock', cid: 9 }] }, 'memoryMiB'],
      [
        {
          name: 'a',
          vcpus: 1,
          memoryMiB: 4,
          devices: [
            { kind: 'vsock', cid: 9 },
            { kind: 'vsock', cid: 10 },
          ],
        },
        'devices',
      ],
    ];
    for (const [spec, field] of bad) {
      const e = await refused(host.vms.create(spec as never), ErrorCode.InvalidArgument);
      expect(e.message, JSON.stringify(spec)).toContain(`vm spec${field ? `.${field}` : ''}`);
    }
    const taken = await host.vms.create({
      name: 'taken',
      vcpus: 1,
      memoryMiB: 4,
      devices: [{ kind: 'vsock', cid: 50 }],
    });
    const mid = host.memory.stats();
    const midPool = (await host.vms.agentStats()).pool;
    expect(
      (await refused(host.vms.create({ name: 'taken', vcpus: 1, memoryMiB: 1 }), ErrorCode.InvalidArgument)).message,
    ).toContain('vm spec.name');
    const cid = await refused(
      host.vms.create({ name: 'other', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'vsock', cid: 50 }] }),
      ErrorCode.InvalidArgument,
    );
    expect(cid.details['field']).toBe('devices.0.cid');
    const big = await refused(host.vms.create({ name: 'huge', vcpus: 1, memoryMiB: 1024 }), ErrorCode.OutOfMemory);
    expect(big.message).toContain('memoryMiB');
    expect(host.memory.stats()).toEqual(mid);
    expect((await host.vms.agentStats()).pool).toEqual(midPool);
    expect(host.vms.list().map((v) => v.name)).toEqual(['taken']);
    await taken.destroy();
    // Everything the VM held is back: regions, bytes, fragmentation, by kind and by owner.
    expect(held(host.memory.stats())).toEqual(held(mem));
    expect(Object.keys(host.memory.stats().byOwner).filter((o) => o.includes('taken'))).toEqual([]);
    expect((await host.vms.agentStats()).pool).toEqual(pool);
  });
});
