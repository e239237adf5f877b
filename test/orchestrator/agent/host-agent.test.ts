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
    expect(s.pool.totalBytes).toBe(64 * MIB);
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
});
