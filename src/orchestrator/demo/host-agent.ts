import { HostAgent } from '../agent/host-agent.js';
import type { DemoChapter } from './demo-context.js';
import { sleep } from './demo-context.js';

/**
 * Chapter "the split": the host agent (the host's TinyOS: guest RAM and vCPU threads, nothing
 * else) runs in a thread of its own whose only link is a virtio-vsock device on a DPU core; the
 * control plane boots, pauses, shuts down and destroys VMs through it, and the agent's own CPU
 * use is read back over the same channel.
 */
export const hostAgent: DemoChapter = {
  title: 'the split: the control plane runs VMs through the host agent, over virtio-vsock only',
  async run({ host, seconds, say, record }) {
    // Control traffic is sparse: a core that sleeps between requests leaves the CPUs to the two ends.
    await host.dpu.core(0).setMode('interrupt', 4096);
    const agent = await HostAgent.boot(
      { memory: host.memory, runtime: host.runtime, dpu: host.dpu },
      { poolBytes: 64 << 20 },
    );
    try {
      const events: string[] = [];
      agent.client.on('vm.state', (e) => events.push(`${e.name}:${e.state}`));
      say(
        `host agent up: its thread got host memory and its vsock driver, nothing else; device on DPU core 0, ` +
          `guest CID 3, protocol v${agent.client.version}, ${agent.client.memory.bytes >> 20} MiB granted for guests`,
      );
      const vms = [];
      for (const name of ['web-1', 'web-2', 'db-1'])
        vms.push(await agent.client.createVm({ name, vcpus: name === 'db-1' ? 2 : 1, memoryMiB: 8 }));
      for (const vm of vms) await agent.client.startVm(vm.id);
      await agent.client.pauseVm(vms[0]!.id);
      await agent.client.resumeVm(vms[0]!.id);
      await agent.client.shutdownVm(vms[1]!.id, 5_000);
      say(`3 VMs created and started; web-1 paused and resumed; web-2 shut down by its guest's acknowledgement`);
      await agent.client.hotplug(vms[2]!.id, { id: 'vsock0', kind: 'vsock' });
      const samples: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t = performance.now();
        await agent.client.ping();
        samples.push((performance.now() - t) * 1000);
      }
      const rtt = samples.sort((x, y) => x - y)[samples.length >> 1]!;
      const a = await agent.client.stats();
      await sleep(Math.min(2_000, Math.max(500, seconds * 200)));
      const b = await agent.client.stats();
      const cpu = ((b.cpuNs - a.cpuNs) / 1e6 / (b.uptimeMs - a.uptimeMs)) * 100;
      say(
        `agent ping over vsock: ${rtt.toFixed(0)} µs median of 300; agent thread CPU with 2 VMs running: ${cpu.toFixed(2)} % of a core`,
      );
      for (const vm of vms) await agent.client.destroyVm(vm.id);
      const after = await agent.client.stats();
      say(
        `${events.length} state events (${events.slice(0, 4).join(', ')}, ...); all VMs destroyed, pool in use: ${after.pool.usedBytes} bytes`,
      );
      record('host agent RPC over vsock', `${rtt.toFixed(0)} µs median round trip`);
      record('host agent CPU, 2 VMs running', `${cpu.toFixed(2)} % of a core`);
    } finally {
      await agent.stop();
      await host.dpu.core(0).setMode('adaptive', 4096);
    }
  },
};
