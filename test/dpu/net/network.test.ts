import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { parseArp } from '../../../src/dpu/net/arp.js';
import { parseEthernet } from '../../../src/dpu/net/ethernet.js';
import { parseMac } from '../../../src/dpu/net/mac-address.js';
import type { HostNetwork } from '../../../src/dpu/net/host-network.js';
import { readPcap } from '../../../src/dpu/net/pcap-format.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { Host } from '../../../src/orchestrator/host.js';
import { GuestNic } from './guest-nic.js';
import { arpRequest, ipFrame } from './helpers.js';

let host: Host;
let net: HostNetwork;
let nb: GuestNic;
const dir = mkdtempSync(join(tmpdir(), 'qt-network-'));

beforeAll(async () => {
  host = await Host.boot({ memory: { sizeBytes: 512 << 20 }, dpu: { cores: 1 } });
  net = host.network;
});
afterAll(async () => {
  await host?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function nic(port: string, name: string): Promise<GuestNic> {
  const g = new Guest(host.memory, { name, ramBytes: 4 << 20 });
  const n = new GuestNic(g, await net.attachPort(port, g), host.memory);
  n.postRx(64);
  return n;
}

describe('host.network', () => {
  it('refuses bad options at boot and names the field', async () => {
    const e = await Host.boot({ network: { maxPorts: 1 } }).catch((x: unknown) => x);
    expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect((e as Error).message).toMatch(/network options\.maxPorts: expected an integer in \[2, 4096\], got 1/);
    const small = await Host.boot({ network: { slowPathMiB: 4 } }).catch((x: unknown) => x);
    expect((small as Error).message).toMatch(/network options\.slowPathMiB: expected an integer in \[8, 4096\], got 4/);
  });

  it('two guests ping and stream UDP through the switch; a security group drops a port', async () => {
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createSecurityGroup({
      name: 'echo',
      rules: [
        { direction: 'ingress', protocol: 'icmp' },
        { direction: 'ingress', protocol: 'udp', ports: [7, 7] },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    const a = net.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
    const b = net.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20', securityGroups: ['echo'] });
    const A = { mac: parseMac(a.mac), ip: parseIPv4(a.ip) };
    const B = { mac: parseMac(b.mac), ip: parseIPv4(b.ip) };
    const na = await nic('a', 'ga');
    nb = await nic('b', 'gb');
    await net.mirrorPort('b', join(dir, 'b.pcap'));

    na.send(arpRequest(A, b.ip));
    const [arp] = await na.waitRecv(1);
    expect(parseArp(arp!, 14)).toMatchObject({ op: 2, senderMac: B.mac });

    na.send(ipFrame({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, proto: 'icmp', id: 9 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    nb.send(ipFrame({ srcMac: B.mac, dstMac: A.mac, src: B.ip, dst: A.ip, proto: 'icmp', icmpType: 0, id: 9 }));
    expect(await na.waitRecv(1)).toHaveLength(1);

    // 200 datagrams to b's echo port: the first sets the flow up, then all arrive.
    na.send(ipFrame({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, proto: 'udp', srcPort: 5000, dstPort: 7 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    const udp: Uint8Array[] = [];
    for (let i = 1; i < 200; i++) {
      const payload = {
        srcMac: A.mac,
        dstMac: B.mac,
        src: A.ip,
        dst: B.ip,
        proto: 'udp',
        srcPort: 5000,
        dstPort: 7,
        id: i,
      } as const;
      na.send(ipFrame(payload));
      // The receiving guest keeps its RX ring stocked, as a driver's NAPI poll does.
      if (i % 16 === 0) udp.push(...(await nb.waitRecv(16, 50)));
    }
    udp.push(...(await nb.waitRecv(199 - udp.length)));
    expect(udp).toHaveLength(199);
    // Port 9 is not in b's group: nothing arrives; the slow path drops the first and installs a
    // drop flow, the fast path drops the rest.
    const installs = net.stats()!.switch.installs;
    na.send(ipFrame({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, proto: 'udp', srcPort: 5000, dstPort: 9 }));
    await until(() => net.stats()!.switch.installs > installs);
    for (let i = 0; i < 4; i++)
      na.send(ipFrame({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, proto: 'udp', srcPort: 5000, dstPort: 9 }));
    expect(await nb.waitRecv(1, 300)).toHaveLength(0);
    const st = net.stats()!;
    expect(st.slowPath.drops['security-group']).toBe(1);
    expect(st.fastPathDrops['security-group']).toBe(4);
    expect(st.ports['b']!.outPackets).toBe(201);
    const flows = net.flows();
    expect(flows.find((f) => f.inPort === 'a' && f.outPort === 'b' && f.packets >= 199)).toBeDefined();

    await net.unmirrorPort('b');
    const cap = readPcap(new Uint8Array(readFileSync(join(dir, 'b.pcap'))));
    // In: the echo reply; out: the echo request and 200 datagrams.
    expect(cap.packets.length).toBe(202);
  });

  it('a trunk sub-port has its own address and reaches another subnet only through the router', async () => {
    net.createSubnet({ name: 'ctr', vpc: 'blue', cidr: '198.19.10.0/24' });
    net.createPort({ name: 'vm', subnet: 'web', ip: '198.19.1.30' });
    const sub = net.createSubPort({ name: 'c1', parent: 'vm', vlan: 10, subnet: 'ctr', ip: '198.19.10.5' });
    const nvm = await nic('vm', 'gvm');
    expect(await nvm.promiscuous(true)).toBe(0);
    const C = { mac: parseMac(sub.mac), ip: parseIPv4(sub.ip) };
    const router = parseMac(net.list().vpcs[0]!.routerMac);
    const b = net.list().ports.find((p) => p.name === 'b')!;
    // Straight to b's MAC from another subnet: dropped. Through the router: delivered.
    nvm.send(ipFrame({ srcMac: C.mac, dstMac: parseMac(b.mac), vlan: 10, src: C.ip, dst: b.ip, proto: 'icmp', id: 3 }));
    await new Promise((r) => setTimeout(r, 100));
    expect(net.stats()!.slowPath.drops['unknown-destination']).toBe(1);
    nvm.send(ipFrame({ srcMac: C.mac, dstMac: router, vlan: 10, src: C.ip, dst: b.ip, proto: 'icmp', id: 3 }));
    const [routed] = await nb.waitRecv(1);
    const eth = parseEthernet(routed!)!;
    // Untagged on b's side, from the router, TTL one less.
    expect([eth.vlans, eth.src, eth.dst, routed![14 + 8]]).toEqual([[], router, parseMac(b.mac), 63]);
    // b answers through the router; the reply reaches the sub-port tagged with its VLAN.
    const B = { mac: parseMac(b.mac), ip: parseIPv4(b.ip) };
    nb.send(ipFrame({ srcMac: B.mac, dstMac: router, src: B.ip, dst: C.ip, proto: 'icmp', icmpType: 0, id: 3 }));
    const [back] = await nvm.waitRecv(1);
    expect(parseEthernet(back!)).toMatchObject({ vlans: [10], src: router, dst: C.mac });
    expect(net.list().ports.find((p) => p.name === 'c1')).toMatchObject({ kind: 'sub', parent: 'vm', vlan: 10 });
    expect(net.stats()!.ports['c1']!.inPackets).toBe(2);
  });
});
