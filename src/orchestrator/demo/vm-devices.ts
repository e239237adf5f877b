import { featureWord } from '../../common/virtio/features.js';
import { GuestVcpu } from '../../hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../../hypervisor/guest/virtio/blk-workload.js';
import { GuestNet } from '../../hypervisor/guest/virtio/net-guest.js';
import type { Vm } from '../vms/vm.js';
import type { VmBlkHandle, VmNetHandle } from '../vms/vm-device.js';
import type { DemoChapter } from './demo-context.js';

const SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const DISK_BLOCKS = 1024;

/** The guest's network stack over one of a VM's NICs, on a guest-side vCPU worker. */
async function nicStack(vm: Vm, id: string, ip: string, vcpu: GuestVcpu, queueSize: number): Promise<GuestNet> {
  const nic = vm.device(id) as VmNetHandle;
  const stack = await GuestNet.create(vm.ram, vcpu, { ip, queueSize });
  await stack.attach(nic.device, nic.notify);
  return stack;
}

/**
 * Chapter "VM devices": a VM is what owns devices. db-1 boots with a disk (virtio-blk over a RAM
 * disk, served on a DPU core), a NIC and its vsock device; its guest writes and reads the disk
 * back, checking every block. app-1 streams UDP to db-1 over its NIC while a second NIC is
 * hotplugged (the host agent is told over vsock), probed by the guest, used, and unplugged under
 * its own traffic: the device is quiesced (every chain it took completed) and its regions freed.
 * Destroying both VMs leaves none of their regions behind.
 */
export const vmDevices: DemoChapter = {
  title: 'VM devices: a disk written through virtio-blk, a NIC hotplugged and unplugged under traffic',
  async run({ host, seconds, say, record }) {
    const net = host.network;
    net.createVpc({ name: 'green', cidr: '198.18.0.0/16' });
    net.createSubnet({ name: 'apps', vpc: 'green', cidr: '198.18.1.0/24' });
    net.createSecurityGroup({
      name: 'apps-open',
      rules: [
        { direction: 'ingress', protocol: 'any', remote: '198.18.1.0/24' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    for (const [name, ip] of [
      ['db-1', '198.18.1.10'],
      ['app-1', '198.18.1.20'],
      ['app-1-hot', '198.18.1.21'],
    ] as const)
      net.createPort({ name, subnet: 'apps', ip, securityGroups: ['apps-open'] });
    const owners = (s: ReturnType<typeof host.memory.stats>): number =>
      Object.entries(s.byOwner)
        .filter(
          ([o]) =>
            o.startsWith('vm:db-1') ||
            o.startsWith('vm:app-1') ||
            o.startsWith('net:app-1') ||
            o.startsWith('net:db-1'),
        )
        .reduce((n, [, v]) => n + v.count, 0);
    const vcpus: GuestVcpu[] = [];
    const vcpu = (name: string): GuestVcpu => {
      const v = new GuestVcpu(host.memory, name);
      vcpus.push(v);
      return v;
    };
    const stop = host.memory.alloc({ name: 'demo:vmdev-stop', owner: 'demo', kind: 'core-scratch', sizeBytes: 64 });
    Atomics.store(host.memory.i32, stop.base >> 2, 0);
    const vms: Vm[] = [];
    let serving: Promise<number> | null = null;
    try {
      const db = await host.vms.create({
        name: 'db-1',
        vcpus: 1,
        memoryMiB: 16,
        devices: [
          { kind: 'vsock', cid: 61 },
          { kind: 'net', port: 'db-1' },
          { kind: 'blk', id: 'data', backend: 'ram', capacityMiB: 8 },
        ],
      });
      vms.push(db);
      const app = await host.vms.create({
        name: 'app-1',
        vcpus: 1,
        memoryMiB: 16,
        devices: [{ kind: 'net', port: 'app-1' }],
      });
      vms.push(app);
      await db.start();
      await app.start();
      say(
        `db-1 (${db.devices.map((d) => `${d.id}: ${d.kind}`).join(', ')}) and app-1 (net0 on port app-1) booted through host.vms; their NICs are ports of VPC green on the vSwitch, db-1's disk a virtio-blk device on DPU core 0`,
      );

      // The disk: the guest's workload (Wasm on a guest-side vCPU worker) writes, reads back and checks.
      const disk = db.device('data') as VmBlkHandle;
      disk.device.negotiate(
        disk.device.features() &
          ~(featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true }) & ~featureWord(SPLIT)),
      );
      const load = await GuestBlkWorkload.create(db.ram, vcpu('db-1/data'), {
        size: 64,
        features: SPLIT,
        blocks: DISK_BLOCKS,
        seed: 5,
      });
      const { features: _f, ...rings } = load.queue.config;
      void _f;
      disk.device.setQueue(0, rings);
      await disk.driverOk();
      await load.bind(disk.device.notifyWords(0), disk.device.queues[0]!.irqAddr);
      const t0 = performance.now();
      const run = await load.run(16, Math.max(50, seconds * 100));
      const ms = performance.now() - t0;
      const ds = disk.device.stats();
      const mbps = (ds.bytesWritten + ds.bytesRead) / 1e3 / ms;
      say(
        `db-1's guest wrote and read its disk through virtio-blk: ${run.completed} requests (${ds.writes} writes, ${ds.reads} reads, ${ds.flushes} flushes) in ${ms.toFixed(0)} ms, ${mbps.toFixed(0)} MB/s; every read checked against what it wrote: ${run.errors} wrong`,
      );
      record(
        'VM disk: guest writes + checked reads (virtio-blk)',
        `${run.completed} requests, ${run.errors} wrong, ${mbps.toFixed(0)} MB/s`,
      );

      // The NICs: db-1 echoes; app-1 streams to it (windowed, counted back) the whole time.
      const dbNet = await nicStack(db, 'net0', '198.18.1.10', vcpu('db-1/net0'), 256);
      const appNet = await nicStack(app, 'net0', '198.18.1.20', vcpu('app-1/net0'), 256);
      await dbNet.setPorts(7, 0);
      serving = dbNet.serve(600_000, stop.base);
      await appNet.setPorts(0, 41000);
      // The stream lasts the traffic phase (`seconds`); the hotplug starts while it runs.
      const streaming = appNet.sendUdp('198.18.1.10', 7, 100_000_000, 200, {
        window: 32,
        srcPort: 41000,
        ms: seconds * 1000,
      });

      const plugged = (await app.hotplug({ kind: 'net', id: 'net1', port: 'app-1-hot' })) as VmNetHandle;
      const agentSaw = app.devices.map((d) => d.id).join(', ');
      const hot = await nicStack(app, 'net1', '198.18.1.21', vcpu('app-1/net1'), 64);
      const rtts = await hot.ping('198.18.1.10', 5, 3000);
      const answered = rtts.filter((x) => !Number.isNaN(x)).length;
      await hot.setPorts(0, 43000);
      const sending = hot.sendUdp('198.18.1.10', 7, 1_000_000, 64, { window: 16, srcPort: 43000, ms: 1000 });
      await new Promise((r) => setTimeout(r, 200));
      const report = await app.unplug('net1');
      await sending;
      const taken = report.queues.reduce((s, q) => s + q.popped, 0);
      const done = report.queues.reduce((s, q) => s + q.completed, 0);
      say(
        `app-1 hotplugged net1 (port ${plugged.port}) while streaming on net0; the host agent, told over vsock, answered with app-1's devices as ${agentSaw}; the guest probed net1 and pinged db-1 over it (${answered}/5 answered), then streamed on it and net1 was unplugged mid-stream: ${taken} chains taken by the device, ${done} completed, ${taken - done} left half-done`,
      );
      const sent = await streaming;
      const sink = await appNet.waitSink(sent, 30_000);
      const echo = dbNet.counters();
      say(
        `app-1's stream on net0 meanwhile: ${sent} datagrams sent, ${sink.received} echoed back, ${sent - sink.received} lost, ${sink.reordered} reordered (db-1 echoed ${echo.udpEchoed}, found its TX ring full ${echo.txFull} times)`,
      );
      record(
        'VM NIC hotplug + unplug under traffic',
        `${answered}/5 pings over the plugged NIC; ${done}/${taken} of its chains completed at unplug; other NIC lost ${sent - sink.received} of ${sent}`,
      );

      const info = await db.guestInfo({ timeoutMs: 5000 });
      say(`db-1's guest agent (over its vsock device): up ${(Number(info.uptimeNs) / 1e6).toFixed(0)} ms`);
      Atomics.store(host.memory.i32, stop.base >> 2, 1);
      await serving;
      serving = null;
      const held = owners(host.memory.stats());
      for (const vm of vms.splice(0)) await vm.destroy();
      const left = owners(host.memory.stats());
      say(`db-1 and app-1 destroyed: ${held} regions of theirs (maps, devices, RAM disk) before, ${left} after`);
      record('VMs destroyed with their devices', `${held} regions freed, ${left} left`);
    } finally {
      Atomics.store(host.memory.i32, stop.base >> 2, 1);
      if (serving) await serving.catch(() => 0);
      for (const v of vcpus) await v.stop();
      for (const vm of vms) await vm.destroy().catch(() => undefined);
      host.memory.free(stop, 'demo');
    }
  },
};
