import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseArp } from '../../../src/dpu/net/arp.js';
import { dropCode } from '../../../src/dpu/net/flow-actions.js';
import { formatMac } from '../../../src/dpu/net/mac-address.js';
import { Revalidator } from '../../../src/dpu/net/revalidator.js';
import { SlowPath } from '../../../src/dpu/net/slow-path.js';
import { SlowPathRunner } from '../../../src/dpu/net/slow-path-runner.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { arpRequest, from } from './helpers.js';
import { encodeActions } from '../../../src/dpu/net/action-list.js';
import { NET_UPF_PENDING } from '../../../src/dpu/net/net-layout.js';
import { takeUpcalls, type UpcallRecord } from '../../../src/dpu/net/upcall-record.js';
import { NetRig, type TestNic } from './net-rig.js';

/**
 * The slow path against the real fast path: the vSwitch kernel (run on the test's thread), guests
 * with virtio-net devices driven by the TS driver, and the runner between the switch's rings and
 * the slow path.
 */
let rig: NetRig;
let model: VpcModel;
let slow: SlowPath;
let runner: SlowPathRunner;
let now: number;
let a: Port, b: Port;
let nicA: TestNic, nicB: TestNic;

beforeEach(() => {
  now = 1000;
  rig = new NetRig({ switch: { maxPorts: 32, upcallRecords: 64 } });
  model = new VpcModel({ runtime: rig.rt, seed: 11 });
  model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
  model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
  model.createSecurityGroup({
    name: 'ping-only',
    rules: [
      { direction: 'ingress', protocol: 'icmp' },
      { direction: 'egress', protocol: 'any' },
    ],
  });
  slow = new SlowPath(model, { runtime: rig.rt, clock: () => now });
  const reval = new Revalidator(model, slow, (d) => runner.send(d));
  runner = new SlowPathRunner(rig.sw, rig.memory, slow, reval, { clock: () => now });
  a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
  b = model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20', securityGroups: ['ping-only'] });
  nicA = rig.addNic(a.id, { mac: formatMac(a.mac) });
  nicB = rig.addNic(b.id, { mac: formatMac(b.mac) });
  runner.addPort(a.id);
  runner.addPort(b.id);
  nicA.postRx(64);
  nicB.postRx(64);
  settle();
});
afterEach(() => {
  slow.groups.dispose();
  model.dispose();
});

/** Runs the switch until the slow path has nothing in flight (the flushes of the setup are over). */
function settle(): void {
  for (let i = 0; i < 10_000 && runner.busy(); i++) rig.run();
  expect(runner.busy()).toBe(false);
}

/** One round: the switch runs (upcalls), the slow path answers, the switch applies the answers. */
function step(): void {
  rig.run();
  runner.pump();
  rig.run();
}

describe('slow path on the vSwitch fast path', () => {
  it('answers ARP, forwards a first packet by re-injection, and leaves the rest to installed flows', () => {
    nicA.send(arpRequest(a, b.ip));
    step();
    const arp = nicA.recv();
    expect(arp).toHaveLength(1);
    expect(parseArp(arp[0]!.frame, 14)).toMatchObject({ op: 2, senderMac: b.mac, senderIp: b.ip });

    nicA.send(from(a, b, { proto: 'icmp', id: 5 }));
    step();
    const req = nicB.recv();
    expect(req).toHaveLength(1);
    nicB.send(from(b, a, { proto: 'icmp', icmpType: 0, id: 5 }));
    step();
    expect(nicA.recv()).toHaveLength(1);
    const upcalls = rig.sw.stats().upcalls;
    for (let i = 0; i < 5; i++) {
      nicA.send(from(a, b, { proto: 'icmp', id: 5 }));
      rig.run();
      nicB.send(from(b, a, { proto: 'icmp', icmpType: 0, id: 5 }));
      rig.run();
    }
    expect(nicB.recv()).toHaveLength(5);
    expect(nicA.recv()).toHaveLength(5);
    expect(rig.sw.stats().upcalls).toBe(upcalls);
    expect(
      rig.sw
        .flows()
        .map((f) => f.inPort)
        .sort(),
    ).toEqual([a.id, b.id].sort());
    expect(slow.stats().connections).toBe(1);
  });

  it('a security group drops what it does not allow, in the fast path after the first packet', () => {
    nicA.send(from(a, b, { proto: 'udp', dstPort: 53 }));
    step();
    for (let i = 0; i < 3; i++) nicA.send(from(a, b, { proto: 'udp', dstPort: 53 }));
    rig.run();
    expect(nicB.recv()).toHaveLength(0);
    // The first is dropped by the slow path (not re-injected), the rest by the flow it installed.
    expect(slow.stats().drops['security-group']).toBe(1);
    expect(rig.sw.stats().drops[dropCode('security-group')]).toBe(3);
  });

  it('a frame from a forged MAC misses CHECK_L2 and comes back up to be dropped', () => {
    nicA.send(from(a, b, { proto: 'icmp', id: 1 }));
    step();
    expect(nicB.recv()).toHaveLength(1);
    nicA.send(from(a, b, { proto: 'icmp', id: 1, srcMac: 0x02000000dead }));
    step();
    expect(nicB.recv()).toHaveLength(0);
    expect(slow.stats().drops['spoofed-source']).toBe(1);
  });

  it("a guest flooding new flows fills only its own upcall ring; another guest's first packet gets through", () => {
    let sent = 0;
    // 2048 distinct UDP flows from a, in batches its TX ring holds; the slow path does not run meanwhile.
    while (sent < 2048) {
      for (let i = 0; i < 64; i++, sent++) nicA.send(from(a, b, { proto: 'udp', srcPort: 10000 + sent, dstPort: 9 }));
      rig.run();
      nicA.txDone();
    }
    nicB.send(from(b, a, { proto: 'icmp', id: 77 }));
    rig.run();
    expect(rig.sw.portStats(a.id).upcallDrops).toBe(2048 - 64);
    expect(rig.sw.portStats(b.id).upcallDrops).toBe(0);
    // One burst of 64 takes at most 4 of a's before b's: b's first packet is decided in it.
    expect(runner.pump(1)).toBe(64);
    rig.run();
    expect(nicA.recv().length).toBe(1);
    expect(slow.stats().drops['security-group']).toBe(63);
    runner.pump();
    expect(slow.stats().drops['security-group']).toBe(64);
  });
  for (const ordered of [true, false])
    it(`a flow's packets still with the slow path are ${ordered ? 'not ' : ''}overtaken by later hits (ordered upcalls ${ordered ? 'on' : 'off'})`, () => {
      rig.sw.orderUpcalls(ordered);
      // One UDP flow b → a (a filters nothing); the TTL numbers the packets (it is not in the key).
      const pkt = (ttl: number): Uint8Array => from(b, a, { proto: 'udp', srcPort: 4000, dstPort: 4001, ttl });
      const ttls = (): number[] => nicA.recv().map((f) => f.frame[22]!);
      const actions = encodeActions([{ op: 'output', port: a.id }]);
      const answer = (u: UpcallRecord, install: boolean): void => {
        expect((u.flags & NET_UPF_PENDING) !== 0).toBe(ordered);
        const release = ordered ? { release: u.hash } : {};
        rig.sw.downcall({
          op: install ? 'install-reinject' : 'reinject',
          key: u.parse.slice(0, 48),
          actions,
          port: u.port,
          frame: u.frame,
          seq: u.seq,
          ...release,
        });
      };
      const take = (): UpcallRecord[] => takeUpcalls(rig.memory, rig.sw.upcallRing(b.id));
      nicB.send(pkt(60));
      rig.run();
      nicB.send(pkt(61));
      rig.run();
      const first = take();
      expect(first).toHaveLength(2);
      // The first is answered (the flow installed, 60 re-injected) while 61 still waits for its answer.
      answer(first[0]!, true);
      nicB.send(pkt(62));
      rig.run();
      if (ordered) {
        // 62 hit the new flow but went up behind 61.
        expect(ttls()).toEqual([60]);
        expect(rig.sw.stats().held).toBe(1);
        const held = take();
        expect(held).toHaveLength(1);
        answer(first[1]!, false);
        answer(held[0]!, false);
        rig.run();
        expect(ttls()).toEqual([61, 62]);
      } else {
        // The defect ordered upcalls fix: 62 overtakes 61.
        expect(ttls()).toEqual([60, 62]);
        answer(first[1]!, false);
        rig.run();
        expect(ttls()).toEqual([61]);
      }
      // Nothing is pending any more: the flow forwards in the fast path.
      const hits = rig.sw.stats().hits;
      nicB.send(pkt(63));
      rig.run();
      expect(ttls()).toEqual([63]);
      expect(rig.sw.stats().hits).toBe(hits + 1);
    });

  it('a connection the fast path keeps using outlives its idle timeout; an idle one expires with its flows', () => {
    nicA.send(from(a, b, { proto: 'icmp', id: 5 }));
    step();
    nicB.send(from(b, a, { proto: 'icmp', icmpType: 0, id: 5 }));
    step();
    nicA.send(from(a, b, { proto: 'icmp', id: 6 }));
    step();
    expect(nicB.recv()).toHaveLength(2);
    nicA.recv();
    expect(slow.stats().connections).toBe(2);
    const fromA = (): number => rig.sw.flows().filter((f) => f.inPort === a.id).length;
    expect(fromA()).toBe(2);
    // 40 s (ICMP times out after 30 s idle): echo 5 rides its flows every second and is never
    // seen by the slow path; only the flows' last-hit stamps, read in the sweep, keep it alive.
    for (let t = 0; t < 40; t++) {
      now += 1000;
      runner.pump();
      nicA.send(from(a, b, { proto: 'icmp', id: 5 }));
      rig.run();
      nicB.send(from(b, a, { proto: 'icmp', icmpType: 0, id: 5 }));
      rig.run();
    }
    for (let i = 0; i < 8; i++) step();
    expect(nicB.recv()).toHaveLength(40);
    expect(nicA.recv()).toHaveLength(40);
    expect(slow.stats().connections).toBe(1);
    expect(fromA()).toBe(1);
  });
});
