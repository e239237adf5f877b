// 10,000 malformed and hostile frames from one guest through the whole pipeline with the real slow
// path behind the fast path: the VPC model, ARP responder, anti-spoofing, security groups and
// conntrack decide every miss. Every frame is accounted for, first by the fast path (refused,
// malformed, hit, missed), then every miss by the slow path (forwarded, answered or dropped for a
// named reason), and a bystander flow between two other guests is delivered intact throughout.
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import { formatMac } from '../../../src/dpu/net/mac-address.js';
import { Revalidator } from '../../../src/dpu/net/revalidator.js';
import { SlowPath } from '../../../src/dpu/net/slow-path.js';
import { SlowPathRunner } from '../../../src/dpu/net/slow-path-runner.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { concat, ether, ipv4, udp } from './frames.js';
import { mutate } from './fuzz-mutate.js';
import { arpRequest, from } from './helpers.js';
import { NetRig } from './net-rig.js';

const FRAMES = 10_400;
const BATCH = 80;

const rig = new NetRig({ memBytes: 256 << 20, switch: { maxPorts: 16, upcallRecords: 256, flowCapacity: 65536 } });
const model = new VpcModel({ runtime: rig.rt, seed: 23 });
let now = 1000;
const slow = new SlowPath(model, { runtime: rig.rt, clock: () => now });
const reval = new Revalidator(model, slow, (d) => runner.send(d));
const runner: SlowPathRunner = new SlowPathRunner(rig.sw, rig.memory, slow, reval, { clock: () => now });
afterAll(() => {
  slow.groups.dispose();
  model.dispose();
});

/** Well-formed frames from `a`: allowed, denied, ARP, routed, forged, other ethertypes, VXLAN inside UDP. */
function seeds(a: Port, b: Port, c: Port, router: number): Uint8Array[] {
  const mac = (x: number): string => formatMac(x);
  const ip = (x: number): string => [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255].join('.');
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  v6[5] = 8;
  v6[6] = 17;
  return [
    from(a, b, { proto: 'udp', srcPort: 4000, dstPort: 7 }),
    from(a, b, { proto: 'udp', srcPort: 4001, dstPort: 53 }),
    from(a, b, { proto: 'icmp', id: 3 }),
    from(a, b, { proto: 'tcp', srcPort: 5, dstPort: 22, tcpFlags: 0x02 }),
    from(a, c, { proto: 'tcp', srcPort: 6, dstPort: 22, tcpFlags: 0x10 }),
    arpRequest(a, b.ip),
    from(a, { mac: router, ip: c.ip }, { proto: 'udp', srcPort: 4002, dstPort: 7 }),
    from(a, b, { proto: 'udp', srcPort: 4003, dstPort: 7, src: c.ip }),
    ether(mac(b.mac), mac(a.mac), 0x86dd, v6),
    ether(
      mac(b.mac),
      mac(a.mac),
      0x0800,
      ipv4(
        ip(a.ip),
        ip(b.ip),
        17,
        udp(ip(a.ip), ip(b.ip), 999, 4789, concat([8, 0, 0, 0, 0, 0, 7, 0], from(c, b, { proto: 'udp', dstPort: 7 }))),
      ),
    ),
  ];
}

describe('fuzz: malformed frames through the fast path and the slow path', () => {
  it(`${FRAMES} frames: every frame and every miss accounted for, other ports unaffected`, () => {
    model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    model.createSubnet({ name: 'db', vpc: 'blue', cidr: '198.19.2.0/24' });
    model.createSecurityGroup({
      name: 'echo',
      rules: [
        { direction: 'ingress', protocol: 'icmp' },
        { direction: 'ingress', protocol: 'udp', ports: [7, 7] },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    const a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
    const b = model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20', securityGroups: ['echo'] });
    const c = model.createPort({ name: 'c', subnet: 'db', ip: '198.19.2.30' });
    const d = model.createPort({ name: 'd', subnet: 'db', ip: '198.19.2.40' });
    const nics = new Map(
      [a, b, c, d].map((p) => [
        p,
        rig.addNic(p.id, { mac: formatMac(p.mac), ramBytes: p === a ? 64 << 20 : 16 << 20, queueSize: 256 }),
      ]),
    );
    for (const p of [a, b, c, d]) runner.addPort(p.id);
    for (let i = 0; i < 1000 && runner.busy(); i++) rig.run();
    const na = nics.get(a)!;
    const nc = nics.get(c)!;
    const nd = nics.get(d)!;
    const router = a.vpc.routerMac;
    const base = seeds(a, b, c, router);
    const by = from(c, d, { proto: 'udp', srcPort: 7, dstPort: 8 });
    const r = new Prng(0x17_5107);
    let sent = 0;
    let bystander = 0;
    let bySent = 0;
    let delivered = 0;
    while (sent < FRAMES) {
      for (const n of nics.values()) n.postRx(256 - n.rx[0]!.outstanding);
      for (let i = 0; i < BATCH && sent < FRAMES; i++, sent++) {
        const f = r.below(8) === 0 ? r.pick(base) : mutate(r, r.pick(base));
        const h = new Uint8Array(12);
        if (r.below(16) === 0) h[10] = 1 + r.below(255); // H4: num_buffers on TX
        na.send(f, { hdr: h, layout: r.below(4) === 0 ? 'pieces' : 'one' });
      }
      for (let i = 0; i < 8; i++, bySent++) nc.send(by);
      // The switch runs, the slow path answers, the switch applies the answers (and flushes).
      for (let i = 0; i < 4; i++) {
        rig.run(1024);
        runner.pump();
      }
      rig.run(1024);
      now += 7;
      expect(na.txDone().every((x) => x.len === 0)).toBe(true);
      nc.txDone();
      na.recv();
      delivered += nics.get(b)!.recv().length + nc.recv().length;
      const got = nd.recv();
      for (const g of got) expect(g.frame).toEqual(by);
      bystander += got.length;
    }
    for (let i = 0; i < 100 && runner.busy(); i++) {
      rig.run(1024);
      runner.pump();
    }
    rig.run(1024);
    delivered += nics.get(b)!.recv().length + nc.recv().length;
    const s = rig.sw.stats();
    const fromA = rig.sw.portStats(a.id);
    const fromC = rig.sw.portStats(c.id);
    const st = slow.stats();
    const drops = Object.values(st.drops).reduce((x, y) => x + y, 0);
    // Fast path: every frame of a's was refused by the device, dropped as malformed, or ingested.
    expect(fromA.errors + fromA.inPackets).toBe(sent);
    expect(fromA.errors).toBe(s.badRequests + s.malformed);
    // Held: hits that went up behind their flow's unanswered upcalls (ordered upcalls).
    expect(s.hits + s.misses + s.held).toBe(fromA.inPackets + fromC.inPackets);
    // What went up: every miss, and every hit whose flow's CHECK_L2 saw other MACs (a forged MAC).
    expect(s.misses + s.held + s.l2Mismatch).toBe(s.upcalls + s.upcallDrops);
    expect(s.upcallDrops).toBe(0);
    // Slow path: it took every upcall, and each one was forwarded, answered (ARP) or dropped.
    expect(runner.stats().upcalls).toBe(s.upcalls);
    expect(st.counters.upcalls).toBe(s.upcalls);
    expect(st.counters.reinjected + st.counters.truncated + drops).toBe(st.counters.upcalls);
    expect(s.reinjected).toBe(st.counters.reinjected);
    expect(s.installFailed + s.reinjectFailed).toBe(0);
    // Every outcome exercised: forwarded, answered, and at least five distinct drop reasons.
    expect(
      Math.min(s.badRequests, s.malformed, s.hits, s.l2Mismatch, st.counters.reinjected, st.counters.arpReplies),
    ).toBeGreaterThan(100);
    // Hits either forwarded or dropped by a cached drop flow.
    expect(s.actionDrops).toBeGreaterThan(100);
    expect(Object.values(st.drops).filter((n) => n > 10).length).toBeGreaterThanOrEqual(5);
    // What was forwarded to b and c arrived: no port dropped output, nothing else came out.
    for (const p of [b, c, d]) expect(rig.sw.portStats(p.id).outDrops).toBe(0);
    expect(rig.sw.portStats(b.id).outPackets + rig.sw.portStats(c.id).outPackets).toBe(delivered);
    // The bystander: every frame delivered, byte for byte (checked above).
    expect(bystander).toBe(bySent);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    for (const n of nics.values()) {
      expect(n.dev.needsReset).toBe(false);
      expect(n.gg.guardsIntact()).toBe(true);
    }
  });
});
