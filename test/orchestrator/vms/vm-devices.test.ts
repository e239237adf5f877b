/**
 * VM devices: network interfaces (host.network ports on the vSwitch), disks (virtio-blk) and the
 * vsock device, owned by the VM, served on DPU cores, hotplugged and unplugged while the guest's
 * traffic runs, and freed with nothing left (allocator accounting). The guest-side drivers are
 * the in-process guest's (GuestNet, GuestBlkWorkload) over the VM's own RAM (`vm.ram`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, QingtianError } from '../../../src/common/errors.js';
import type { AllocatorStats } from '../../../src/memory/region-allocator.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { Vm } from '../../../src/orchestrator/vms/vm.js';
import type { VmBlkHandle, VmNetHandle } from '../../../src/orchestrator/vms/vm-device.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';
import { GuestBlkWorkload } from '../../../src/hypervisor/guest/virtio/blk-workload.js';
import { featureWord } from '../../../src/common/virtio/features.js';

const MIB = 1 << 20;
const SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };

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

/** Live regions of the owners a VM's devices use (the VM's own, its devices', its ports' NICs). */
function owned(s: AllocatorStats, prefixes: string[]): Record<string, { count: number; bytes: number }> {
  return Object.fromEntries(Object.entries(s.byOwner).filter(([o]) => prefixes.some((p) => o.startsWith(p))));
}

/** A guest network stack over a VM's network interface, on a vCPU worker of the guest's own. */
async function netStack(vm: Vm, id: string, ip: string, vcpu: GuestVcpu, queueSize = 256): Promise<GuestNet> {
  const h = vm.device(id) as VmNetHandle;
  expect(h.kind).toBe('net');
  // Rings deeper than every window in flight: an echo never finds its TX ring full.
  const stack = await GuestNet.create(vm.ram, vcpu, { ip, queueSize });
  await stack.attach(h.device, h.notify);
  return stack;
}

/** The guest's block workload over a VM's disk: probe (negotiate, queue), DRIVER_OK, bind. */
async function blkLoad(vm: Vm, id: string, vcpu: GuestVcpu, blocks: number): Promise<GuestBlkWorkload> {
  const h = vm.device(id) as VmBlkHandle;
  expect(h.kind).toBe('blk');
  const dev = h.device;
  dev.negotiate(
    dev.features() &
      ~(featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true }) & ~featureWord(SPLIT)),
  );
  const w = await GuestBlkWorkload.create(vm.ram, vcpu, { size: 32, features: SPLIT, blocks, seed: 11 });
  const { features: _f, ...rings } = w.queue.config;
  void _f;
  dev.setQueue(0, rings);
  await h.driverOk();
  await w.bind(dev.notifyWords(0), dev.queues[0]!.irqAddr);
  return w;
}

describe('host.vms: net, blk and vsock devices, hotplug and unplug', () => {
  let host: Host;
  const vcpus: GuestVcpu[] = [];
  const vcpu = (name: string): GuestVcpu => {
    const v = new GuestVcpu(host.memory, name);
    vcpus.push(v);
    return v;
  };

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 768 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 256 },
      vms: { poolMiB: 128 },
    });
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createSecurityGroup({
      name: 'open',
      rules: [
        { direction: 'ingress', protocol: 'any' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    for (const [name, ip] of [
      ['pa', '198.19.1.10'],
      ['pb', '198.19.1.20'],
      ['pc', '198.19.1.30'],
      ['pd', '198.19.1.40'],
    ] as const)
      net.createPort({ name, subnet: 'web', ip, securityGroups: ['open'] });
  });
  afterAll(async () => {
    for (const v of vcpus) await v.stop();
    await host.shutdown();
  });

  it('a VM owns its NIC, disk and vsock device: two VMs ping through the vSwitch, the disk reads back what it wrote, destroy frees it all', async () => {
    const before = host.memory.stats();
    const a = await host.vms.create({
      name: 'va',
      vcpus: 1,
      memoryMiB: 16,
      devices: [
        { kind: 'vsock', cid: 50 },
        { kind: 'net', port: 'pa' },
        { kind: 'blk', backend: 'ram', capacityMiB: 4 },
      ],
    });
    const b = await host.vms.create({ name: 'vb', vcpus: 1, memoryMiB: 16, devices: [{ kind: 'net', port: 'pb' }] });
    expect(a.devices.map((d) => `${d.id}:${d.kind}`)).toEqual(['vsock0:vsock', 'net0:net', 'blk0:blk']);
    // Defined: nothing is probed yet.
    await refused(() => a.device('net0'), ErrorCode.InvalidState);
    await a.start();
    await b.start();
    expect(host.network.list().ports.find((p) => p.name === 'pa')!.attached).toBe('va');

    const sa = await netStack(a, 'net0', '198.19.1.10', vcpu('va/net0'));
    const sb = await netStack(b, 'net0', '198.19.1.20', vcpu('vb/net0'));
    const stop = host.memory.alloc({ name: 't:stop', owner: 't', kind: 'core-scratch', sizeBytes: 64 });
    Atomics.store(host.memory.i32, stop.base >> 2, 0);
    const serving = sb.serve(60_000, stop.base);
    const rtts = await sa.ping('198.19.1.20', 5);
    expect(rtts.filter((x) => !Number.isNaN(x)).length).toBe(5);

    const disk = await blkLoad(a, 'blk0', vcpu('va/blk0'), 64);
    const r = await disk.run(8, 20);
    expect(r.completed).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    expect((a.device('blk0') as VmBlkHandle).device.stats().writes).toBeGreaterThan(0);
    expect((await a.guestInfo({ timeoutMs: 5000 })).vcpu).toBe(0);

    Atomics.store(host.memory.i32, stop.base >> 2, 1);
    await serving;
    host.memory.free(stop, 't');
    await a.destroy();
    await b.destroy();
    expect(host.network.list().ports.find((p) => p.name === 'pa')!.attached).toBeUndefined();
    expect(owned(host.memory.stats(), ['vm:', 'net:pa', 'net:pb'])).toEqual(owned(before, ['vm:', 'net:pa', 'net:pb']));
    expect((await host.vms.agentStats()).pool.usedBytes).toBe(0);
  });

  it('hotplug and unplug under traffic: a NIC and a disk come and go while the other NIC streams, nothing half-done, nothing left', async () => {
    const a = await host.vms.create({ name: 'hp', vcpus: 1, memoryMiB: 16, devices: [{ kind: 'net', port: 'pa' }] });
    const b = await host.vms.create({ name: 'peer', vcpus: 1, memoryMiB: 16, devices: [{ kind: 'net', port: 'pb' }] });
    const seen: string[] = [];
    a.on('device', (e) => seen.push(`${e.action}:${e.id}:${e.kind}`));
    const hostSeen: string[] = [];
    host.vms.on('vm.device', (e) => hostSeen.push(`${e.vm}:${e.action}:${e.id}`));
    await a.start();
    await b.start();
    const sa = await netStack(a, 'net0', '198.19.1.10', vcpu('hp/net0'));
    const sb = await netStack(b, 'net0', '198.19.1.20', vcpu('peer/net0'));
    const stop = host.memory.alloc({ name: 't:stop2', owner: 't', kind: 'core-scratch', sizeBytes: 64 });
    Atomics.store(host.memory.i32, stop.base >> 2, 0);
    await sb.setPorts(7, 0);
    const serving = sb.serve(120_000, stop.base);
    await sa.setPorts(0, 41000);
    const mid = host.memory.stats();
    const vmOwners = ['vm:hp', 'net:pc'];

    // Traffic on net0 the whole time: a windowed UDP stream to the peer's echo port, counted back.
    const N = 3000;
    const streaming = sa.sendUdp('198.19.1.20', 7, N, 200, { window: 32, srcPort: 41000, ms: 60_000 });

    // A second NIC plugged while the stream runs; the guest probes it and pings over it.
    const h = (await a.hotplug({ kind: 'net', id: 'net1', port: 'pc' })) as VmNetHandle;
    expect(h.port).toBe('pc');
    expect(a.devices.map((d) => d.id)).toEqual(['net0', 'net1']);
    // The host agent was told over its vsock device (its only channel): its own record has the NIC.
    const agentVm = async (): Promise<{ id: string; kind: string }[]> =>
      (await (await host.vms.hostAgent()).client.listVms()).find((v) => v.name === 'hp')!.devices;
    expect(await agentVm()).toEqual([
      { id: 'net0', kind: 'net' },
      { id: 'net1', kind: 'net' },
    ]);
    const s1 = await netStack(a, 'net1', '198.19.1.30', vcpu('hp/net1'), 64);
    expect((await s1.ping('198.19.1.20', 3, 5000)).filter((x) => !Number.isNaN(x)).length).toBe(3);
    // Unplugged while it streams to the peer's echo (windowed, so the peer is not flooded): the
    // switch lets go between bursts; the sender's loop just stops getting completions.
    await s1.setPorts(0, 43000);
    const sending1 = s1.sendUdp('198.19.1.20', 7, 100_000, 64, { window: 16, srcPort: 43000, ms: 1500 });
    await new Promise((r) => setTimeout(r, 100));
    const netReport = await a.unplug('net1');
    await sending1;
    expect(netReport.kind).toBe('net');
    for (const q of netReport.queues) {
      expect(q.inflight).toBe(0);
      expect(q.completed).toBe(q.popped);
    }
    expect(netReport.queues[1]!.popped).toBeGreaterThan(0); // its TX queue did carry traffic

    // A disk plugged while the stream runs; the guest's checked workload on it; unplugged mid-workload.
    await a.hotplug({ kind: 'blk', id: 'data', backend: 'ram', capacityMiB: 1 });
    const disk = await blkLoad(a, 'data', vcpu('hp/data'), 128);
    const first = await disk.run(8, 10);
    expect(first.errors).toBe(0);
    let stopDisk = false;
    const diskLoop = (async () => {
      let n = 0;
      while (!stopDisk) n += (await disk.run(4, 1)).completed;
      return n;
    })();
    await new Promise((r) => setTimeout(r, 50));
    const blkReport = await a.unplug('data');
    stopDisk = true;
    await diskLoop;
    expect(blkReport.queues[0]!.popped).toBeGreaterThan(0);
    expect(blkReport.queues[0]!.completed).toBe(blkReport.queues[0]!.popped);
    expect(blkReport.queues[0]!.inflight).toBe(0);

    const sent = await streaming;
    const sink = await sa.waitSink(sent, 30_000);
    expect(sent).toBe(N);
    expect(sb.counters().txFull).toBe(0);
    expect(sink.received).toBe(N); // net0 lost nothing while its neighbours came and went
    expect(seen).toEqual(['plugged:net1:net', 'unplugged:net1:net', 'plugged:data:blk', 'unplugged:data:blk']);
    expect(hostSeen).toEqual(['hp:plugged:net1', 'hp:unplugged:net1', 'hp:plugged:data', 'hp:unplugged:data']);
    expect(a.devices.map((d) => d.id)).toEqual(['net0']);
    expect(await agentVm()).toEqual([{ id: 'net0', kind: 'net' }]);
    expect(owned(host.memory.stats(), vmOwners)).toEqual(owned(mid, vmOwners));
    await refused(() => a.device('net1'), ErrorCode.NotFound);

    Atomics.store(host.memory.i32, stop.base >> 2, 1);
    await serving;
    host.memory.free(stop, 't');
    await a.destroy();
    await b.destroy();
  });

  it('power off takes the NIC off the switch, a reboot probes fresh devices, the disk keeps its data; a paused VM takes a hotplug', async () => {
    const vm = await host.vms.create({
      name: 'rb',
      vcpus: 1,
      memoryMiB: 16,
      devices: [
        { kind: 'net', port: 'pa' },
        { kind: 'blk', backend: 'ram', capacityMiB: 1 },
      ],
    });
    const attached = (): string | undefined => host.network.list().ports.find((p) => p.name === 'pa')!.attached;
    await vm.start();
    expect(attached()).toBe('rb');
    const w = await blkLoad(vm, 'blk0', vcpu('rb/blk0'), 64);
    expect((await w.run(8, 10)).errors).toBe(0);
    const written = (vm.device('blk0') as VmBlkHandle).device.readDisk(0, MIB);
    expect(written.some((b) => b !== 0)).toBe(true);
    await vm.stop();
    expect(attached()).toBeUndefined();
    await refused(() => vm.device('net0'), ErrorCode.InvalidState);
    await refused(() => vm.device('blk0'), ErrorCode.InvalidState);
    await vm.start();
    expect(attached()).toBe('rb');
    const disk = vm.device('blk0') as VmBlkHandle;
    expect(disk.device.started).toBe(false); // reset: the guest probes it again
    expect(Buffer.compare(disk.device.readDisk(0, MIB), written)).toBe(0);
    await netStack(vm, 'net0', '198.19.1.10', vcpu('rb/net0')); // a fresh NIC takes a fresh probe
    await vm.pause();
    await vm.hotplug({ kind: 'blk', id: 'scratch', backend: 'null', capacityMiB: 1 });
    await vm.resume();
    expect(vm.devices.map((d) => d.id)).toEqual(['net0', 'blk0', 'scratch']);
    expect((await vm.unplug('scratch')).queues).toEqual([{ popped: 0, completed: 0, inflight: 0 }]);
    await vm.destroy();
    expect(attached()).toBeUndefined();
  });

  it('devices given no id are named <kind><n>, the smallest n free in the VM, at create and at hotplug', async () => {
    const vm = await host.vms.create({
      name: 'disks',
      vcpus: 1,
      memoryMiB: 8,
      devices: [
        { kind: 'blk', backend: 'ram', capacityMiB: 1 },
        { kind: 'blk', id: 'blk1', backend: 'null', capacityMiB: 1 },
        { kind: 'blk', backend: 'ram', capacityMiB: 1 },
      ],
    });
    expect(vm.devices.map((d) => d.id)).toEqual(['blk0', 'blk1', 'blk2']);
    await vm.start();
    const plugged = await vm.hotplug({ kind: 'blk', backend: 'null', capacityMiB: 1 });
    expect(plugged.id).toBe('blk3');
    await vm.unplug('blk0');
    expect((await vm.hotplug({ kind: 'blk', backend: 'ram', capacityMiB: 1 })).id).toBe('blk0');
    const agentSees = (await (await host.vms.hostAgent()).client.listVms()).find((v) => v.name === 'disks')!.devices;
    expect(agentSees.map((d) => d.id).sort()).toEqual(['blk0', 'blk1', 'blk2', 'blk3']);
    await vm.destroy();
  });

  it('refusals name the field and change nothing: bad spec, unknown device, duplicate id, port in use, vsock, VM not running', async () => {
    const vm = await host.vms.create({
      name: 'picky',
      vcpus: 1,
      memoryMiB: 8,
      devices: [{ kind: 'net', port: 'pd' }],
    });
    const other = await host.vms.create({
      name: 'holder',
      vcpus: 1,
      memoryMiB: 4,
      devices: [{ kind: 'net', port: 'pc' }],
    });
    // Plug on a VM that is not running: refused, whatever the spec.
    await refused(vm.hotplug({ kind: 'blk', backend: 'ram', capacityMiB: 1 }), ErrorCode.InvalidState);
    await refused(vm.unplug('net0'), ErrorCode.InvalidState);
    await vm.start();
    const mem = host.memory.stats();
    const agentDevices = async (): Promise<unknown> =>
      (await (await host.vms.hostAgent()).client.listVms()).find((v) => v.name === 'picky')!.devices;
    const devs = await agentDevices();
    const bad: [unknown, string][] = [
      [{ kind: 'blk', backend: 'ram', capacityMiB: 0 }, 'device.capacityMiB'],
      [{ kind: 'blk', backend: 'disk', capacityMiB: 1 }, 'device.backend'],
      [{ kind: 'net', id: 'net1', port: 'pa', mtu: 9 }, 'device.mtu'],
      [{ kind: 'net', id: 'net1', port: 'pa', speed: 10 }, 'device'],
      [{ kind: 'gpu' }, 'device.kind'],
      [{ kind: 'net', id: 'net1', port: 'nope' }, 'device.port'],
      [{ kind: 'net', id: 'net1', port: 'pc' }, 'device.port'], // held by vm 'holder'
      [{ kind: 'net', port: 'pa', id: 'net0' }, 'device.id'], // duplicate id
      [{ kind: 'blk', backend: 'null', capacityMiB: 1, core: 9 }, 'device.core'],
      [{ kind: 'vsock', cid: 77 }, 'device.kind'],
    ];
    for (const [spec, field] of bad) {
      const e = await refused(() => vm.hotplug(spec as never), ErrorCode.InvalidArgument);
      expect(e.details['field'], JSON.stringify(spec)).toBe(field);
      expect(e.message).toContain(field);
    }
    const unknown = await refused(vm.unplug('blk7'), ErrorCode.NotFound);
    expect(unknown.details['field']).toBe('id');
    expect(host.memory.stats()).toEqual(mem);
    expect(await agentDevices()).toEqual(devs);
    expect(vm.devices.map((d) => d.id)).toEqual(['net0']);
    // Create refuses a port in use too, naming its place in the spec.
    const clash = await refused(
      host.vms.create({ name: 'clash', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'net', port: 'pd' }] }),
      ErrorCode.InvalidArgument,
    );
    expect(clash.details['field']).toBe('devices.0.port');
    expect(host.vms.get('clash')).toBeUndefined();
    await vm.destroy();
    await other.destroy();
  });
});
