import type { RingFeatures } from '../../common/virtio/features.js';
import { LoopbackDevice } from '../../dpu/virtio/loopback-device.js';
import { Guest } from '../../hypervisor/guest/guest.js';
import { GuestQueue } from '../../hypervisor/guest/guest-queue.js';
import { GuestVcpu } from '../../hypervisor/guest/vcpu.js';
import { createDriver } from '../../hypervisor/guest/virtio/index.js';
import type { DemoChapter } from './demo-context.js';

const MIB = 1 << 20;

/**
 * Chapter "virtqueues": a guest with its own vCPU worker drives a virtio loopback device that
 * runs on a DPU core — pipelined traffic, then one-at-a-time round trips with interrupts — and
 * a second, malicious guest breaks only its own device.
 */
export const virtioLoopback: DemoChapter = {
  title: 'virtqueues: a guest drives a loopback device on a DPU core; a malicious guest breaks only itself',
  async run({ host, seconds, say, record }) {
    await host.loadKernel('virtio');
    const core = host.dpu.core(0);
    const guest = new Guest(host.memory, { name: 'vm1', ramBytes: 16 * MIB });
    const vcpu = new GuestVcpu(host.memory, 'vm1/vcpu0');
    try {
      const features: RingFeatures = { packed: false, eventIdx: true, indirect: false, inOrder: false };
      const q = await GuestQueue.create(guest, vcpu, 256, features);
      const dev = new LoopbackDevice(host.runtime, guest, 'vm1:loop0', { maxQueueSize: 256, maxBurst: 64 });
      dev.configure(q.config);
      await dev.start({ core, budget: 64 });
      await q.bind(dev.notifyWords(), dev.queue.irqAddr);
      say(
        `guest vm1: ${guest.ramBytes / MIB} MiB RAM, vCPU worker running the guest Wasm driver; virtio loopback device (split ring, 256 entries, EVENT_IDX) on DPU core 0`,
      );

      await core.setMode('poll', 1);
      const p = await q.pump(Math.max(500, seconds * 500));
      const rate = p.completed / (p.elapsedNs / 1e9);
      say(
        `pipelined 64-byte echo, ring kept full, core polling: ${p.completed} buffers in ${(p.elapsedNs / 1e9).toFixed(2)} s = ${(rate / 1e6).toFixed(2)} M buffers/s, every echo checked by the guest`,
      );
      const poll = await q.rtt(2000, 'poll');
      await core.setMode('interrupt', 1);
      const irq = await q.rtt(1000, 'irq');
      await core.setMode('adaptive', 4096);
      const p50 = (a: Float64Array): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
      say(
        `one at a time: polling p50 ${p50(poll.samplesUs).toFixed(2)} µs; with interrupts both ways (core asleep on its doorbell, guest asleep on its interrupt word) p50 ${p50(irq.samplesUs).toFixed(1)} µs`,
      );
      const c = q.counters();
      const st = dev.stats().queue;
      say(
        `guest driver: ${c.completed} completed, ${c.errors} wrong, kicks ${c.kicks} sent / ${c.kicksSuppressed} suppressed; device: ${st.irqSent} interrupts sent / ${st.irqSuppressed} suppressed`,
      );
      record(
        'virtio loopback, guest vCPU ↔ DPU core (poll)',
        `${(rate / 1e6).toFixed(2)} M buffers/s; RTT p50 ${p50(poll.samplesUs).toFixed(2)} µs`,
      );
      record('virtio loopback with interrupts (EVENT_IDX)', `RTT p50 ${p50(irq.samplesUs).toFixed(1)} µs`);

      // A malicious guest on the same core: its ring claims a head outside the queue.
      const evil = new Guest(host.memory, { name: 'vm2', ramBytes: 1 * MIB });
      const evilDev = new LoopbackDevice(host.runtime, evil, 'vm2:loop0', { maxQueueSize: 64 });
      const drv = createDriver(evil, { size: 64, features, notify: () => core.ringDoorbell() });
      evilDev.configure({
        size: 64,
        features,
        descGpa: drv.descGpa,
        driverGpa: drv.driverGpa,
        deviceGpa: drv.deviceGpa,
      });
      await evilDev.start({ core, budget: 16 });
      evil.ram.setUint16(Number(drv.driverGpa) + 4, 999, true); // ring[0] = 999 >= queue size
      evil.ram.setUint16(Number(drv.driverGpa) + 2, 1, true);
      core.ringDoorbell();
      const deadline = Date.now() + 2000;
      while (!evilDev.stats().needsReset && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
      const broken = evilDev.stats().queue.broken;
      const after = await q.pump(200);
      say(
        `guest vm2 published head 999 on a 64-entry ring: its device is ${evilDev.stats().needsReset ? `DEVICE_NEEDS_RESET (${broken?.id}: ${broken?.what})` : 'NOT broken (unexpected)'}; vm1 kept running (${after.completed} more echoes, ${q.counters().errors} wrong)`,
      );
      record(
        'malicious guest on a shared core',
        `its device NEEDS_RESET (${broken?.id ?? '?'}); the other guest unaffected`,
      );
      await evilDev.stop();
      await dev.stop();
      evilDev.free();
      dev.free();
      evil.destroy();
    } finally {
      await vcpu.stop();
      guest.destroy();
    }
  },
};
