import { describe, expect, it } from 'vitest';
import { encodeActions } from '../../../src/dpu/net/action-list.js';
import { takeUpcalls } from '../../../src/dpu/net/upcall-record.js';
import { TunnelIo } from '../../../src/dpu/net/tunnel-io.js';
import { NET_UPC_ACTION, NET_UPC_L2_MISMATCH, NET_UPC_MISS } from '../../../src/dpu/net/net-layout.js';
import { NetRig, type TestNic } from './net-rig.js';
import { concat, csum, ether, ipv4, l4ChecksumOk, tcp, udp, udpFrame } from './frames.js';

const A = { mac: '02:00:00:00:00:0a', ip: '198.18.0.10' };
const B = { mac: '02:00:00:00:00:0b', ip: '198.18.0.11' };
const GW = '02:00:00:00:00:fe';

function pair() {
  const rig = new NetRig();
  const a = rig.addNic(0, { mac: A.mac });
  const b = rig.addNic(1, { mac: B.mac });
  b.postRx(32);
  const f = udpFrame({
    srcMac: A.mac,
    dstMac: B.mac,
    srcIp: A.ip,
    dstIp: B.ip,
    sport: 1000,
    dport: 2000,
    frameBytes: 64,
  });
  return { rig, a, b, f };
}

describe('vSwitch fast path', () => {
  it("forwards a hit from one guest into the other guest's RX buffer, byte for byte", () => {
    const { rig, a, b, f } = pair();
    rig.install(f, 0, [{ op: 'output', port: 1 }]);
    a.send(f);
    rig.run();
    const got = b.recv();
    expect(got).toHaveLength(1);
    expect(got[0]!.frame).toEqual(f);
    expect(got[0]!.numBuffers).toBe(1);
    expect(a.txDone()).toHaveLength(1);
    expect(rig.sw.stats()).toMatchObject({ installs: 1, hits: 1, misses: 0, outputs: 1 });
    expect(rig.sw.portStats(0)).toMatchObject({ inPackets: 1, inBytes: 64 });
    expect(rig.sw.portStats(1)).toMatchObject({ outPackets: 1, outBytes: 64 });
    expect(rig.sw.flows()).toEqual([expect.objectContaining({ inPort: 0, packets: 1, bytes: 64 })]);
  });

  it('a miss goes up with its key, frame and header; the slow path installs and re-injects it', () => {
    const { rig, a, b, f } = pair();
    a.send(f);
    rig.run();
    expect(b.recv()).toHaveLength(0);
    expect(a.txDone()).toHaveLength(1); // the sender's buffer completes at once (the frame was copied)
    const ups = takeUpcalls(rig.memory, rig.sw.upcallRing(0));
    expect(ups).toHaveLength(1);
    const u = ups[0]!;
    expect(u).toMatchObject({ port: 0, reason: NET_UPC_MISS, frameLen: 64, devPort: 0 });
    expect(u.frame).toEqual(f);
    expect(u.parse.subarray(0, 48)).toEqual(rig.keyOf(f, 0));
    rig.sw.downcall({
      op: 'install-reinject',
      key: u.parse.slice(0, 48),
      actions: encodeActions([{ op: 'output', port: 1 }]),
      port: 0,
      frame: u.frame,
      seq: u.seq,
    });
    rig.run();
    expect(b.recv().map((r) => r.frame)).toEqual([f]);
    a.send(f);
    rig.run();
    expect(b.recv().map((r) => r.frame)).toEqual([f]);
    expect(rig.sw.stats()).toMatchObject({ misses: 1, upcalls: 1, installs: 1, reinjected: 1, hits: 1 });
  });

  it('a port whose upcall ring is full drops its misses (counted) without touching other ports', () => {
    const rig = new NetRig({ switch: { upcallRecords: 4 } });
    const a = rig.addNic(0, { mac: A.mac });
    const b = rig.addNic(1, { mac: B.mac });
    for (let i = 0; i < 10; i++)
      a.send(udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport: i, dport: 1, frameBytes: 64 }));
    b.send(udpFrame({ srcMac: B.mac, dstMac: A.mac, srcIp: B.ip, dstIp: A.ip, sport: 9, dport: 9, frameBytes: 64 }));
    rig.run();
    expect(rig.sw.portStats(0)).toMatchObject({ upcalls: 4, upcallDrops: 6 });
    expect(rig.sw.portStats(1)).toMatchObject({ upcalls: 1, upcallDrops: 0 });
    expect(takeUpcalls(rig.memory, rig.sw.upcallRing(1))).toHaveLength(1);
  });

  it('header actions edit the copy, never the sender: VLAN push/pop, MAC rewrites, TTL with a valid checksum', () => {
    const { rig, a, b, f } = pair();
    expect(b.ctrlCmd(2, 0, Uint8Array.of(7, 0))).toBe(0); // VLAN 7 into B's filter (CTRL_VLAN)
    rig.install(f, 0, [
      { op: 'set-eth-src', mac: GW },
      { op: 'set-eth-dst', mac: B.mac },
      { op: 'dec-ttl' },
      { op: 'push-vlan', vid: 7 },
      { op: 'output', port: 1 },
      { op: 'pop-vlan' },
      { op: 'output', port: 1 },
    ]);
    a.send(f);
    rig.run();
    const got = b.recv().map((r) => r.frame);
    expect(got).toHaveLength(2);
    const tagged = got[0]!;
    expect(Array.from(tagged.subarray(12, 16))).toEqual([0x81, 0x00, 0x00, 0x07]);
    expect(tagged.length).toBe(68);
    const plain = got[1]!;
    expect(plain.length).toBe(64);
    expect(Array.from(plain.subarray(6, 12))).toEqual([2, 0, 0, 0, 0, 0xfe]);
    expect(plain[14 + 8]).toBe(63);
    expect(csum(plain.subarray(14, 34))).toBe(0);
    expect(l4ChecksumOk(plain, 14)).toBe(true);
    expect(plain.subarray(34)).toEqual(f.subarray(34));
    expect(a.guest.read(0n, 0).length).toBe(0);
  });

  it('DEC_TTL on TTL 1 drops (counted); DROP counts its reason; COUNT adds to its counter', () => {
    const { rig, a, b } = pair();
    const t1 = ether(B.mac, A.mac, 0x0800, ipv4(A.ip, B.ip, 17, udp(A.ip, B.ip, 5, 5, new Uint8Array(30)), { ttl: 1 }));
    const d = udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport: 6, dport: 6, frameBytes: 80 });
    rig.install(t1, 0, [{ op: 'dec-ttl' }, { op: 'output', port: 1 }]);
    rig.install(d, 0, [
      { op: 'count', counter: 3 },
      { op: 'drop', reason: 5 },
      { op: 'output', port: 1 },
    ]);
    a.send(t1);
    a.send(d);
    a.send(d);
    rig.run();
    expect(b.recv()).toHaveLength(0);
    const s = rig.sw.stats();
    expect(s.ttlExpired).toBe(1);
    expect(s.drops[5]).toBe(2);
    expect(rig.sw.counter(3)).toEqual({ packets: 2, bytes: 160 });
  });

  it('CHECK_L2: a frame whose source MAC differs from the one installed goes up as L2_MISMATCH', () => {
    const { rig, a, b, f } = pair();
    rig.install(f, 0, [
      { op: 'check-l2', src: A.mac },
      { op: 'output', port: 1 },
    ]);
    const spoof = f.slice();
    spoof.set([2, 0, 0, 0, 0, 0x66], 6);
    a.send(f);
    a.send(spoof);
    rig.run();
    expect(b.recv()).toHaveLength(1);
    const ups = takeUpcalls(rig.memory, rig.sw.upcallRing(0));
    expect(ups.map((u) => u.reason)).toEqual([NET_UPC_L2_MISMATCH]);
    expect(rig.sw.stats().l2Mismatch).toBe(1);
  });

  it('UPCALL hands every packet of the flow to the slow path with the action argument', () => {
    const { rig, a } = pair();
    const arp = ether('ff:ff:ff:ff:ff:ff', A.mac, 0x0806, new Uint8Array(28));
    rig.install(arp, 0, [{ op: 'upcall', reason: 42 }]);
    a.send(arp);
    a.send(arp);
    rig.run();
    const ups = takeUpcalls(rig.memory, rig.sw.upcallRing(0));
    expect(ups.map((u) => [u.reason, u.arg])).toEqual([
      [NET_UPC_ACTION, 42],
      [NET_UPC_ACTION, 42],
    ]);
  });

  it('checksum offload: completed for a receiver without GUEST_CSUM, passed on (NEEDS_CSUM) to one with it', () => {
    const rig = new NetRig();
    const a = rig.addNic(0, { mac: A.mac });
    const all = a.dev.features();
    const b = rig.addNic(1, { mac: B.mac, features: all & ~(1n << 1n) });
    const c = rig.addNic(2, { mac: B.mac });
    b.postRx(4);
    c.postRx(4);
    const f = ether(
      B.mac,
      A.mac,
      0x0800,
      ipv4(A.ip, B.ip, 17, udp(A.ip, B.ip, 7, 7, new Uint8Array(100).fill(3), { checksum: 'partial' })),
    );
    // GUEST_CSUM receiver first: once the device completes the sum for one copy it stays complete.
    rig.install(f, 0, [
      { op: 'output', port: 2 },
      { op: 'output', port: 1 },
    ]);
    const h = new Uint8Array(12);
    h[0] = 1;
    new DataView(h.buffer).setUint16(6, 34, true);
    new DataView(h.buffer).setUint16(8, 6, true);
    a.send(f, { hdr: h });
    rig.run();
    const gb = b.recv()[0]!;
    expect(gb.hdr[0]).toBe(0);
    expect(l4ChecksumOk(gb.frame, 14)).toBe(true);
    const gc = c.recv()[0]!;
    expect(gc.hdr[0]).toBe(1);
    expect(new DataView(gc.hdr.buffer).getUint16(6, true)).toBe(34);
    expect(gc.frame).toEqual(f);
  });

  it('TSO: a 4000-byte TCP payload with MSS 1000 arrives as 4 valid segments', () => {
    const { rig, a, b } = pair();
    const data = new Uint8Array(4000).map((_, i) => i & 255);
    const f = ether(
      B.mac,
      A.mac,
      0x0800,
      ipv4(A.ip, B.ip, 6, tcp(A.ip, B.ip, 80, 81, 1000, 0x18 | 0x01, data, true), { id: 100 }),
    );
    rig.install(f, 0, [{ op: 'output', port: 1 }]);
    const h = new Uint8Array(12);
    const v = new DataView(h.buffer);
    h[0] = 1;
    h[1] = 1;
    v.setUint16(4, 1000, true);
    v.setUint16(6, 34, true);
    v.setUint16(8, 16, true);
    a.send(f, { hdr: h });
    rig.run();
    const segs = b.recv().map((r) => r.frame);
    expect(segs).toHaveLength(4);
    segs.forEach((s, k) => {
      expect(s.length).toBe(54 + 1000);
      expect(l4ChecksumOk(s, 14)).toBe(true);
      const seq = new DataView(s.buffer).getUint32(38);
      expect(seq).toBe(1000 + 1000 * k);
      expect(s[47]! & 0x09).toBe(k === 3 ? 0x09 : 0); // FIN/PSH only on the last
      expect(s.subarray(54)).toEqual(data.subarray(1000 * k, 1000 * (k + 1)));
      expect(new DataView(s.buffer).getUint16(18)).toBe(100 + k);
    });
    expect(rig.sw.stats().tsoSegments).toBe(4);
  });

  it('VXLAN: encap to a tunnel port sends header + inner frame to the socket worker; a datagram from it is decapsulated and delivered', () => {
    const { rig, a, b, f } = pair();
    const tio = new TunnelIo(rig.memory, 'tun', 'test');
    rig.sw.addTunnel(5, tio);
    rig.install(f, 0, [
      { op: 'encap-vxlan', vni: 4242, srcIp: '198.18.0.1', dstIp: '127.0.0.1', srcMac: GW, dstMac: GW, udpPort: 4789 },
      { op: 'output', port: 5 },
    ]);
    a.send(f);
    rig.run();
    let rec: Uint8Array | null = null;
    tio.tx.spsc.pop((w) => (rec = rig.memory.u8.slice(w * 4, w * 4 + 16 + 8 + 64)));
    const r = rec!;
    expect(Array.from(r.subarray(0, 4))).toEqual([127, 0, 0, 1]);
    expect(new DataView(r.buffer).getUint16(4, true)).toBe(4789);
    expect(new DataView(r.buffer).getUint16(6, true)).toBe(72);
    expect(r[16]).toBe(0x08);
    expect((r[20]! << 16) | (r[21]! << 8) | r[22]!).toBe(4242);
    expect(r.subarray(24)).toEqual(f);
    // Inbound: the worker writes a datagram; the key carries the VNI and the tunnel port.
    const inner = udpFrame({
      srcMac: GW,
      dstMac: B.mac,
      srcIp: '198.18.1.1',
      dstIp: B.ip,
      sport: 9,
      dport: 9,
      frameBytes: 70,
    });
    rig.install(inner, 0, [{ op: 'output', port: 1 }]); // a different in-port: must not match
    rig.sw.downcall({
      op: 'install',
      key: rig.keyOf(inner, 5, 4242),
      actions: encodeActions([{ op: 'decap-vxlan' }, { op: 'output', port: 1 }]),
    });
    rig.run();
    tio.rx.spsc.push((w) => {
      const at = w * 4;
      rig.memory.u8.set([127, 0, 0, 1], at);
      new DataView(rig.memory.memory.buffer).setUint16(at + 4, 50000, true);
      new DataView(rig.memory.memory.buffer).setUint16(at + 6, 8 + inner.length, true);
      rig.memory.u8.set(concat([0x08, 0, 0, 0, 0, 0x10, 0x92, 0], inner), at + 16);
    });
    rig.run();
    expect(b.recv().map((x) => x.frame)).toEqual([inner]);
    expect(tio.stats()).toMatchObject({ txPackets: 1, rxPackets: 1, rxBad: 0 });
  });

  it('VXLAN encap to a VNIC port builds valid outer headers; DECAP_VXLAN on such a frame restores the inner one', () => {
    const rig = new NetRig();
    const a = rig.addNic(0, { mac: A.mac });
    const b = rig.addNic(1, { mac: B.mac });
    const c = rig.addNic(2, { mac: '02:00:00:00:00:0c' });
    b.postRx(4);
    c.postRx(4);
    const f = udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport: 1, dport: 2, frameBytes: 100 });
    rig.install(f, 0, [
      { op: 'encap-vxlan', vni: 77, srcIp: '198.18.0.1', dstIp: '198.18.0.2', srcMac: GW, dstMac: B.mac },
      { op: 'output', port: 1 },
    ]);
    a.send(f);
    rig.run();
    const outer = b.recv()[0]!.frame;
    expect(outer.length).toBe(150);
    expect(csum(outer.subarray(14, 34))).toBe(0);
    expect((outer[34]! << 8) | outer[35]!).toBeGreaterThanOrEqual(49152);
    expect((outer[36]! << 8) | outer[37]!).toBe(4789);
    expect(outer.subarray(50)).toEqual(f);
    // B sends it back: parsed as VXLAN (inner key), decapsulated to C (promiscuous: the inner
    // frame is addressed to B).
    expect(c.ctrlCmd(0, 0, Uint8Array.of(1))).toBe(0);
    rig.sw.downcall({
      op: 'install',
      key: rig.keyOf(outer, 1),
      actions: encodeActions([{ op: 'decap-vxlan' }, { op: 'output', port: 2 }]),
    });
    rig.run();
    b.send(outer);
    rig.run();
    expect(c.recv().map((x) => x.frame)).toEqual([f]);
  });

  it('trunk: a tagged frame enters by its sub-port; output to a sub-port pushes its tag onto the parent', () => {
    const rig = new NetRig();
    const t = rig.addNic(0, { mac: A.mac, trunk: true });
    const b = rig.addNic(1, { mac: B.mac });
    rig.sw.addTrunkSub(3, 0, 100);
    expect(t.ctrlCmd(2, 0, Uint8Array.of(100, 0))).toBe(0); // the trunk guest takes VLAN 100
    b.postRx(4);
    t.postRx(4);
    const tagged = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1,
      dport: 2,
      frameBytes: 68,
      vlans: [100],
    });
    t.send(tagged);
    rig.run();
    const up = takeUpcalls(rig.memory, rig.sw.upcallRing(3));
    expect(up.map((u) => [u.port, u.devPort])).toEqual([[3, 0]]);
    rig.install(tagged, 3, [{ op: 'pop-vlan' }, { op: 'output', port: 1 }]);
    const back = udpFrame({
      srcMac: B.mac,
      dstMac: A.mac,
      srcIp: B.ip,
      dstIp: A.ip,
      sport: 2,
      dport: 1,
      frameBytes: 64,
    });
    rig.install(back, 1, [{ op: 'output', port: 3 }]);
    rig.run();
    t.send(tagged);
    b.send(back);
    rig.run();
    expect(b.recv()[0]!.frame.length).toBe(64);
    const got = t.recv()[0]!.frame;
    expect(Array.from(got.subarray(12, 16))).toEqual([0x81, 0, 0, 100]);
    expect(rig.sw.portStats(3)).toMatchObject({ inPackets: 2, outPackets: 1 });
  });

  it('flows age out after maxIdle ticks without hits; delete and flush by cookie remove flows', () => {
    const rig = new NetRig({ switch: { maxIdleTicks: 100, ageBudget: 1024 } });
    rig.addNic(0, { mac: A.mac });
    rig.addNic(1, { mac: B.mac });
    const fs = [0, 1, 2, 3].map((i) =>
      udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport: i, dport: 1, frameBytes: 64 }),
    );
    fs.forEach((f, i) => rig.install(f, 0, [{ op: 'output', port: 1 }], i < 2 ? 7 : 8));
    rig.sw.setNow(10);
    rig.run();
    expect(rig.sw.flows()).toHaveLength(4);
    rig.sw.downcall({ op: 'delete', key: rig.keyOf(fs[3]!, 0) });
    rig.sw.downcall({ op: 'flush-cookie', cookie: 7 });
    rig.run();
    expect(rig.sw.flows().map((f) => f.cookie)).toEqual([8]);
    rig.sw.setNow(50);
    rig.run();
    expect(rig.sw.flows()).toHaveLength(1);
    rig.sw.setNow(200);
    rig.run();
    expect(rig.sw.flows()).toHaveLength(0);
    expect(rig.sw.stats()).toMatchObject({ aged: 1, flushed: 2, deletes: 1 });
  });

  /** A big table and a small slice (a flush takes many runs), a sender and a receiver, frames by source port. */
  function flushRig(): { rig: NetRig; nic: TestNic; b: TestNic; f: (sport: number) => Uint8Array } {
    const rig = new NetRig({ switch: { flowCapacity: 65536, ageBudget: 16 } });
    const nic = rig.addNic(0, { mac: A.mac });
    const b = rig.addNic(1, { mac: B.mac });
    b.postRx(8);
    const f = (sport: number): Uint8Array =>
      udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport, dport: 1, frameBytes: 64 });
    return { rig, nic, b, f };
  }

  it('a masked flush removes the flows either term matches (one port in and out), and no other', () => {
    const { rig, nic, b, f } = flushRig();
    // Cookies in << 16 | out: port 2's flows are the first, third and fourth.
    const cookies = [0x10002, 0x30004, 0x20005, 0x60002];
    cookies.forEach((c, i) => rig.install(f(i), 0, [{ op: 'output', port: 1 }], c));
    rig.run();
    rig.sw.downcall({
      op: 'flush-masked',
      terms: [
        { cookie: 2 << 16, mask: 0xffff0000 },
        { cookie: 2, mask: 0xffff },
      ],
    });
    // In force at once for packets, long before the lap is over.
    cookies.forEach((_, i) => nic.send(f(i)));
    rig.run();
    expect(b.recv().map((x) => (x.frame[34]! << 8) | x.frame[35]!)).toEqual([1]);
    expect(takeUpcalls(rig.memory, rig.sw.upcallRing(0))).toHaveLength(3);
    for (let i = 0; i < 10_000 && rig.sw.flows().length > 1; i++) rig.run();
    expect(rig.sw.flows().map((x) => x.cookie)).toEqual([0x30004]);
    expect(rig.sw.stats()).toMatchObject({ flushed: 3 });
    // One term: the flows out to nowhere (out half 0) only.
    rig.install(f(10), 0, [{ op: 'output', port: 1 }], 0x70000);
    rig.run();
    expect(rig.sw.flows()).toHaveLength(2);
    rig.sw.downcall({ op: 'flush-masked', terms: [{ cookie: 0, mask: 0xffff }] });
    for (let i = 0; i < 10_000 && rig.sw.flows().length > 1; i++) rig.run();
    expect(rig.sw.flows().map((x) => x.cookie)).toEqual([0x30004]);
    expect(() => rig.sw.downcall({ op: 'flush-masked', terms: [] })).toThrow(/1 or 2 terms/);
  });

  it('a running flush is in force at once: a packet of a flow it will remove goes up as a miss', () => {
    const { rig, nic, b, f } = flushRig();
    rig.install(f(1), 0, [{ op: 'output', port: 1 }], 7);
    rig.install(f(2), 0, [{ op: 'output', port: 1 }], 8);
    rig.run();
    rig.sw.downcall({ op: 'flush-cookie', cookie: 7 });
    nic.send(f(1));
    nic.send(f(2));
    rig.run();
    // The flush has only begun its lap, yet cookie 7's packet no longer rides its flow.
    expect(
      rig.sw
        .flows()
        .map((x) => x.cookie)
        .sort(),
    ).toEqual([7, 8]);
    expect(b.recv().map((x) => (x.frame[34]! << 8) | x.frame[35]!)).toEqual([2]);
    expect(takeUpcalls(rig.memory, rig.sw.upcallRing(0)).map((u) => u.reason)).toEqual([NET_UPC_MISS]);
    for (let i = 0; i < 10_000 && rig.sw.flows().length > 1; i++) rig.run();
    expect(rig.sw.flows().map((x) => x.cookie)).toEqual([8]);
    // Once it is over, the remaining flow still forwards.
    nic.send(f(2));
    rig.run();
    expect(b.recv()).toHaveLength(1);
  });

  it("a port's MTU bounds what output gives it (counted as the port's outDrops)", async () => {
    const { rig, a, b } = pair();
    await rig.sw.ports.set(1, { kind: 'vnic', target: b.dev.state.base, mtu: 100 });
    const small = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1,
      dport: 1,
      frameBytes: 118,
    });
    const big = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 2,
      dport: 2,
      frameBytes: 119,
    });
    rig.install(small, 0, [{ op: 'output', port: 1 }]);
    rig.install(big, 0, [{ op: 'output', port: 1 }]);
    a.send(small);
    a.send(big);
    rig.run();
    expect(b.recv().map((r) => r.frame.length)).toEqual([118]);
    expect(rig.sw.portStats(1).outDrops).toBe(1);
  });

  it('refuses a downcall whose action list is malformed (unknown op, port out of range, bad length)', () => {
    const { rig, f } = pair();
    const key = rig.keyOf(f, 0);
    const bad = [
      Uint8Array.of(99, 1, 0, 0),
      Uint8Array.of(1, 1, 200, 0),
      Uint8Array.of(1, 2, 1, 0),
      Uint8Array.of(1, 1, 1),
    ];
    for (const actions of bad) rig.sw.downcall({ op: 'install', key, actions });
    rig.run();
    expect(rig.sw.stats()).toMatchObject({ installs: 0, installFailed: 4 });
    expect(rig.sw.flows()).toHaveLength(0);
  });
});
