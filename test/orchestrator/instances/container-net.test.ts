/**
 * Packets reach containers: the container host has a NIC on its trunk port, its vCPU 0 splits
 * the frames by VLAN to each container's stack (and tags what they send), so a VM on the same
 * subnet pings a container and has UDP echoed back by it, through the vSwitch on a DPU core.
 * Containers on different sub-ports (different subnets) are isolated: a VM of one subnet cannot
 * reach the other's container, and no frame of one container's traffic reaches the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { ContainerInstance } from '../../../src/orchestrator/instances/container-instance.js';
import type { Vm } from '../../../src/orchestrator/vms/vm.js';
import type { VmNetHandle } from '../../../src/orchestrator/vms/vm-device.js';

const MIB = 1 << 20;

describe('host.instances: packets reach containers through the container host trunk', () => {
  let host: Host;
  const vcpus: GuestVcpu[] = [];

  /** A VM on `port` with a guest network stack at `ip`, on a vCPU worker of the test's. */
  async function vmOn(name: string, port: string, ip: string): Promise<{ vm: Vm; net: GuestNet }> {
    const vm = await host.vms.create({ name, vcpus: 1, memoryMiB: 16, devices: [{ kind: 'net', port }] });
    await vm.start();
    const h = vm.device('net0') as VmNetHandle;
    const v = new GuestVcpu(host.memory, `${name}/net0`);
    vcpus.push(v);
    const net = await GuestNet.create(vm.ram, v, { ip, queueSize: 256 });
    await net.attach(h.device, h.notify);
    return { vm, net };
  }

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 768 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 256 },
      vms: { poolMiB: 160 },
      instances: { containerHost: { port: 'trunk', memoryMiB: 32, capacity: 64 } },
    });
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createSubnet({ name: 'db', vpc: 'blue', cidr: '198.19.2.0/24' });
    net.createPort({ name: 'trunk', subnet: 'web', ip: '198.19.1.2' });
    net.createPort({ name: 'pa', subnet: 'web', ip: '198.19.1.10' });
    net.createPort({ name: 'pb', subnet: 'db', ip: '198.19.2.10' });
  });
  afterAll(async () => {
    for (const v of vcpus) await v.stop();
    await host.shutdown();
  });

  it('a VM pings a container and has UDP echoed by it; containers on different sub-ports are isolated', async () => {
    const a = (await host.instances.create({
      kind: 'container',
      name: 'ca',
      network: { subnet: 'web', ip: '198.19.1.50' },
    })) as ContainerInstance;
    const b = (await host.instances.create({
      kind: 'container',
      name: 'cb',
      network: { subnet: 'db', ip: '198.19.2.50' },
    })) as ContainerInstance;
    await a.start();
    await b.start();
    expect(a.subPort!.vlan).not.toBe(b.subPort!.vlan);
    // The container host holds the trunk port's NIC.
    const ch = host.vms.get('container-host')!;
    expect(ch.devices.map((d) => d.kind)).toEqual(['net']);
    expect(host.network.list().ports.find((p) => p.name === 'trunk')!.attached).toBe('container-host');

    const va = await vmOn('va', 'pa', '198.19.1.10');
    const rtts = await va.net.ping('198.19.1.50', 5, 2000);
    expect(rtts.every((r) => Number.isFinite(r))).toBe(true);
    const ca1 = a.netCounters()!;
    expect(ca1.echoRequests).toBe(5);
    expect(ca1.arpRequests).toBe(0); // the switch answers ARP for every port of the subnet
    expect(ca1.txFrames).toBeGreaterThanOrEqual(5);

    // UDP to the container's echo port (7), counted back by the VM's sink.
    await va.net.setPorts(0, 41000);
    const sent = await va.net.sendUdp('198.19.1.50', 7, 300, 200, { srcPort: 41000, window: 32 });
    expect(sent).toBe(300);
    const sink = await va.net.waitSink(300);
    expect(sink.received).toBe(300);
    expect(sink.duplicates).toBe(0);
    expect(a.netCounters()!.udpEchoed).toBe(300);

    // Isolation: nothing of that traffic reached the other container, and the VM on 'web'
    // cannot reach it (no port of its subnet has that address: ARP is never answered).
    expect(b.netCounters()!.rxFrames).toBe(0);
    await expect(va.net.ping('198.19.2.50', 1, 300)).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect(b.netCounters()!.rxFrames).toBe(0);

    // A VM on b's subnet reaches b, and a sees none of it.
    const before = a.netCounters()!.rxFrames;
    const vb = await vmOn('vb', 'pb', '198.19.2.10');
    expect((await vb.net.ping('198.19.2.50', 3, 2000)).every((r) => Number.isFinite(r))).toBe(true);
    expect(b.netCounters()!.echoRequests).toBe(3);
    expect(a.netCounters()!.rxFrames).toBe(before);
    // The split runs on the container host's own vCPU: paused, the containers go silent.
    await ch.pause();
    expect((await vb.net.ping('198.19.2.50', 1, 300))[0]).toBeNaN();
    await ch.resume();
    expect(Number.isFinite((await vb.net.ping('198.19.2.50', 1, 2000))[0])).toBe(true);

    // A container destroyed leaves the split: its address no longer answers.
    await a.destroy();
    expect(host.network.list().ports.find((p) => p.name === 'ct-ca')).toBeUndefined();
    expect((await va.net.ping('198.19.1.50', 1, 300))[0]).toBeNaN();
    await b.destroy();
    await va.vm.destroy();
    await vb.vm.destroy();
  });
});
