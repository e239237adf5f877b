import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distFile } from '../../../src/common/package-paths.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { HostAgent } from '../../../src/orchestrator/agent/host-agent.js';

const MIB = 1 << 20;

describe('the split: control reaches the host agent through its vsock device and nothing else', () => {
  let memory: HostMemory;
  let pool: DpuCorePool;
  let agent: HostAgent;
  const messages: unknown[] = [];

  beforeAll(async () => {
    memory = new HostMemory({ sizeBytes: 256 * MIB });
    pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 64 });
    agent = await HostAgent.boot({ memory, runtime: new LoaderRuntime(memory), dpu: pool }, { poolBytes: 16 * MIB });
    agent.worker.on('message', (m) => messages.push(m));
    // Nothing on the control plane's side may use the thread's message port.
    agent.worker.postMessage = () => {
      throw new Error('postMessage to the host agent');
    };
  });
  afterAll(async () => {
    await agent.stop();
    await pool.close();
  });

  it('starts the agent thread with host memory, its driver (rings, kick and interrupt words) and nothing else', () => {
    expect(Object.keys(agent.boot).sort()).toEqual(['guestKernel', 'irq', 'memory', 'vs']);
    expect(agent.boot.memory).toBe(memory.memory);
    expect(agent.boot.guestKernel).toMatch(/guest\.wasm$/);
    expect(agent.boot.irq).toBe(agent.device.queueIrq);
    // The driver state sits in the agent's own RAM; no port, no function, no object besides the memory.
    expect(agent.boot.vs).toBeGreaterThanOrEqual(agent.ram.ramBase);
    expect(agent.boot.vs).toBeLessThan(agent.ram.ramBase + agent.ram.ramBytes);
    const source = readFileSync(distFile('src/hypervisor/agent/agent-worker.js'), 'utf8');
    expect(source).not.toMatch(/parentPort|postMessage|MessageChannel|BroadcastChannel/);
  });

  it('serves a whole VM lifecycle with no message on the thread port', async () => {
    const vm = await agent.client.createVm({ name: 'vm-split', vcpus: 1, memoryMiB: 2 });
    await agent.client.startVm(vm.id);
    await agent.client.pauseVm(vm.id);
    await agent.client.resumeVm(vm.id);
    await agent.client.hotplug(vm.id, { id: 'vsock0', kind: 'vsock' });
    await agent.client.destroyVm(vm.id);
    expect(messages).toEqual([]);
    const d = agent.device.stats();
    expect(d.endpoint.txPackets).toBeGreaterThan(6);
    expect(d.endpoint.rxPackets).toBeGreaterThan(6);
  });

  it('is cut off when the vsock device stops, and reachable again when it restarts', async () => {
    await agent.device.stop();
    await expect(agent.client.request('ping', {}, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'QT_TIMEOUT' });
    await agent.device.start(pool.cores[0]!);
    await agent.client.ping();
    expect(messages).toEqual([]);
  });
});
