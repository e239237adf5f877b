import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Downcall, FlowAction } from '../../../src/dpu/net/flow-actions.js';
import { Revalidator } from '../../../src/dpu/net/revalidator.js';
import { keyHex, SlowPath } from '../../../src/dpu/net/slow-path.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { from, missed } from './helpers.js';

let model: VpcModel;
let slow: SlowPath;
let sent: Downcall[];
let now: number;
let a: Port, b: Port;

beforeEach(() => {
  now = 5_000_000;
  model = new VpcModel({ seed: 4 });
  model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
  model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
  // 'client': talks to anyone, takes no new connection; 'server': takes ping and UDP 53.
  model.createSecurityGroup({ name: 'client', rules: [{ direction: 'egress', protocol: 'any' }] });
  model.createSecurityGroup({
    name: 'server',
    rules: [
      { direction: 'ingress', protocol: 'icmp', icmpType: 8 },
      { direction: 'ingress', protocol: 'udp', ports: [53, 53], remote: '198.19.1.0/24' },
      { direction: 'egress', protocol: 'any' },
    ],
  });
  slow = new SlowPath(model, { clock: () => now, ctTimeouts: { udpUnreplied: 30, icmp: 30 } });
  sent = [];
  new Revalidator(model, slow, (d) => sent.push(...d));
  a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10', securityGroups: ['client'] });
  b = model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20', securityGroups: ['server'] });
  sent = [];
});
afterEach(() => {
  slow.groups.dispose();
  model.dispose();
});

/** What happened to each packet: 'fwd' (installed and re-injected) or the drop reason. */
function verdicts(d: Downcall[]): string[] {
  return d
    .filter((x) => x.op === 'install' || x.op === 'install-reinject')
    .map((x) => {
      const last = (x as { actions: FlowAction[] }).actions.at(-1)!;
      return last.op === 'drop' ? last.reason : 'fwd';
    });
}

describe('stateful security groups', () => {
  it('allow and deny by rule, and let replies of allowed connections through', () => {
    expect(verdicts(slow.handle([missed(a.id, from(a, b, { proto: 'icmp' }))]))).toEqual(['fwd']);
    expect(slow.stats().connections).toBe(1);
    // b → a: an echo reply of that connection passes, although a admits nothing new.
    expect(verdicts(slow.handle([missed(b.id, from(b, a, { proto: 'icmp', icmpType: 0 }))]))).toEqual(['fwd']);
    // b → a: a new connection (b's own echo request, another identifier) is denied by a's groups.
    expect(verdicts(slow.handle([missed(b.id, from(b, a, { proto: 'icmp', id: 99 }))]))).toEqual(['security-group']);
    // UDP to b: port 53 only.
    const d = slow.handle([
      missed(a.id, from(a, b, { proto: 'udp', dstPort: 53, srcPort: 1000 })),
      missed(a.id, from(a, b, { proto: 'udp', dstPort: 54, srcPort: 1000 })),
    ]);
    // Decisions within a burst come out in stage order, not packet order.
    expect(verdicts(d).sort()).toEqual(['fwd', 'security-group']);
    expect(verdicts(slow.handle([missed(b.id, from(b, a, { proto: 'udp', srcPort: 53, dstPort: 1000 }))]))).toEqual([
      'fwd',
    ]);
    expect(slow.conntrack.entries().map((e) => slow.conntrack.state(e))).toEqual(['echo', 'replied']);
  });

  it('TCP needs a SYN to open; the rest of a connection follows it', () => {
    model.addRule('server', { direction: 'ingress', protocol: 'tcp', ports: [80, 80] });
    const seg = (p: Port, q: Port, flags: number, sp: number, dp: number): ReturnType<typeof missed> =>
      missed(p.id, from(p, q, { proto: 'tcp', srcPort: sp, dstPort: dp, tcpFlags: flags }));
    expect(verdicts(slow.handle([seg(a, b, 0x10, 1234, 80)]))).toEqual([]);
    expect(slow.stats().drops['conntrack-invalid']).toBe(1);
    expect(verdicts(slow.handle([seg(a, b, 0x02, 1234, 80)]))).toEqual(['fwd']);
    expect(verdicts(slow.handle([seg(b, a, 0x12, 80, 1234)]))).toEqual(['fwd']);
    expect(slow.conntrack.state(slow.conntrack.entries()[0]!)).toBe('syn-recv');
    expect(verdicts(slow.handle([seg(a, b, 0x02, 1234, 81)]))).toEqual(['security-group']);
  });

  it('flushes a cached drop of the reverse direction when a connection opens', () => {
    // b → a UDP is denied (a admits nothing) and cached as a drop under cookie b << 16 | a.
    slow.handle([missed(b.id, from(b, a, { proto: 'udp', srcPort: 53, dstPort: 1000 }))]);
    const d = slow.handle([missed(a.id, from(a, b, { proto: 'udp', dstPort: 53, srcPort: 1000 }))]);
    expect(d[0]).toEqual({ op: 'flush-cookie', cookie: ((b.id << 16) | a.id) >>> 0, mask: 0xffffffff });
    expect(verdicts(d)).toEqual(['fwd']);
  });

  it('a rule removed cuts what it allowed: flows flushed, connections closed', () => {
    const rule = [...model.group('server').rules.values()].find((r) => r.proto === 17)!;
    slow.handle([missed(a.id, from(a, b, { proto: 'udp', dstPort: 53 })), missed(a.id, from(a, b, { proto: 'icmp' }))]);
    expect(slow.conntrack.size).toBe(2);
    sent = [];
    model.removeRule('server', rule.id);
    expect(sent).toEqual([
      { op: 'flush-cookie', cookie: (b.id << 16) >>> 0, mask: 0xffff0000 },
      { op: 'flush-cookie', cookie: b.id, mask: 0xffff },
    ]);
    expect(slow.conntrack.entries().map((e) => slow.conntrack.tuple(e).proto)).toEqual([1]);
    expect(verdicts(slow.handle([missed(a.id, from(a, b, { proto: 'udp', dstPort: 53 }))]))).toEqual([
      'security-group',
    ]);
  });

  it('idle connections expire and take their flows with them', () => {
    const pkt = missed(a.id, from(a, b, { proto: 'udp', dstPort: 53 }));
    slow.handle([pkt]);
    const reval = new Revalidator(model, slow, (d) => sent.push(...d));
    sent = [];
    now += 20_000;
    expect(reval.sweep()).toBe(0);
    now += 11_000;
    expect(reval.sweep()).toBe(1);
    expect(sent).toEqual([{ op: 'delete', key: pkt.key }]);
    expect(keyHex(pkt.key)).toHaveLength(96);
  });

  it('a port without groups filters nothing and tracks nothing', () => {
    const c = model.createPort({ name: 'c', subnet: 'web', ip: '198.19.1.30' });
    expect(verdicts(slow.handle([missed(c.id, from(c, a, { proto: 'udp' }))]))).toEqual(['security-group']);
    model.setPortGroups('a', []);
    expect(verdicts(slow.handle([missed(c.id, from(c, a, { proto: 'udp' }))]))).toEqual(['fwd']);
    expect(slow.conntrack.size).toBe(0);
  });
});

describe('anti-spoofing', () => {
  it('a port sends only from its own MAC and address', () => {
    const d = slow.handle([
      missed(a.id, from(a, b, { src: b.ip, proto: 'icmp' })),
      missed(a.id, from(a, b, { srcMac: b.mac, proto: 'icmp' })),
      missed(a.id, from(a, b, { src: '198.19.1.99', proto: 'icmp' })),
    ]);
    // A forged address is in the key: the drop is cached. A forged MAC is not: nothing is installed
    // (the port's real traffic with that key must not be cached as a drop).
    expect(verdicts(d)).toEqual(['spoofed-source', 'spoofed-source']);
    expect(slow.stats().drops['spoofed-source']).toBe(3);
    expect(slow.conntrack.size).toBe(0);
  });
});
