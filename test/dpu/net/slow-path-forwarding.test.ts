import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseArp } from '../../../src/dpu/net/arp.js';
import { parseEthernet } from '../../../src/dpu/net/ethernet.js';
import type { Downcall } from '../../../src/dpu/net/flow-actions.js';
import { SlowPath } from '../../../src/dpu/net/slow-path.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { arpRequest, from, ipFrame, missed } from './helpers.js';

let model: VpcModel;
let slow: SlowPath;
let a: Port, b: Port, c: Port;

beforeEach(() => {
  model = new VpcModel({ seed: 3 });
  model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
  model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
  model.createSubnet({ name: 'db', vpc: 'blue', cidr: '198.19.2.0/24' });
  a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
  b = model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20' });
  c = model.createPort({ name: 'c', subnet: 'db', ip: '198.19.2.30' });
  slow = new SlowPath(model, { clock: () => 0 });
});
afterEach(() => {
  slow.groups.dispose();
  model.dispose();
});

const router = (): number => model.vpc('blue').routerMac;
const one = (d: Downcall[]): Downcall => {
  expect(d).toHaveLength(1);
  return d[0]!;
};

describe('slow path: ARP responder', () => {
  it('answers for ports of the subnet and its gateway, from the switch, never flooding', () => {
    const d = one(slow.handle([missed(a.id, arpRequest(a, '198.19.1.20'))]));
    expect(d).toMatchObject({ op: 'reinject', port: 0, actions: [{ op: 'output', port: a.id }] });
    const frame = (d as { frame: Uint8Array }).frame;
    const eth = parseEthernet(frame)!;
    expect([eth.dst, eth.src]).toEqual([a.mac, b.mac]);
    expect(parseArp(frame, eth.payloadOffset)).toEqual({
      op: 2,
      senderMac: b.mac,
      senderIp: b.ip,
      targetMac: a.mac,
      targetIp: a.ip,
    });
    const gw = one(slow.handle([missed(a.id, arpRequest(a, '198.19.1.1'))])) as { frame: Uint8Array };
    expect(parseArp(gw.frame, 14)!.senderMac).toBe(router());
    // Another subnet's port, or nobody: no answer, nothing installed (ARP is never cached).
    expect(
      slow.handle([missed(a.id, arpRequest(a, '198.19.2.30')), missed(a.id, arpRequest(a, '198.19.1.99'))]),
    ).toEqual([]);
    expect(slow.stats().counters.arpReplies).toBe(2);
  });

  it('ignores requests that lie about the sender (anti-spoofing) and announcements', () => {
    expect(slow.handle([missed(a.id, arpRequest({ mac: a.mac, ip: b.ip }, '198.19.1.1'))])).toEqual([]);
    expect(slow.handle([missed(a.id, arpRequest({ mac: b.mac, ip: a.ip }, '198.19.1.1'))])).toEqual([]);
    expect(slow.handle([missed(a.id, arpRequest(a, a.ip))])).toEqual([]);
    expect(slow.stats().drops['spoofed-source']).toBe(2);
  });
});

describe('slow path: switching and routing', () => {
  it('switches within a subnet: installs the flow and re-injects the packet', () => {
    const pkt = missed(a.id, from(a, b));
    const d = one(slow.handle([pkt]));
    expect(d).toMatchObject({
      op: 'install-reinject',
      seq: pkt.seq,
      port: a.id,
      key: pkt.key,
      cookie: (a.id << 16) | b.id,
      actions: [
        { op: 'check-l2', src: a.mac, dst: b.mac },
        { op: 'output', port: b.id },
      ],
    });
  });

  it('routes through the VPC router: TTL down, MACs rewritten', () => {
    const d = one(slow.handle([missed(a.id, from(a, { ip: c.ip, mac: router() }))]));
    expect(d).toMatchObject({
      op: 'install-reinject',
      actions: [
        { op: 'check-l2', src: a.mac, dst: router() },
        { op: 'dec-ttl' },
        { op: 'set-eth-src', mac: router() },
        { op: 'set-eth-dst', mac: c.mac },
        { op: 'output', port: c.id },
      ],
    });
  });

  it('does not switch across subnets, to unknown MACs, to broadcast or back to the sender', () => {
    const d = slow.handle([
      missed(a.id, from(a, c)),
      missed(a.id, from(a, { ip: b.ip, mac: 0x02000000abcd })),
      missed(a.id, from(a, { ip: b.ip, mac: 0xffffffffffff })),
      missed(a.id, from(a, { ip: a.ip, mac: router() })),
    ]);
    // Each drop flow checks the MACs first: the same key to another MAC comes back up.
    expect(d.map((x) => (x.op === 'install' ? x.actions : x.op))).toEqual([
      [
        { op: 'check-l2', src: a.mac, dst: c.mac },
        { op: 'drop', reason: 'unknown-destination' },
      ],
      [
        { op: 'check-l2', src: a.mac, dst: 0x02000000abcd },
        { op: 'drop', reason: 'unknown-destination' },
      ],
      [
        { op: 'check-l2', src: a.mac, dst: 0xffffffffffff },
        { op: 'drop', reason: 'unknown-destination' },
      ],
      [
        { op: 'check-l2', src: a.mac, dst: router() },
        { op: 'drop', reason: 'hairpin' },
      ],
    ]);
  });

  it('drops for blackhole routes, missing routes and addresses nobody holds', () => {
    model.addRoute({ vpc: 'blue', prefix: '198.19.200.0/24', target: 'blackhole' });
    const d = slow.handle([
      missed(a.id, from(a, { ip: parseIPv4('198.19.200.1'), mac: router() })),
      missed(a.id, from(a, { ip: parseIPv4('10.1.1.1'), mac: router() })),
      missed(a.id, from(a, { ip: parseIPv4('198.19.2.99'), mac: router() })),
    ]);
    expect(d.map((x) => (x.op === 'install' ? x.actions.at(-1) : x.op))).toEqual([
      { op: 'drop', reason: 'blackhole' },
      { op: 'drop', reason: 'no-route' },
      { op: 'drop', reason: 'unknown-destination' },
    ]);
    // A more specific route to a port wins over the subnet.
    model.addRoute({ vpc: 'blue', prefix: '198.19.2.99/32', target: { port: 'b' } });
    const r = one(slow.handle([missed(a.id, from(a, { ip: parseIPv4('198.19.2.99'), mac: router() }))]));
    expect(r).toMatchObject({
      op: 'install-reinject',
      actions: [{}, {}, {}, { op: 'set-eth-dst', mac: b.mac }, { op: 'output', port: b.id }],
    });
  });

  it('refuses other ethertypes with a cached drop, and upcalls it cannot read without one', () => {
    const v6 = ipFrame({ srcMac: a.mac, dstMac: b.mac, src: a.ip, dst: b.ip, proto: 'udp' });
    v6[12] = 0x86;
    v6[13] = 0xdd;
    const d = slow.handle([missed(a.id, v6), missed(a.id, new Uint8Array(10)), missed(999, from(a, b))]);
    expect(d.map((x) => (x.op === 'install' ? x.actions.at(-1) : x.op))).toEqual([
      { op: 'drop', reason: 'unsupported-ethertype' },
      { op: 'drop', reason: 'unknown-port' },
    ]);
    expect(slow.stats().drops['unsupported-ethertype']).toBe(2);
  });

  it('replaces the flow on a CHECK_L2 mismatch, and installs without re-injecting a truncated frame', () => {
    const d = slow.handle([
      missed(a.id, from(a, { ip: c.ip, mac: router() }), { reason: 'l2-mismatch' }),
      missed(a.id, from(a, b), { truncated: true }),
    ]);
    expect(d.map((x) => x.op)).toEqual(['install-reinject', 'install']);
    expect(slow.stats().counters).toMatchObject({ installed: 2, reinjected: 1, truncated: 1 });
  });
});
