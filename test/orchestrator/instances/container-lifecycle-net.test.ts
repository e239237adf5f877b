/**
 * A container's network follows its lifecycle. Stopped or paused, its stack is out of the
 * container host's VLAN split: the switch still delivers its frames to the host's NIC, and
 * nothing answers them (no ICMP, no UDP echo); started or resumed, it answers again; destroyed,
 * its stack and sub-port are freed. The container host restarted through `host.vms` (stop and
 * start, reboot, destroy) rather than `host.instances`: its containers are shut off with a
 * 'host-shutoff' event (or destroyed with 'host-destroyed'), keep their quotas and sub-ports,
 * and come back reachable when started, the host's network being laid out again at its boot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/common/errors.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { ContainerInstance } from '../../../src/orchestrator/instances/container-instance.js';
import type { InstanceStateEvent } from '../../../src/orchestrator/instances/instance.js';
import type { VmNetHandle } from '../../../src/orchestrator/vms/vm-device.js';

const MIB = 1 << 20;
const answered = (rtts: number[]): number => rtts.filter((r) => Number.isFinite(r)).length;

describe('host.instances: a container network that follows the lifecycle of the container and of its host', () => {
  let host: Host;
  let vcpu: GuestVcpu;
  let vm: GuestNet;
  let sport = 41000;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 640 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 256 },
      vms: { poolMiB: 128 },
      instances: { containerHost: { port: 'trunk', memoryMiB: 32, capacity: 64 } },
    });
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createPort({ name: 'trunk', subnet: 'web', ip: '198.19.1.2' });
    net.createPort({ name: 'pa', subnet: 'web', ip: '198.19.1.10' });
    const v = await host.vms.create({ name: 'va', vcpus: 1, memoryMiB: 16, devices: [{ kind: 'net', port: 'pa' }] });
    await v.start();
    const h = v.device('net0') as VmNetHandle;
    vcpu = new GuestVcpu(host.memory, 'va/net0');
    vm = await GuestNet.create(v.ram, vcpu, { ip: '198.19.1.10', queueSize: 256 });
    await vm.attach(h.device, h.notify);
  });
  afterAll(async () => {
    await vcpu.stop();
    await host.shutdown();
  });

  const container = async (name: string, ip: string): Promise<ContainerInstance> =>
    (await host.instances.create({ kind: 'container', name, network: { subnet: 'web', ip } })) as ContainerInstance;
  /** Pings from the VM: answered out of `count`. */
  const ping = async (ip: string, count: number, timeoutMs: number): Promise<number> =>
    answered(await vm.ping(ip, count, timeoutMs));
  /**
   * `count` UDP datagrams to the container's echo port; how many came back to the VM within
   * `waitMs`. Every stream numbers its datagrams from 0, so the sink counts a repeat as a duplicate.
   */
  const udpEcho = async (ip: string, count: number, waitMs: number): Promise<number> => {
    sport++;
    await vm.setPorts(0, sport);
    const back = (): number => vm.sink().received + vm.sink().duplicates;
    const before = back();
    expect(await vm.sendUdp(ip, 7, count, 64, { srcPort: sport })).toBe(count);
    const deadline = Date.now() + waitMs;
    while (back() - before < count && Date.now() < deadline) await vm.waitSink(2 ** 30, 20);
    return back() - before;
  };
  const outTo = (port: string): number => host.network.portStats(port)!.outPackets;

  it('a stopped or paused container answers nothing; started or resumed it answers again; destroyed it is freed', async () => {
    const a = await container('ca', '198.19.1.50');
    const n = await container('cn', '198.19.1.51');
    await a.start();
    await n.start();
    expect(await ping('198.19.1.50', 5, 2000)).toBe(5);
    expect(await udpEcho('198.19.1.50', 20, 5000)).toBe(20);

    // Stopped: the switch still hands its frames to the container host; its stack sees none.
    await a.stop();
    const seen = a.netCounters()!;
    const out = outTo('ct-ca');
    expect(await ping('198.19.1.50', 5, 300)).toBe(0);
    expect(await udpEcho('198.19.1.50', 20, 300)).toBe(0);
    expect(outTo('ct-ca') - out).toBeGreaterThanOrEqual(25);
    expect(a.netCounters()).toEqual(seen);
    // The split itself runs on: the neighbour answers.
    expect(await ping('198.19.1.51', 1, 2000)).toBe(1);

    // Started again: it answers again.
    await a.start();
    expect(await ping('198.19.1.50', 5, 2000)).toBe(5);
    expect(await udpEcho('198.19.1.50', 20, 5000)).toBe(20);
    expect(a.netCounters()!.echoRequests).toBe(seen.echoRequests + 5);

    // Paused, resumed: the same.
    await a.pause();
    const paused = a.netCounters()!;
    expect(await ping('198.19.1.50', 5, 300)).toBe(0);
    expect(a.netCounters()).toEqual(paused);
    // A container that does not run cannot send either.
    await expect(a.ping('198.19.1.51')).rejects.toMatchObject({ code: ErrorCode.InvalidState });
    await a.resume();
    expect(await ping('198.19.1.50', 5, 2000)).toBe(5);
    expect(answered(await a.ping('198.19.1.51', { count: 2, timeoutMs: 10_000 }))).toBe(2);

    // Destroyed: its stack's room and its sub-port are given back.
    const before = await host.instances.containerStats();
    await a.destroy();
    const after = await host.instances.containerStats();
    expect([after.networkStacks, after.networkRoom]).toEqual([before.networkStacks - 1, before.networkRoom + 1]);
    expect(host.network.list().ports.find((p) => p.name === 'ct-ca')).toBeUndefined();
    expect(await ping('198.19.1.50', 1, 300)).toBe(0);
    await n.destroy();
    expect((await host.instances.containerStats()).networkStacks).toBe(0);
  });

  it('the container host restarted through host.vms: containers shut off with an event, back when started', async () => {
    const a = await container('cb', '198.19.1.60');
    const p = await container('cp', '198.19.1.61');
    const events: InstanceStateEvent[] = [];
    host.instances.on('instance.state', (e) => {
      if (e.kind === 'container') events.push(e);
    });
    await a.start();
    await p.start();
    await p.pause();
    expect(await ping('198.19.1.60', 3, 2000)).toBe(3);
    const quota = await host.instances.containerStats();
    expect(quota).toMatchObject({ containers: 2, memoryBytes: 2 * MIB, hostUp: true, networkStacks: 2 });
    const ch = host.vms.get('container-host')!;
    const vmEvents: string[] = [];
    ch.on('state', (e) => vmEvents.push(`${e.previous}>${e.state}`));

    // Stop, then start, through host.vms.
    await ch.stop();
    expect([a.state, p.state]).toEqual(['shutoff', 'shutoff']);
    expect(events.slice(-2)).toEqual([
      { instance: 'cb', kind: 'container', state: 'shutoff', previous: 'running', reason: 'host-shutoff' },
      { instance: 'cp', kind: 'container', state: 'shutoff', previous: 'paused', reason: 'host-shutoff' },
    ]);
    // Quotas and sub-ports are kept; nothing starts while the host is off.
    expect(await host.instances.containerStats()).toEqual(quota);
    expect((await a.stats()).memoryBytes).toBe(MIB);
    await expect(a.start()).rejects.toMatchObject({ code: ErrorCode.InvalidState });
    expect(a.state).toBe('shutoff');
    await ch.start();
    expect(await host.instances.containerStats()).toEqual(quota);
    // The host runs, its containers do not: nothing answers until they start.
    expect(await ping('198.19.1.60', 3, 300)).toBe(0);
    await a.start();
    expect(await ping('198.19.1.60', 5, 2000)).toBe(5);
    expect(await udpEcho('198.19.1.60', 20, 5000)).toBe(20);
    expect(a.netCounters()!.echoRequests).toBe(5); // a fresh stack: the host booted again

    // A reboot (graceful shutdown, then a start): the same.
    await p.start();
    await ch.reboot({ timeoutMs: 10_000 });
    expect([a.state, p.state]).toEqual(['shutoff', 'shutoff']);
    expect(await ping('198.19.1.60', 3, 300)).toBe(0);
    await a.start();
    await p.start();
    expect(await ping('198.19.1.60', 5, 2000)).toBe(5);
    expect(await ping('198.19.1.61', 5, 2000)).toBe(5);
    expect(answered(await p.ping('198.19.1.60', { count: 3, timeoutMs: 10_000 }))).toBe(3);
    expect(await host.instances.containerStats()).toEqual(quota);

    // Destroyed through host.vms: its containers go with it, their sub-ports too.
    await ch.destroy();
    expect([a.state, p.state]).toEqual(['destroyed', 'destroyed']);
    expect(host.instances.list().filter((i) => i.kind === 'container')).toEqual([]);
    expect(host.network.list().ports.filter((x) => x.kind === 'sub')).toEqual([]);
    expect(await host.instances.containerStats()).toEqual({
      containers: 0,
      memoryBytes: 0,
      hostUp: false,
      networkStacks: 0,
      networkRoom: 0,
    });
    // The next container boots a new host, and is reachable. (A new address: the sub-port of the
    // name's new container has a new MAC, which the VM's ARP cache, never expired, would not know.)
    const c = await container('cb', '198.19.1.62');
    await c.start();
    expect(await ping('198.19.1.62', 5, 2000)).toBe(5);
    await c.destroy();

    // Every transition of every container told once, in order, whatever caused it.
    const of = (name: string) =>
      events.filter((e) => e.instance === name).map((e) => `${e.previous}>${e.state} ${e.reason}`);
    expect(of('cb')).toEqual([
      'defined>running start',
      'running>shutoff host-shutoff',
      'shutoff>running start',
      'running>shutoff host-shutoff',
      'shutoff>running start',
      'running>destroyed host-destroyed',
      'none>defined create',
      'defined>running start',
      'running>destroyed destroy',
    ]);
    expect(of('cp')).toEqual([
      'defined>running start',
      'running>paused pause',
      'paused>shutoff host-shutoff',
      'shutoff>running start',
      'running>shutoff host-shutoff',
      'shutoff>running start',
      'running>destroyed host-destroyed',
    ]);
    expect(vmEvents).toEqual([
      'running>shutoff',
      'shutoff>running',
      'running>shutoff',
      'shutoff>running',
      'running>destroyed',
    ]);
  });
});
