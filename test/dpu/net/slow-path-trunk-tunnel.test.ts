import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { parseArp } from '../../../src/dpu/net/arp.js';
import type { Downcall, FlowAction } from '../../../src/dpu/net/flow-actions.js';
import { SlowPath } from '../../../src/dpu/net/slow-path.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port, Tunnel } from '../../../src/dpu/net/vpc-resources.js';
import { arpRequest, from, ipFrame, missed } from './helpers.js';

let model: VpcModel;
let slow: SlowPath;

afterEach(() => {
  slow.groups.dispose();
  model.dispose();
});

function last(d: Downcall[]): string[] {
  return d.map((x) => {
    if (x.op !== 'install' && x.op !== 'install-reinject') return x.op;
    const l = (x as { actions: FlowAction[] }).actions.at(-1)!;
    return l.op === 'drop' ? l.reason : `out:${l.op === 'output' ? l.port : '?'}`;
  });
}

describe('trunk sub-ports', () => {
  let vm: Port, s10: Port, s20: Port, s30: Port, other: Port;
  beforeEach(() => {
    model = new VpcModel({ seed: 5 });
    model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    model.createVpc({ name: 'red', cidr: '198.18.128.0/17' });
    model.createSubnet({ name: 'host', vpc: 'blue', cidr: '198.19.1.0/24' });
    model.createSubnet({ name: 'c10', vpc: 'blue', cidr: '198.19.10.0/24' });
    model.createSubnet({ name: 'c30', vpc: 'blue', cidr: '198.19.30.0/24' });
    model.createSubnet({ name: 'c20', vpc: 'red', cidr: '198.18.200.0/24' });
    vm = model.createPort({ name: 'vm', subnet: 'host', ip: '198.19.1.5' });
    s10 = model.createSubPort({ name: 's10', parent: 'vm', vlan: 10, subnet: 'c10', ip: '198.19.10.5' });
    s20 = model.createSubPort({ name: 's20', parent: 'vm', vlan: 20, subnet: 'c20', ip: '198.18.200.5' });
    s30 = model.createSubPort({ name: 's30', parent: 'vm', vlan: 30, subnet: 'c30', ip: '198.19.30.5' });
    other = model.createPort({ name: 'other', subnet: 'c10', ip: '198.19.10.9' });
    slow = new SlowPath(model, { clock: () => 0 });
  });

  it('each sub-port is its own port: its own address, ARP and anti-spoofing', () => {
    const arp = slow.handle([missed(s10.id, arpRequest(s10, '198.19.10.1', 10))])[0] as {
      frame: Uint8Array;
      actions: FlowAction[];
    };
    expect(parseArp(arp.frame, 14)).toMatchObject({ senderMac: model.vpc('blue').routerMac, targetIp: s10.ip });
    // Output to a sub-port: the fast path pushes its tag.
    expect(arp.actions).toEqual([{ op: 'output', port: s10.id }]);
    const d = slow.handle([missed(s10.id, from(s10, other))]);
    expect(d[0]).toMatchObject({ actions: [{ op: 'pop-vlan' }, { op: 'check-l2' }, { op: 'output', port: other.id }] });
    // The parent's address through a sub-port, a tag that is not the sub-port's, no tag: refused.
    const bad = slow.handle([
      missed(s10.id, from(s10, other, { src: vm.ip })),
      missed(s10.id, from(s10, other, { vlan: 20 })),
      missed(vm.id, from(vm, other, { vlan: 10 })),
    ]);
    expect(last(bad)).toEqual(['spoofed-source', 'unknown-vlan', 'unknown-vlan']);
  });

  it('sub-ports are isolated from each other unless routed', () => {
    const blue = model.vpc('blue').routerMac;
    const red = model.vpc('red').routerMac;
    // Same VPC, other subnets: no switching between them; the VPC router routes them.
    expect(last(slow.handle([missed(s10.id, from(s10, s30))]))).toEqual(['unknown-destination']);
    expect(last(slow.handle([missed(s10.id, from(s10, { ip: s30.ip, mac: blue }))]))).toEqual([`out:${s30.id}`]);
    // Other VPCs: neither switched nor routed, until routes say so both ways.
    expect(last(slow.handle([missed(s10.id, from(s10, s20))]))).toEqual(['unknown-destination']);
    expect(last(slow.handle([missed(s10.id, from(s10, { ip: s20.ip, mac: blue }))]))).toEqual(['no-route']);
    expect(slow.handle([missed(s10.id, arpRequest(s10, s20.ip, 10))])).toEqual([]);
    model.addRoute({ vpc: 'blue', prefix: '198.18.200.5/32', target: { port: 's20' } });
    model.addRoute({ vpc: 'red', prefix: '198.19.10.0/24', target: { port: 's10' } });
    const there = slow.handle([missed(s10.id, from(s10, { ip: s20.ip, mac: blue }))])[0];
    expect(there).toMatchObject({
      actions: [
        { op: 'pop-vlan' },
        { op: 'check-l2' },
        { op: 'dec-ttl' },
        { op: 'set-eth-src', mac: red },
        { op: 'set-eth-dst', mac: s20.mac },
        { op: 'output', port: s20.id },
      ],
    });
    expect(last(slow.handle([missed(s20.id, from(s20, { ip: s10.ip, mac: red }))]))).toEqual([`out:${s10.id}`]);
  });
});

describe('VXLAN tunnel ports', () => {
  let a: Port, r: Port, tunnel: Tunnel;
  const hostIp = parseIPv4('198.18.0.2');
  beforeEach(() => {
    model = new VpcModel({ seed: 6 });
    const vpc = model.createVpc({ name: 'blue', cidr: '198.19.0.0/16', vni: 4242 });
    expect(vpc.vni).toBe(4242);
    model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.0.0/24' });
    a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.0.10' });
    tunnel = model.createTunnel({ name: 't', address: '198.18.0.1', port: 4789 });
    model.createRemoteHost({ name: 'linux', tunnel: 't', address: '198.18.0.2', port: 8472 });
    r = model.createRemotePort({
      name: 'r',
      subnet: 'web',
      ip: '198.19.0.100',
      mac: '02:00:00:00:01:00',
      host: 'linux',
    });
    slow = new SlowPath(model, { clock: () => 0 });
  });

  const fromTunnel = (frame: Uint8Array, address = hostIp, vni = 4242): ReturnType<typeof missed> =>
    missed(tunnel.id, frame, { tunnel: { vni, address, port: 33333 } });

  it('sends to a remote port over VXLAN to its host', () => {
    const d = slow.handle([missed(a.id, from(a, r, { proto: 'udp' }))]);
    expect(d[0]).toMatchObject({
      actions: [
        { op: 'check-l2', src: a.mac, dst: r.mac },
        { op: 'encap-vxlan', vni: 4242, udpPort: 8472, srcIp: parseIPv4('198.18.0.1'), dstIp: hostIp },
        { op: 'output', port: tunnel.id },
      ],
    });
  });

  it("takes frames from the remote port's host only, and answers its ARP through the tunnel", () => {
    const d = slow.handle([fromTunnel(from(r, a, { proto: 'udp' }))]);
    expect(d[0]).toMatchObject({
      actions: [{ op: 'decap-vxlan' }, { op: 'check-l2', src: r.mac }, { op: 'output', port: a.id }],
    });
    const arp = slow.handle([fromTunnel(arpRequest(r, a.ip))])[0] as { actions: FlowAction[]; frame: Uint8Array };
    expect(arp.actions.map((x) => x.op)).toEqual(['encap-vxlan', 'output']);
    expect(parseArp(arp.frame, 14)).toMatchObject({ senderMac: a.mac, senderIp: a.ip, targetMac: r.mac });
    // Another VTEP claiming r, an unknown VNI, r's MAC with another address: refused.
    const bad = slow.handle([
      fromTunnel(from(r, a), parseIPv4('198.18.0.3')),
      fromTunnel(from(r, a), hostIp, 7),
      fromTunnel(from(r, a, { src: '198.19.0.101' })),
    ]);
    expect(last(bad)).toEqual(['spoofed-source']);
    expect(slow.stats().drops['tunnel-source']).toBe(2);
  });

  it("routes to and from a remote host's router, checking the reverse path", () => {
    const routerMac = 0x020000000777;
    model.addRoute({ vpc: 'blue', prefix: '198.19.64.0/18', target: { host: 'linux', mac: '02:00:00:00:07:77' } });
    const vpcMac = model.vpc('blue').routerMac;
    const out = slow.handle([missed(a.id, from(a, { ip: parseIPv4('198.19.64.9'), mac: vpcMac }))])[0];
    expect(out).toMatchObject({
      actions: [
        {},
        { op: 'dec-ttl' },
        { op: 'set-eth-src', mac: vpcMac },
        { op: 'set-eth-dst', mac: routerMac },
        { op: 'encap-vxlan' },
        { op: 'output', port: tunnel.id },
      ],
    });
    const inbound = (src: string): Uint8Array =>
      ipFrame({ srcMac: routerMac, dstMac: vpcMac, src, dst: a.ip, proto: 'icmp' });
    expect(last(slow.handle([fromTunnel(inbound('198.19.64.9'))]))).toEqual([`out:${a.id}`]);
    expect(last(slow.handle([fromTunnel(inbound('198.19.1.9'))]))).toEqual(['spoofed-source']);
  });
});
