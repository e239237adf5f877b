// 12,000 malformed frames from one guest through the whole pipeline (truncated headers, bad
// lengths, bogus IP options, VLAN stacks, fragments, IPv6 extension chains, VXLAN, bad virtio-net
// headers), seeded. Every frame is accounted for in the counters, classified independently by
// the flow parser, and a bystander flow between two other guests is delivered intact throughout.
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import { takeUpcalls } from '../../../src/dpu/net/upcall-record.js';
import { NetRig } from './net-rig.js';
import { concat, ether, ipv4, tcp, udp, udpFrame } from './frames.js';
import { mutate } from './fuzz-mutate.js';

const A = { mac: '02:00:00:00:00:0a', ip: '198.18.0.10' };
const B = { mac: '02:00:00:00:00:0b', ip: '198.18.0.11' };
const C = { mac: '02:00:00:00:00:0c', ip: '198.18.0.12' };
const D = { mac: '02:00:00:00:00:0d', ip: '198.18.0.13' };
const FRAMES = 12_000;
const BATCH = 96;

function seeds(): Uint8Array[] {
  const v6 = new Uint8Array(40 + 8 + 8);
  v6[0] = 0x60;
  v6[5] = 16;
  v6[6] = 0; // hop-by-hop
  v6[40] = 17;
  v6[41] = 0;
  v6.set([0, 1, 0, 2, 0, 8, 0, 0], 48);
  return [
    udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport: 1, dport: 2, frameBytes: 100 }),
    ether(B.mac, A.mac, 0x0800, ipv4(A.ip, B.ip, 6, tcp(A.ip, B.ip, 5, 6, 1, 0x02, new Uint8Array(20)))),
    ether(B.mac, A.mac, 0x0800, ipv4(A.ip, B.ip, 1, Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1, 9, 9))),
    ether(B.mac, A.mac, 0x86dd, v6),
    ether(
      B.mac,
      A.mac,
      0x0800,
      ipv4(
        A.ip,
        B.ip,
        17,
        udp(
          A.ip,
          B.ip,
          999,
          4789,
          concat(
            [8, 0, 0, 0, 0, 0, 7, 0],
            udpFrame({ srcMac: C.mac, dstMac: D.mac, srcIp: C.ip, dstIp: D.ip, sport: 3, dport: 4, frameBytes: 60 }),
          ),
        ),
      ),
    ),
    ether(B.mac, A.mac, 0x0806, new Uint8Array(28)),
  ];
}

describe('fuzz: malformed frames through the switch', () => {
  it(`${FRAMES} frames: every counter accounted for, other ports unaffected`, () => {
    const rig = new NetRig({ memBytes: 256 << 20, switch: { upcallRecords: 256, flowCapacity: 1024 } });
    const a = rig.addNic(0, { mac: A.mac, ramBytes: 64 << 20, queueSize: 256 });
    const b = rig.addNic(1, { mac: B.mac, ramBytes: 16 << 20 });
    const c = rig.addNic(2, { mac: C.mac, ramBytes: 16 << 20 });
    const d = rig.addNic(3, { mac: D.mac, ramBytes: 16 << 20 });
    const r = new Prng(0x17_f022);
    const base = seeds();
    // Hits for the pristine seeds (to port 1, promiscuous so every delivery is counted).
    expect(b.ctrlCmd(0, 0, Uint8Array.of(1))).toBe(0);
    for (const s of base) rig.install(s, 0, [{ op: 'output', port: 1 }]);
    const by = udpFrame({
      srcMac: C.mac,
      dstMac: D.mac,
      srcIp: C.ip,
      dstIp: D.ip,
      sport: 7,
      dport: 8,
      frameBytes: 200,
    });
    rig.install(by, 2, [{ op: 'output', port: 3 }]);
    rig.run();
    const flows = rig.sw.flows().length;
    let sent = 0;
    let badHdr = 0;
    let expectMalformed = 0;
    let expectOk = 0;
    let upcalls = 0;
    let bystander = 0;
    const area = rig.memory.alloc({ name: 'cls', owner: 'test', kind: 'core-scratch', sizeBytes: 8192 });
    const parse = rig.rt.kernel('flow').fn<(d: number, n: number, o: number) => number>('flow_parse');
    const classify = (f: Uint8Array): 'malformed' | 'ok' => {
      rig.memory.u8.set(f, area.base + 256);
      rig.memory.view.setUint32(area.base, area.base + 256, true);
      rig.memory.view.setUint32(area.base + 4, f.length, true);
      parse(area.base, 1, area.base + 64);
      return rig.memory.u8[area.base + 64 + 48] === 1 ? 'malformed' : 'ok';
    };
    while (sent < FRAMES) {
      b.postRx(256 - b.rx[0]!.outstanding);
      d.postRx(256 - d.rx[0]!.outstanding);
      for (let i = 0; i < BATCH && sent < FRAMES; i++, sent++) {
        const f = mutate(r, r.pick(base));
        const h = new Uint8Array(12);
        if (r.below(10) === 0) {
          // a bad virtio-net header (H4: num_buffers; H5: checksum past the end)
          if (r.below(2)) h[10] = 1 + r.below(255);
          else {
            h[0] = 1;
            h[6] = 0xff;
            h[7] = 0xff;
          }
          a.send(f, { hdr: h });
          badHdr++;
          continue;
        }
        if (f.length < 14 || f.length > 1514) badHdr++;
        else if (classify(f) === 'malformed') expectMalformed++;
        else expectOk++;
        a.send(f, { hdr: h, layout: r.below(4) === 0 ? 'pieces' : 'one' });
      }
      for (let i = 0; i < 8; i++) c.send(by);
      rig.run(1024);
      rig.run(1024);
      upcalls += takeUpcalls(rig.memory, rig.sw.upcallRing(0)).length;
      expect(a.txDone().every((x) => x.len === 0)).toBe(true);
      c.txDone();
      b.recv();
      const got = d.recv();
      for (const g of got) expect(g.frame).toEqual(by);
      bystander += got.length;
    }
    const s = rig.sw.stats();
    // The mix must exercise every outcome (about 2.5k refused requests, 4k malformed, 5k parsed).
    expect(Math.min(badHdr, expectMalformed, expectOk, upcalls)).toBeGreaterThan(1000);
    expect(s.malformedByReason.filter((n) => n > 0).length).toBeGreaterThanOrEqual(6);
    const dev = a.dev.stats();
    const devBad = Object.values(dev.badInput).reduce((x, y) => x + y, 0);
    expect(devBad).toBe(badHdr);
    expect(s.badRequests).toBe(badHdr);
    expect(s.malformed).toBe(expectMalformed);
    expect(s.malformedByReason.reduce((x, y) => x + y, 0)).toBe(expectMalformed);
    const fromA = rig.sw.portStats(0);
    expect(fromA.inPackets).toBe(expectOk);
    expect(fromA.errors).toBe(badHdr + expectMalformed);
    // Every frame that passed ingest either hit a flow or missed; every miss went up or was dropped for a full ring.
    expect(s.hits + s.misses).toBe(expectOk + bystander);
    expect(s.misses).toBe(fromA.upcalls + fromA.upcallDrops);
    expect(upcalls).toBe(fromA.upcalls);
    expect(s.installFailed + s.reinjectFailed).toBe(0);
    expect(rig.sw.flows()).toHaveLength(flows);
    // Bystander: all delivered, byte for byte (checked above), nothing lost.
    expect(bystander).toBe((FRAMES / BATCH) * 8);
    expect(rig.sw.portStats(3)).toMatchObject({ outPackets: bystander, outDrops: 0 });
    expect(sent).toBeGreaterThanOrEqual(10_000);
    for (const n of [a, b, c, d]) {
      expect(n.dev.needsReset).toBe(false);
      expect(n.gg.guardsIntact()).toBe(true);
    }
  });
});
