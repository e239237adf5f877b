import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { HostAgent } from '../../../src/orchestrator/agent/host-agent.js';
import type { EventBody } from '../../../src/hypervisor/agent/protocol/messages.js';

const MIB = 1 << 20;

describe('host agent: the control plane drives VMs on the host through vsock', () => {
  let memory: HostMemory;
  let pool: DpuCorePool;
  let agent: HostAgent;
  const events: EventBody<'vm.state'>[] = [];

  beforeAll(async () => {
    memory = new HostMemory({ sizeBytes: 256 * MIB });
    const runtime = new LoaderRuntime(memory);
    pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 64 });
    agent = await HostAgent.boot({ memory, runtime, dpu: pool }, { poolBytes: 64 * MIB });
    agent.client.on('vm.state', (e) => events.push(e));
  });
  afterAll(async () => {
    await agent.stop();
    await pool.close();
  });

  it('answers ping and reports its own figures', async () => {
    await agent.client.ping();
    const s = await agent.client.stats();
    expect(s.cpuNs).toBeGreaterThan(0);
    // The grant's last 16 KiB are the agent's own (its guest CPUs' doorbells).
    expect(s.pool.totalBytes).toBe(64 * MIB - 16384);
    expect(s.pool.usedBytes).toBe(0);
    expect(agent.client.version).toBe(1);
  });

  it('creates, starts, pauses, resumes, stops and destroys a VM, with an event per transition', async () => {
    const vm = await agent.client.createVm({ name: 'vm-a', vcpus: 2, memoryMiB: 4 });
    expect(vm).toMatchObject({ name: 'vm-a', vcpus: 2, memoryBytes: 4 * MIB, state: 'defined' });
    expect(vm.ramBase).toBeGreaterThanOrEqual(agent.pool.base);
    expect(vm.ramBase + vm.memoryBytes).toBeLessThanOrEqual(agent.pool.base + agent.pool.sizeBytes);
    expect((await agent.client.startVm(vm.id)).state).toBe('running');
    expect((await agent.client.stats()).vcpuThreads).toBe(2);
    expect((await agent.client.pauseVm(vm.id)).state).toBe('paused');
    expect((await agent.client.vmStats(vm.id)).vcpus.map((v) => v.state)).toEqual(['parked', 'parked']);
    expect((await agent.client.resumeVm(vm.id)).state).toBe('running');
    expect((await agent.client.stopVm(vm.id)).state).toBe('shutoff');
    expect((await agent.client.stats()).vcpuThreads).toBe(0);
    // The guest's RAM is scrubbed when the VM goes.
    memory.u8.fill(0xab, vm.ramBase, vm.ramBase + 4096);
    await agent.client.destroyVm(vm.id);
    expect(memory.u8.subarray(vm.ramBase, vm.ramBase + 4096).every((b) => b === 0)).toBe(true);
    expect((await agent.client.stats()).pool.usedBytes).toBe(0);
    expect(events.filter((e) => e.name === 'vm-a').map((e) => e.state)).toEqual([
      'defined',
      'running',
      'paused',
      'running',
      'shutoff',
      'destroyed',
    ]);
  });

  it('shuts a VM down gracefully: the guest acknowledges by halting its vCPUs', async () => {
    const vm = await agent.client.createVm({ name: 'vm-b', vcpus: 2, memoryMiB: 2 });
    await agent.client.startVm(vm.id);
    const off = await agent.client.shutdownVm(vm.id, 5_000);
    expect(off.state).toBe('shutoff');
    expect(events.filter((e) => e.name === 'vm-b').at(-1)).toMatchObject({ state: 'shutoff', reason: 'vm.shutdown' });
    // It can start again after a shutdown.
    expect((await agent.client.startVm(vm.id)).state).toBe('running');
    await agent.client.destroyVm(vm.id);
  });

  it('refuses illegal transitions, unknown VMs, taken names and more memory than the pool has; nothing changes', async () => {
    const vm = await agent.client.createVm({ name: 'vm-c', vcpus: 1, memoryMiB: 1 });
    await expect(agent.client.pauseVm(vm.id)).rejects.toMatchObject({
      code: 'QT_INVALID_STATE',
      details: { status: 'bad-state' },
    });
    await expect(agent.client.resumeVm(vm.id)).rejects.toMatchObject({ code: 'QT_INVALID_STATE' });
    await expect(agent.client.stopVm(vm.id)).rejects.toMatchObject({ code: 'QT_INVALID_STATE' });
    await expect(agent.client.startVm(9999)).rejects.toMatchObject({ code: 'QT_NOT_FOUND' });
    await expect(agent.client.createVm({ name: 'vm-c', vcpus: 1, memoryMiB: 1 })).rejects.toMatchObject({
      code: 'QT_INVALID_ARGUMENT',
      details: { status: 'exists' },
    });
    await expect(agent.client.createVm({ name: 'vm-big', vcpus: 1, memoryMiB: 128 })).rejects.toMatchObject({
      code: 'QT_OUT_OF_MEMORY',
    });
    // Checked before anything is sent: the field, the range, the value.
    await expect(agent.client.createVm({ name: 'vm-d', vcpus: 0, memoryMiB: 1 })).rejects.toThrow(
      /vm.create.vcpus: expected an integer in \[1, 64\], got 0/,
    );
    expect((await agent.client.listVms()).map((v) => [v.name, v.state])).toEqual([['vm-c', 'defined']]);
    await agent.client.destroyVm(vm.id);
  });

  it('hotplugs and unplugs devices on a running VM', async () => {
    const vm = await agent.client.createVm({ name: 'vm-e', vcpus: 1, memoryMiB: 1 });
    await agent.client.startVm(vm.id);
    const a = await agent.client.hotplug(vm.id, { id: 'net0', kind: 'net' });
    expect(a.devices).toEqual([{ id: 'net0', kind: 'net' }]);
    await expect(agent.client.hotplug(vm.id, { id: 'net0', kind: 'blk' })).rejects.toMatchObject({
      details: { status: 'exists' },
    });
    await agent.client.hotplug(vm.id, { id: 'disk0', kind: 'blk' });
    expect((await agent.client.unplug(vm.id, 'net0')).devices).toEqual([{ id: 'disk0', kind: 'blk' }]);
    await expect(agent.client.unplug(vm.id, 'net0')).rejects.toMatchObject({ code: 'QT_NOT_FOUND' });
    await agent.client.destroyVm(vm.id);
    expect((await agent.client.stats()).pool.usedBytes).toBe(0);
  });
});
