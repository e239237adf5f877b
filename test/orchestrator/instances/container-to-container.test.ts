/**
 * Container-to-container traffic in one container host. Every frame a container sends leaves
 * the host's NIC tagged with its sub-port's VLAN and crosses the vSwitch, even to a neighbour in
 * the same host: two containers of one subnet reach each other switched (sub-port to sub-port),
 * two of different subnets only through the VPC router (the subnet's gateway: TTL one less, the
 * router's MAC as source), and not at all when a security group or a blackhole route says no.
 * Frames are counted at both stacks, at the switch's sub-ports and in a pcap mirror.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEthernet } from '../../../src/dpu/net/ethernet.js';
import { parseMac } from '../../../src/dpu/net/mac-address.js';
import { readPcap } from '../../../src/dpu/net/pcap-format.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { ContainerInstance } from '../../../src/orchestrator/instances/container-instance.js';

const MIB = 1 << 20;
const answered = (rtts: number[]): number => rtts.filter((r) => Number.isFinite(r)).length;
const ipBytes = (ip: string): number[] => ip.split('.').map(Number);

describe('host.instances: containers reach each other through the trunk, the switch and the router', () => {
  let host: Host;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qt-c2c-'));
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 256 },
      vms: { poolMiB: 96 },
      instances: { containerHost: { port: 'trunk', memoryMiB: 32, capacity: 64 } },
    });
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createSubnet({ name: 'db', vpc: 'blue', cidr: '198.19.2.0/24' });
    net.createPort({ name: 'trunk', subnet: 'web', ip: '198.19.1.2' });
  });
  afterAll(async () => {
    await host.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('switches within a subnet, routes between subnets, and refuses what the network forbids', async () => {
    const make = async (name: string, subnet: string, ip: string) => {
      const c = (await host.instances.create({
        kind: 'container',
        name,
        network: { subnet, ip },
      })) as ContainerInstance;
      await c.start();
      return c;
    };
    const a = await make('ca', 'web', '198.19.1.50');
    const c = await make('cc', 'web', '198.19.1.51');
    const b = await make('cb', 'db', '198.19.2.50');
    const port = (name: string) => host.network.portStats(name)!;

    // Same subnet: a's requests leave on a's sub-port and come back into the host on c's.
    const aIn = port('ct-ca').inPackets;
    const cOut = port('ct-cc').outPackets;
    expect(answered(await a.ping('198.19.1.51', { count: 5, timeoutMs: 10_000 }))).toBe(5);
    expect(c.netCounters()!.echoRequests).toBe(5);
    expect(port('ct-ca').inPackets - aIn).toBeGreaterThanOrEqual(5);
    expect(port('ct-cc').outPackets - cOut).toBeGreaterThanOrEqual(5);
    expect(port('ct-cc').inPackets).toBeGreaterThanOrEqual(5); // c's replies, through the switch too
    expect(b.netCounters()!.rxFrames).toBe(0);

    // A container's send is asked of the host's vCPU 0: with the host paused nobody takes it, and
    // it is withdrawn when its time is up, never sent late.
    const ch = host.vms.get('container-host')!;
    await ch.pause();
    expect(await a.ping('198.19.1.51', { count: 1, timeoutMs: 300 })).toEqual([NaN]);
    await ch.resume();
    expect(answered(await a.ping('198.19.1.51', { count: 1, timeoutMs: 10_000 }))).toBe(1);
    expect(c.netCounters()!.echoRequests).toBe(6);

    // Another subnet: through the router, as the mirror of b's sub-port shows.
    const router = parseMac(host.network.list().vpcs.find((v) => v.name === 'blue')!.routerMac);
    const pcap = join(dir, 'cb.pcap');
    await host.network.mirrorPort('ct-cb', pcap);
    expect(answered(await a.ping('198.19.2.50', { count: 5, timeoutMs: 10_000 }))).toBe(5);
    await host.network.unmirrorPort('ct-cb');
    expect(b.netCounters()!.echoRequests).toBe(5);
    const icmp = readPcap(new Uint8Array(readFileSync(pcap))).packets.flatMap((p) => {
      const eth = parseEthernet(p.data);
      if (!eth || eth.ethertype !== 0x0800 || p.data[eth.payloadOffset + 9] !== 1) return [];
      const ip = p.data.subarray(eth.payloadOffset);
      return [{ eth, type: ip[20]!, ttl: ip[8]!, src: [...ip.subarray(12, 16)], dst: [...ip.subarray(16, 20)] }];
    });
    const requests = icmp.filter((f) => f.type === 8);
    const replies = icmp.filter((f) => f.type === 0);
    expect(requests).toHaveLength(5);
    expect(replies).toHaveLength(5);
    for (const f of requests) {
      expect([f.eth.src, f.ttl, f.src, f.dst]).toEqual([router, 63, ipBytes('198.19.1.50'), ipBytes('198.19.2.50')]);
    }
    for (const f of replies) expect([f.eth.dst, f.src]).toEqual([router, ipBytes('198.19.2.50')]);
    // c, on a's subnet, saw none of it.
    expect(c.netCounters()!.echoRequests).toBe(6);

    // A security group on b that admits ICMP only from a third subnet: a is refused at the switch.
    const drops = () => host.network.stats()!.slowPath.drops;
    host.network.createSecurityGroup({
      name: 'db-only',
      rules: [{ direction: 'ingress', protocol: 'icmp', remote: '198.19.3.0/24' }],
    });
    host.network.setPortSecurityGroups('ct-cb', ['db-only']);
    const bRx = b.netCounters()!.rxFrames;
    const sgDrops = drops()['security-group'];
    expect(answered(await a.ping('198.19.2.50', { count: 3, timeoutMs: 300 }))).toBe(0);
    expect(b.netCounters()!.rxFrames).toBe(bRx);
    expect(drops()['security-group']).toBeGreaterThan(sgDrops);
    // Admitting a's subnet lets it through again (the replies ride on the connection).
    host.network.addSecurityGroupRule('db-only', { direction: 'ingress', protocol: 'icmp', remote: '198.19.1.0/24' });
    expect(answered(await a.ping('198.19.2.50', { count: 3, timeoutMs: 10_000 }))).toBe(3);
    expect(b.netCounters()!.echoRequests).toBe(8);

    // A blackhole route for b's address: the router drops what a sends it.
    host.network.addRoute({ vpc: 'blue', prefix: '198.19.2.50/32', target: 'blackhole' });
    const holed = drops().blackhole;
    expect(answered(await a.ping('198.19.2.50', { count: 3, timeoutMs: 300 }))).toBe(0);
    expect(b.netCounters()!.echoRequests).toBe(8);
    expect(drops().blackhole).toBeGreaterThan(holed);
    host.network.removeRoute('blue', '198.19.2.50/32');
    expect(answered(await a.ping('198.19.2.50', { count: 2, timeoutMs: 10_000 }))).toBe(2);

    // No route at all: an address of no subnet of the VPC goes nowhere.
    const noRoute = drops()['no-route'];
    expect(answered(await a.ping('198.20.0.9', { count: 1, timeoutMs: 300 }))).toBe(0);
    expect(drops()['no-route']).toBeGreaterThan(noRoute);

    for (const x of [a, b, c]) await x.destroy();
  });
});
