// host.network's slow path runs on the switch's core from a replica of the VPC model: changes
// made before, while and after the datapath starts all reach the replica, in order.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import type { AttachedPort, HostNetwork } from '../../../src/dpu/net/host-network.js';
import { parseMac } from '../../../src/dpu/net/mac-address.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { Host } from '../../../src/orchestrator/host.js';
import { GuestNic } from './guest-nic.js';
import { ipFrame } from './helpers.js';

let host: Host;
let net: HostNetwork;

beforeAll(async () => {
  host = await Host.boot({ memory: { sizeBytes: 512 << 20 }, dpu: { cores: 1 } });
  net = host.network;
});
afterAll(async () => {
  await host?.shutdown();
});

function guest(name: string): Guest {
  return new Guest(host.memory, { name, ramBytes: 4 << 20 });
}

function nic(g: Guest, p: AttachedPort): GuestNic {
  const n = new GuestNic(g, p, host.memory);
  n.postRx(64);
  return n;
}

/** A port as frames need it. */
function addr(name: string): { mac: number; ip: number } {
  const p = net.list().ports.find((x) => x.name === name)!;
  return { mac: parseMac(p.mac), ip: parseIPv4(p.ip) };
}

function frame(from: string, to: string, proto: 'icmp' | 'udp', dstPort = 7, srcPort = 40000): Uint8Array {
  const s = addr(from);
  const d = addr(to);
  return ipFrame({ srcMac: s.mac, dstMac: d.mac, src: s.ip, dst: d.ip, proto, srcPort, dstPort, id: srcPort });
}

describe('host.network: the slow path on the switch core', () => {
  let na: GuestNic, nb: GuestNic;

  it('has no datapath, so no stats, before a port is attached', () => {
    expect(net.stats()).toBeNull();
  });

  it('keeps every change made while the datapath starts, in order', async () => {
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.0.0/22' });
    net.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
    const ga = guest('ga');
    // The first attach starts the datapath (the switch on a core, then the slow path's job).
    let attached: AttachedPort | null = null;
    const starting = net.attachPort('a', ga).then((p) => (attached = p));
    // Changes at every turn of the event loop until it is up, each depending on the ones before:
    // a replica that missed or reordered one would refuse a later one and fail (slowPathError).
    let made = 0;
    let lastPort = 'b';
    const udpPorts: number[] = [];
    const change = (): void => {
      const i = made++;
      if (i === 0)
        net.createSecurityGroup({
          name: 'echo',
          rules: [
            { direction: 'ingress', protocol: 'icmp' },
            { direction: 'egress', protocol: 'any' },
          ],
        });
      else if (i === 1) net.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20', securityGroups: ['echo'] });
      else if (i % 2 === 0) {
        net.addSecurityGroupRule('echo', { direction: 'ingress', protocol: 'udp', ports: [i, i] });
        udpPorts.push(i);
      } else {
        lastPort = `x${i}`;
        net.createPort({ name: lastPort, subnet: 'web', ip: `198.19.2.${i}`, securityGroups: ['echo'] });
      }
    };
    change(); // in the same step as the attach: before the switch is on its core
    while (attached === null && made < 250) {
      await sleep(1);
      change();
    }
    await starting;
    // It took more than a few turns: changes fell before the switch was on its core, and between
    // the slow path's construction and its job's start (its change log).
    expect(made).toBeGreaterThan(4);
    change(); // and right after
    change();

    na = nic(ga, attached!);
    const gb = guest('gb');
    nb = nic(gb, await net.attachPort('b', gb));
    const gx = guest('gx');
    const nx = nic(gx, await net.attachPort(lastPort, gx));
    // b's group lets ICMP in, and UDP to each port whose rule the replica kept.
    na.send(frame('a', 'b', 'icmp'));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    for (const port of udpPorts) {
      na.send(frame('a', 'b', 'udp', port));
      expect(await nb.waitRecv(1), `UDP to port ${port} (of ${made} changes)`).toHaveLength(1);
    }
    na.send(frame('a', 'b', 'udp', 1999));
    // The last port made (attached afterwards) is the replica's too: its frames go through.
    nx.send(frame(lastPort, 'b', 'icmp'));
    expect(await nb.waitRecv(2, 500)).toHaveLength(1);
    const st = net.stats()!;
    expect(st.slowPathError).toBeNull();
    expect(st.slowPath.drops['security-group']).toBe(1);
    expect(st.slowPath.drops['spoofed-source']).toBe(0);
    expect(st.slowPath.counters.upcalls).toBeGreaterThanOrEqual(udpPorts.length + 3);
  });

  it('a change after start is in force for the next packet; stats() shows no error', async () => {
    net.addSecurityGroupRule('echo', { direction: 'ingress', protocol: 'udp', ports: [1999, 1999] });
    na.send(frame('a', 'b', 'udp', 1999, 41000));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    const st = net.stats()!;
    expect(st.slowPathError).toBeNull();
    expect(st.slowPath.drops['security-group']).toBe(1);
  });

  it('refuses a change too big for the log before the model takes it', () => {
    const before = net.list().vpcs.length;
    let err: unknown;
    try {
      net.createVpc({ name: 'x'.repeat(600_000), cidr: '198.18.64.0/24' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'QT_INVALID_ARGUMENT' });
    expect((err as Error).message).toMatch(/^createVpc: \d+ bytes as JSON, at most \d+/);
    expect(net.list().vpcs).toHaveLength(before);
    expect(net.stats()!.slowPathError).toBeNull();
  });

  it('a change the stuck core has no room for times out, and the model does not take it', async () => {
    const core = host.dpu.core(0);
    const prefix = '198.19.200.0/24';
    // Quiesced, the core takes no changes: they stay in the log (host.network does not wait).
    await core.quiesce();
    let made = 0;
    let failedOn: 'add' | 'remove' | null = null;
    let err: unknown;
    try {
      for (; made < 100_000; made++) {
        failedOn = 'add';
        net.addRoute({ vpc: 'blue', prefix, target: 'blackhole' });
        failedOn = 'remove';
        net.removeRoute('blue', prefix);
      }
      failedOn = null;
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'QT_TIMEOUT' });
    expect((err as Error).message).toMatch(/is not taking changes; the change was not made$/);
    // The log (1 MiB) took thousands of changes before it was full.
    expect(made).toBeGreaterThan(1000);
    // The change that timed out is not in the model: the route is there only if its removal failed.
    const routed = net.list().routes.some((r) => r.prefix === prefix);
    expect(routed).toBe(failedOn === 'remove');
    await core.resume();
    // The replica replays the log and decides a routed first packet to the prefix as the model
    // would: dropped by the blackhole route, or for want of a route.
    const reason = routed ? 'blackhole' : 'no-route';
    const was = net.stats()!.slowPath.drops[reason];
    const a = addr('a');
    const router = parseMac(net.list().vpcs.find((v) => v.name === 'blue')!.routerMac);
    const dst = parseIPv4('198.19.200.5');
    na.send(ipFrame({ srcMac: a.mac, dstMac: router, src: a.ip, dst, proto: 'udp', srcPort: 42000, id: 42000 }));
    const deadline = Date.now() + 30_000;
    while (net.stats()!.slowPath.drops[reason] === was && Date.now() < deadline) await sleep(10);
    expect(net.stats()!.slowPath.drops[reason]).toBe(was + 1);
    expect(net.stats()!.slowPathError).toBeNull();
  }, 60_000);
});
