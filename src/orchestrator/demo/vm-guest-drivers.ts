import type { Vm } from '../vms/vm.js';
import type { GuestNetCounters } from '../agent/guest-agent-client.js';
import type { DemoChapter } from './demo-context.js';
import { sleep } from './demo-context.js';

/** Polls `read` until `ok` holds or `ms` pass; returns the last value read. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(20);
  }
}

/**
 * Chapter "VMs that drive their own devices": web-3 and store-3 are created with
 * `guest: { program: 'drivers' }`, so each VM's own vCPU 0 runs its NIC's driver and network
 * stack (and store-3's disk job) as a guest kernel does, woken by its devices' interrupts.
 * Nothing on the control plane's side drives a ring: it asks the guest agent over vsock. web-3
 * pings store-3; store-3 paused stops answering and answers again once resumed; store-3 checks
 * its disk (write, flush, read back, verify); an idle guest's vCPU sleeps.
 */
export const vmGuestDrivers: DemoChapter = {
  title: 'VMs that drive their own devices: ping and a checked disk from the guests own vCPUs',
  async run({ host, say, record }) {
    const net = host.network;
    net.createVpc({ name: 'amber', cidr: '198.18.0.0/16' });
    net.createSubnet({ name: 'own', vpc: 'amber', cidr: '198.18.3.0/24' });
    net.createSecurityGroup({
      name: 'own-open',
      rules: [
        { direction: 'ingress', protocol: 'any', remote: '198.18.3.0/24' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    net.createPort({ name: 'web-3', subnet: 'own', ip: '198.18.3.10', securityGroups: ['own-open'] });
    net.createPort({ name: 'store-3', subnet: 'own', ip: '198.18.3.20', securityGroups: ['own-open'] });
    const vms: Vm[] = [];
    try {
      const web = await host.vms.create({
        name: 'web-3',
        vcpus: 1,
        memoryMiB: 8,
        devices: [
          { kind: 'vsock', cid: 63 },
          { kind: 'net', port: 'web-3' },
        ],
        guest: { program: 'drivers' },
      });
      vms.push(web);
      const store = await host.vms.create({
        name: 'store-3',
        vcpus: 1,
        memoryMiB: 8,
        devices: [
          { kind: 'vsock', cid: 64 },
          { kind: 'net', port: 'store-3' },
          { kind: 'blk', backend: 'ram', capacityMiB: 8 },
        ],
        guest: { program: 'drivers' },
      });
      vms.push(store);
      await web.start();
      await store.start();
      const replies = (c: GuestNetCounters): number => c.pingReplies;

      await web.guestPing('198.18.3.20', 5);
      const a = await until(
        () => web.guestNet(),
        (c) => replies(c) >= 5,
        10_000,
      );
      const b = await store.guestNet();
      say(
        `web-3 and store-3 booted with guest.program 'drivers': each VM's vCPU 0 runs its NIC driver and stack; web-3 pinged store-3 from its own vCPU: ${a.pingReplies}/5 answered (store-3's vCPU answered ${b.echoRequests} echo requests); no ring driven by the control plane`,
      );
      await store.pause();
      await web.guestPing('198.18.3.20', 3);
      const p = await until(
        () => web.guestNet(),
        (c) => c.pingsSent >= 3,
        10_000,
      );
      await store.resume();
      await web.guestPing('198.18.3.20', 3);
      const r = await until(
        () => web.guestNet(),
        (c) => replies(c) >= 3,
        10_000,
      );
      say(
        `store-3 paused: ${p.pingReplies}/${p.pingsSent} pings answered (its vCPU parked, nothing else answers for it); resumed: ${r.pingReplies}/3`,
      );
      record(
        'VM answers ping from its own vCPU',
        `${a.pingReplies}/5; paused ${p.pingReplies}/3; resumed ${r.pingReplies}/3`,
      );

      await store.guestBlkCheck({ count: 1024, depth: 16 });
      const s = await until(
        () => store.guestBlkStatus(),
        (st) => st.phase === 'done' || st.phase === 'failed',
        30_000,
      );
      say(
        `store-3's vCPU 0 checked its disk: ${s.writes} writes, ${s.flushes} flush, ${s.reads} reads each checked word by word: ${s.errors} wrong, ${s.phase}, in ${(s.elapsedNs / 1e6).toFixed(1)} ms of guest time`,
      );
      record('VM disk checked from its own vCPU', `${s.writes} blocks written, flushed, read back: ${s.errors} wrong`);

      const before = await store.guestNet();
      await sleep(500);
      const after = await store.guestNet();
      say(
        `idle for 500 ms, store-3's vCPU ran ${after.steps - before.steps} steps (the guest agent's own requests) and slept on its interrupt word in between: an idle guest costs its host no CPU`,
      );
    } finally {
      for (const vm of vms) await vm.destroy().catch(() => undefined);
    }
  },
};
