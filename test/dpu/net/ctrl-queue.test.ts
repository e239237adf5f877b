// The control queue (virtio 1.2 §5.1.6.5) and the receive filter it programs.
import { describe, expect, it } from 'vitest';
import { NetRig } from './net-rig.js';
import { udpFrame } from './frames.js';
import { NET_RXM_ALLMULTI, NET_RXM_PROMISC, NET_RXM_UNI_OVER } from '../../../src/dpu/net/net-layout.js';

const A = { mac: '02:00:00:00:00:0a', ip: '198.18.0.10' };
const B = { mac: '02:00:00:00:00:0b', ip: '198.18.0.11' };
const OTHER = '02:00:00:00:00:77';
const MCAST = '01:00:5e:00:00:01';
const BCAST = 'ff:ff:ff:ff:ff:ff';

function macTable(uni: string[], multi: string[]): Uint8Array {
  const b = (m: string): number[] => m.split(':').map((h) => parseInt(h, 16));
  const le32 = (n: number): number[] => [n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24];
  return Uint8Array.from([...le32(uni.length), ...uni.flatMap(b), ...le32(multi.length), ...multi.flatMap(b)]);
}

/** Sends one frame to each destination MAC from A; returns which of them B received. */
function probe(rig: NetRig, dsts: string[], vlans: number[] = []): string[] {
  const a = rig.nics[0]!;
  const b = rig.nics[1]!;
  b.postRx(dsts.length);
  for (const d of dsts) {
    const f = udpFrame({
      srcMac: A.mac,
      dstMac: d,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1,
      dport: 2,
      frameBytes: 64,
      vlans,
    });
    rig.install(f, 0, [{ op: 'output', port: 1 }]);
  }
  rig.run();
  for (const d of dsts)
    a.send(udpFrame({ srcMac: A.mac, dstMac: d, srcIp: A.ip, dstIp: B.ip, sport: 1, dport: 2, frameBytes: 64, vlans }));
  rig.run();
  return b.recv().map((r) => Array.from(r.frame.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':'));
}

function twoNics() {
  const rig = new NetRig();
  rig.addNic(0, { mac: A.mac });
  const b = rig.addNic(1, { mac: B.mac });
  return { rig, b };
}

describe('virtio-net control queue and receive filter', () => {
  it('by default takes its own MAC and broadcast, not other unicast or multicast', () => {
    const { rig } = twoNics();
    expect(probe(rig, [B.mac, BCAST, OTHER, MCAST])).toEqual([B.mac, BCAST]);
    expect(rig.sw.portStats(1).outDrops).toBe(2);
  });

  it('PROMISC takes everything; ALLMULTI every multicast; NOBCAST refuses broadcast', () => {
    const { rig, b } = twoNics();
    expect(b.ctrlCmd(0, 1, Uint8Array.of(1))).toBe(0);
    expect(b.dev.rxMode & NET_RXM_ALLMULTI).not.toBe(0);
    expect(probe(rig, [MCAST, OTHER])).toEqual([MCAST]);
    expect(b.ctrlCmd(0, 5, Uint8Array.of(1))).toBe(0);
    expect(probe(rig, [BCAST, B.mac])).toEqual([B.mac]);
    expect(b.ctrlCmd(0, 0, Uint8Array.of(1))).toBe(0);
    expect(b.dev.rxMode & NET_RXM_PROMISC).not.toBe(0);
    expect(probe(rig, [OTHER, BCAST])).toEqual([OTHER, BCAST]);
  });

  it('MAC_TABLE_SET adds unicast and multicast addresses; more than the table holds accepts that class', () => {
    const { rig, b } = twoNics();
    expect(b.ctrlCmd(1, 0, macTable([OTHER], [MCAST]))).toBe(0);
    expect(probe(rig, [OTHER, MCAST, '02:00:00:00:00:78'])).toEqual([OTHER, MCAST]);
    const many = Array.from({ length: 40 }, (_, i) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`);
    expect(b.ctrlCmd(1, 0, macTable(many, []))).toBe(0);
    expect(b.dev.rxMode & NET_RXM_UNI_OVER).not.toBe(0);
    expect(probe(rig, ['02:00:00:00:00:99'])).toEqual(['02:00:00:00:00:99']);
  });

  it('MAC_TABLE_SET with lengths that do not add up is acked ERR and changes nothing', () => {
    const { b } = twoNics();
    const t = macTable([OTHER], []);
    expect(b.ctrlCmd(1, 0, t.subarray(0, t.length - 1))).toBe(1);
    expect(b.ctrlCmd(1, 0, Uint8Array.of(255, 255, 255, 255, 0, 0, 0, 0))).toBe(1);
    expect(b.dev.stats().ctrl.errors).toBe(2);
  });

  it("MAC_ADDR_SET changes the filter's own address", () => {
    const { rig, b } = twoNics();
    expect(b.ctrlCmd(1, 1, Uint8Array.of(2, 0, 0, 0, 0, 0x77))).toBe(0);
    expect(b.dev.mac).toBe(OTHER);
    expect(probe(rig, [OTHER, B.mac])).toEqual([OTHER]);
  });

  it('VLAN filter: tagged frames pass only for VLANs added; DEL removes; vid >= 4096 is refused', () => {
    const { rig, b } = twoNics();
    expect(probe(rig, [B.mac], [10])).toEqual([]);
    expect(b.ctrlCmd(2, 0, Uint8Array.of(10, 0))).toBe(0);
    expect(probe(rig, [B.mac], [10])).toEqual([B.mac]);
    expect(b.ctrlCmd(2, 1, Uint8Array.of(10, 0))).toBe(0);
    expect(probe(rig, [B.mac], [10])).toEqual([]);
    expect(b.ctrlCmd(2, 0, Uint8Array.of(0, 0x10))).toBe(1);
  });

  it('MQ: VQ_PAIRS_SET within 1..max_virtqueue_pairs is taken, flows spread over the pairs', () => {
    const rig = new NetRig();
    const a = rig.addNic(0, { mac: A.mac });
    const b = rig.addNic(1, { mac: B.mac, pairs: 4 });
    expect(b.ctrlCmd(4, 0, Uint8Array.of(0, 0))).toBe(1);
    expect(b.ctrlCmd(4, 0, Uint8Array.of(5, 0))).toBe(1);
    expect(b.ctrlCmd(4, 0, Uint8Array.of(4, 0))).toBe(0);
    expect(b.dev.curPairs).toBe(4);
    for (let q = 0; q < 4; q++) b.postRx(64, 2048, q);
    for (let i = 0; i < 64; i++) {
      const f = udpFrame({
        srcMac: A.mac,
        dstMac: B.mac,
        srcIp: A.ip,
        dstIp: B.ip,
        sport: 1000 + i,
        dport: 2,
        frameBytes: 64,
      });
      rig.install(f, 0, [{ op: 'output', port: 1 }]);
      a.send(f);
    }
    rig.run();
    rig.run();
    const per = [0, 1, 2, 3].map((q) => b.recv(q).length);
    expect(per.reduce((x, y) => x + y, 0)).toBe(64);
    expect(per.filter((n) => n > 0).length).toBeGreaterThanOrEqual(3);
    expect(b.dev.stats().pairs.map((p) => p.rx.packets)).toEqual(per);
  });

  it('unknown classes and commands, and features not negotiated, are acked ERR; a chain without an ack buffer gets len 0', () => {
    const rig = new NetRig();
    rig.addNic(0, { mac: A.mac });
    const all = rig.nics[0]!.dev.features();
    const b = rig.addNic(1, { mac: B.mac, features: all & ~(1n << 19n) });
    expect(b.ctrlCmd(9, 0, new Uint8Array(0))).toBe(1);
    expect(b.ctrlCmd(0, 9, Uint8Array.of(1))).toBe(1);
    expect(b.ctrlCmd(2, 0, Uint8Array.of(1, 0))).toBe(1); // CTRL_VLAN not negotiated
    expect(b.ctrlCmd(4, 0, Uint8Array.of(1, 0))).toBe(1); // MQ not offered (one pair)
    const c = b.ctrl!;
    const g = b.guest;
    const gpa = g.allocGpa(16, 16);
    c.add([{ gpa, len: 3 }], []);
    c.kick();
    rig.run();
    expect(c.reap()).toEqual([expect.objectContaining({ len: 0 })]);
    expect(b.dev.needsReset).toBe(false);
  });
});
