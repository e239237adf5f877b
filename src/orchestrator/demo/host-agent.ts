import type { DemoChapter } from './demo-context.js';
import { sleep } from './demo-context.js';

/**
 * Chapter "the split": VMs are the actors. The control plane defines and boots them through
 * `host.vms`; every lifecycle request crosses a virtio-vsock device on a DPU core to the host
 * agent (the host's TinyOS: guest RAM and vCPU threads, nothing else). A guest agent inside a VM
 * answers over the VM's own vsock device and acknowledges its shutdown.
 */
export const hostAgent: DemoChapter = {
  title: 'the split: VMs booted through host.vms, the host agent reached over virtio-vsock only',
  async run({ host, seconds, say, record }) {
    // Control traffic is sparse: a core that sleeps between requests leaves the CPUs to the two ends.
    await host.dpu.core(0).setMode('interrupt', 4096);
    try {
      const events: string[] = [];
      host.vms.on('vm.state', (e) => events.push(`${e.vm}:${e.state}`));
      const t0 = performance.now();
      const web1 = await host.vms.create({ name: 'web-1', vcpus: 1, memoryMiB: 8 });
      const web2 = await host.vms.create({
        name: 'web-2',
        vcpus: 1,
        memoryMiB: 8,
        devices: [{ kind: 'vsock', cid: 42 }],
      });
      const db1 = await host.vms.create({ name: 'db-1', vcpus: 2, memoryMiB: 16 });
      const vms = [web1, web2, db1];
      for (const vm of vms) await vm.start();
      const upMs = performance.now() - t0;
      const a0 = await host.vms.agentStats();
      say(
        `web-1, web-2 (vsock CID 42, guest agent) and db-1 (2 vCPUs) defined and running in ${upMs.toFixed(0)} ms; ` +
          `the host agent holds ${a0.vcpuThreads} vCPU threads and ${a0.pool.usedBytes >> 20} MiB of guest RAM`,
      );
      await web1.pause();
      await web1.resume();
      const info = await web2.guestInfo();
      say(
        `web-1 paused and resumed; web-2's guest agent (Wasm on its vCPU 0) says: up ${(Number(info.uptimeNs) / 1e6).toFixed(0)} ms, ` +
          `${info.polls} polls, ${info.requests} request(s)`,
      );
      await web2.shutdown({ timeoutMs: 5_000 });
      await db1.reboot({ timeoutMs: 5_000 });
      say(`web-2 shut down by its guest agent's acknowledgement; db-1 rebooted (power button, both vCPUs halted)`);
      const a = await host.vms.agentStats();
      await sleep(Math.min(2_000, Math.max(500, seconds * 200)));
      const b = await host.vms.agentStats();
      const cpu = ((b.cpuNs - a.cpuNs) / 1e6 / (b.uptimeMs - a.uptimeMs)) * 100;
      say(`host agent thread CPU with ${b.vcpuThreads} vCPUs running: ${cpu.toFixed(2)} % of a core`);
      for (const vm of vms) await vm.destroy();
      const after = await host.vms.agentStats();
      say(
        `${events.length} state events (${events.slice(0, 4).join(', ')}, ...); all VMs destroyed, ` +
          `guest RAM in use: ${after.pool.usedBytes} bytes, vCPU threads: ${after.vcpuThreads}`,
      );
      record('3 VMs defined and started (host.vms)', `${upMs.toFixed(0)} ms`);
      record('host agent CPU, VMs running', `${cpu.toFixed(2)} % of a core`);
    } finally {
      await host.dpu.core(0).setMode('adaptive', 4096);
    }
  },
};
