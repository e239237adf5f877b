// virtio-net bad inputs H1-H6c (docs/virtio-bad-input.md, "H. virtio-net"), each with its pinned
// policy (docs/virtio-policy.md): the offending guest's request or buffer is refused (R) and
// counted; the device does not break; the other guest's traffic in the same run is unaffected;
// nothing outside guest RAM is written.
import { describe, expect, it } from 'vitest';
import { dirtyPages } from '../../../src/hypervisor/guest/dirty-log.js';
import { NetRig, type TestNic } from './net-rig.js';
import { ether, ipv4, tcp, udp, udpFrame } from './frames.js';

const A = { mac: '02:00:00:00:00:0a', ip: '198.18.0.10' };
const B = { mac: '02:00:00:00:00:0b', ip: '198.18.0.11' };
const C = { mac: '02:00:00:00:00:0c', ip: '198.18.0.12' };

const F = (n: number): bigint => 1n << BigInt(n);

/** Guest A (port 0) → guest B (port 1), guest C (port 2) → B as the bystander flow. */
function setup(opts: { featuresA?: bigint; featuresB?: bigint; mtu?: number } = {}) {
  const rig = new NetRig();
  const a = rig.addNic(0, {
    mac: A.mac,
    ...(opts.featuresA !== undefined ? { features: opts.featuresA } : {}),
    ...(opts.mtu ? { mtu: opts.mtu } : {}),
  });
  const b = rig.addNic(1, { mac: B.mac, ...(opts.featuresB !== undefined ? { features: opts.featuresB } : {}) });
  const c = rig.addNic(2, { mac: C.mac });
  const fa = udpFrame({ srcMac: A.mac, dstMac: B.mac, srcIp: A.ip, dstIp: B.ip, sport: 1, dport: 2, frameBytes: 128 });
  const fc = udpFrame({ srcMac: C.mac, dstMac: B.mac, srcIp: C.ip, dstIp: B.ip, sport: 3, dport: 4, frameBytes: 128 });
  rig.install(fa, 0, [{ op: 'output', port: 1 }]);
  rig.install(fc, 2, [{ op: 'output', port: 1 }]);
  rig.run();
  return { rig, a, b, c, fa, fc };
}

/** After the bad request: C's frame still reaches B in the same run, and nothing broke. */
function bystanderOk(s: ReturnType<typeof setup>, bRecv = s.b.recv()): void {
  expect(bRecv.map((r) => r.frame)).toContainEqual(s.fc);
  for (const n of [s.a, s.b, s.c] as TestNic[]) {
    expect(n.dev.needsReset).toBe(false);
    expect(n.gg.guardsIntact()).toBe(true);
  }
}

function hdr(
  fields: Partial<{
    flags: number;
    gso: number;
    hdrLen: number;
    gsoSize: number;
    csumStart: number;
    csumOffset: number;
    numBuffers: number;
  }>,
): Uint8Array {
  const h = new Uint8Array(12);
  const v = new DataView(h.buffer);
  v.setUint8(0, fields.flags ?? 0);
  v.setUint8(1, fields.gso ?? 0);
  v.setUint16(2, fields.hdrLen ?? 0, true);
  v.setUint16(4, fields.gsoSize ?? 0, true);
  v.setUint16(6, fields.csumStart ?? 0, true);
  v.setUint16(8, fields.csumOffset ?? 0, true);
  v.setUint16(10, fields.numBuffers ?? 0, true);
  return h;
}

/** Sends the bad request from A and the good one from C, runs once; checks R for A. */
function refused(s: ReturnType<typeof setup>, id: string, send: () => void): void {
  s.b.postRx(8);
  send();
  s.c.send(s.fc);
  s.rig.run();
  const got = s.b.recv();
  expect(got.map((r) => r.frame)).not.toContainEqual(s.fa);
  expect(s.a.dev.stats().badInput[id]).toBe(1);
  const done = s.a.txDone();
  expect(done).toHaveLength(1);
  expect(done[0]!.len).toBe(0);
  bystanderOk(s, got);
  // The refusing device goes on: a good frame from A right after is forwarded.
  s.a.send(s.fa);
  s.rig.run();
  expect(s.b.recv().map((r) => r.frame)).toContainEqual(s.fa);
}

describe('virtio-net bad inputs (H ids), pinned policies', () => {
  it('H1: a TX chain no longer than the 12-byte header is refused (R)', () => {
    const s = setup();
    refused(s, 'H1', () => s.a.sendRaw([new Uint8Array(12)]));
  });

  it('H2: a TX frame above MTU + 14 is refused (R); a tagged one may be 4 bytes longer', () => {
    const s = setup({ mtu: 1500 });
    const big = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1,
      dport: 2,
      frameBytes: 1515,
    });
    refused(s, 'H2', () => s.a.send(big));
    s.b.postRx(4);
    const tagged = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1,
      dport: 2,
      frameBytes: 1518,
      vlans: [5],
    });
    s.rig.install(tagged, 0, [{ op: 'output', port: 1 }]);
    s.a.send(tagged);
    s.rig.run();
    s.rig.run();
    expect(s.a.dev.stats().badInput['H2']).toBe(1);
  });

  it('H2: a GSO frame above the largest frame the device takes is refused (R)', () => {
    const s = setup();
    const payload = new Uint8Array(65536 - 54);
    const f = ether(
      B.mac,
      A.mac,
      0x0800,
      ipv4(A.ip, B.ip, 6, tcp(A.ip, B.ip, 1, 2, 0, 0x10, payload.subarray(0, 65535 - 40), true)),
    );
    const big = new Uint8Array(65536);
    big.set(f.subarray(0, 65536));
    refused(s, 'H2', () =>
      s.a.send(big, { hdr: hdr({ flags: 1, gso: 1, gsoSize: 1448, csumStart: 34, csumOffset: 16 }) }),
    );
  });

  it('H2a: a TX frame shorter than an Ethernet header is refused (R)', () => {
    const s = setup();
    refused(s, 'H2a', () => s.a.send(new Uint8Array(13)));
  });

  it('H3: a TX chain with writable descriptors is refused (R)', () => {
    const s = setup();
    refused(s, 'H3', () => s.a.sendRaw([new Uint8Array(12), s.fa], [64]));
  });

  it('H4: TX num_buffers not 0 is refused (R)', () => {
    const s = setup();
    refused(s, 'H4', () => s.a.send(s.fa, { hdr: hdr({ numBuffers: 1 }) }));
  });

  it('H4: TX header flags other than NEEDS_CSUM (DATA_VALID, RSC_INFO, unknown) are refused (R)', () => {
    for (const flags of [2, 4, 0x80]) {
      const s = setup();
      refused(s, 'H4', () => s.a.send(s.fa, { hdr: hdr({ flags }) }));
    }
  });

  it('H4: NEEDS_CSUM from a driver that did not negotiate VIRTIO_NET_F_CSUM is refused (R)', () => {
    const rig0 = new NetRig();
    const all = rig0.addNic(0, { mac: A.mac }).dev.features();
    const s = setup({ featuresA: all & ~F(0) & ~F(11) & ~F(12) });
    refused(s, 'H4', () => s.a.send(s.fa, { hdr: hdr({ flags: 1, csumStart: 34, csumOffset: 6 }) }));
  });

  it('H5: NEEDS_CSUM with csum_start + csum_offset + 2 beyond the frame is refused (R)', () => {
    const s = setup();
    refused(s, 'H5', () => s.a.send(s.fa, { hdr: hdr({ flags: 1, csumStart: 120, csumOffset: 7 }) }));
  });

  it('H5a: an unknown or not offered gso_type, ECN without HOST_ECN, GSO without NEEDS_CSUM, gso_size 0 or bogus hdr_len are refused (R)', () => {
    const bad = [
      hdr({ flags: 1, gso: 3, gsoSize: 100, csumStart: 34, csumOffset: 6 }), // UDP (UFO not offered)
      hdr({ flags: 1, gso: 2, gsoSize: 100, csumStart: 34, csumOffset: 6 }), // no such type
      hdr({ flags: 1, gso: 0x81, gsoSize: 100, csumStart: 34, csumOffset: 16 }), // ECN
      hdr({ flags: 0, gso: 1, gsoSize: 100 }), // GSO without NEEDS_CSUM
      hdr({ flags: 1, gso: 1, gsoSize: 0, csumStart: 34, csumOffset: 16 }), // gso_size 0
      hdr({ flags: 1, gso: 1, gsoSize: 100, hdrLen: 4000, csumStart: 34, csumOffset: 16 }), // hdr_len past the frame
    ];
    for (const h of bad) {
      const s = setup();
      refused(s, 'H5a', () => s.a.send(s.fa, { hdr: h }));
    }
  });

  it('H5a: a TSO request whose frame is not TCP of its IP version, or cuts into more than 64 segments, is refused (R)', () => {
    const s = setup();
    // TCPV4 over a UDP frame.
    refused(s, 'H5a', () =>
      s.a.send(s.fa, { hdr: hdr({ flags: 1, gso: 1, gsoSize: 50, csumStart: 34, csumOffset: 6 }) }),
    );
    const s2 = setup();
    const seg = ether(
      B.mac,
      A.mac,
      0x0800,
      ipv4(A.ip, B.ip, 6, tcp(A.ip, B.ip, 1, 2, 0, 0x10, new Uint8Array(6500), true)),
    );
    refused(s2, 'H5a', () =>
      s2.a.send(seg, { hdr: hdr({ flags: 1, gso: 1, gsoSize: 100, csumStart: 34, csumOffset: 16 }) }),
    );
  });

  function rxRefused(
    id: string,
    post: (s: ReturnType<typeof setup>) => void,
    opts: Parameters<typeof setup>[0] = {},
  ): void {
    const s = setup(opts);
    post(s);
    s.a.send(s.fa);
    s.rig.run();
    const raw: { token: number; len: number }[] = [];
    expect(s.b.recv(0, raw)).toHaveLength(0);
    expect(raw).toHaveLength(1);
    expect(raw[0]!.len).toBe(0);
    expect(s.b.dev.stats().badInput[id]).toBe(1);
    expect(s.rig.sw.portStats(1).outDrops).toBe(1);
    // The device goes on: with a proper buffer the next frame (from the bystander) arrives.
    s.b.postRx(2);
    s.c.send(s.fc);
    s.rig.run();
    bystanderOk(s);
  }

  it('H6: an RX buffer smaller than the header is returned with len 0 and the frame dropped (R)', () => {
    rxRefused('H6', (s) => s.b.postRx(1, 8));
  });

  it('H6a: without MRG_RXBUF, an RX buffer too small for the frame is returned with len 0 (R)', () => {
    const rig0 = new NetRig();
    const all = rig0.addNic(0, { mac: A.mac }).dev.features();
    rxRefused('H6a', (s) => s.b.postRx(1, 100), { featuresB: all & ~F(15) });
  });

  it('H6b: with MRG_RXBUF a frame spans buffers, num_buffers of them, published together in one run', () => {
    const s = setup();
    const big = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1,
      dport: 2,
      frameBytes: 1000,
    });
    s.rig.install(big, 0, [{ op: 'output', port: 1 }]);
    s.rig.run();
    s.b.postRx(8, 256);
    s.a.send(big);
    const usedIdx = (): number => s.b.guest.ram.getUint16(Number(s.b.rx[0]!.deviceGpa) + 2, true);
    const before = usedIdx();
    s.rig.run();
    expect(usedIdx() - before).toBe(4); // 12 + 1000 bytes in 256-byte buffers: one publish of 4
    const got = s.b.recv();
    expect(got).toHaveLength(1);
    expect(got[0]!.numBuffers).toBe(4);
    expect(got[0]!.frame).toEqual(big);
  });

  it('H6c: a read-only RX buffer is returned with len 0 and the frame dropped (R)', () => {
    rxRefused('H6c', (s) => {
      const g = s.b.guest;
      const gpa = g.allocGpa(2048, 64);
      s.b.rx[0]!.add([{ gpa, len: 2048 }], []);
      s.b.rx[0]!.kick();
    });
  });

  it('a TX chain the ring layer refuses (C4: outside guest RAM) is completed with len 0 and counted', () => {
    const s = setup();
    refused(s, 'RING', () => {
      s.a.tx[0]!.add([{ gpa: 1n << 40n, len: 100 }], []);
      s.a.tx[0]!.kick();
    });
  });

  it('received frames and their headers reach guest RAM through the dirty log', () => {
    const s = setup();
    const g = s.b.guest;
    g.startDirtyLog();
    g.allocGpa(4096, 4096); // a page of its own between the rings (which the driver writes) and the buffer
    const gpa = g.allocGpa(8192, 4096);
    s.b.rx[0]!.add([], [{ gpa, len: 8192 }]);
    s.b.rx[0]!.kick();
    g.readAndClearDirty();
    s.a.send(s.fa);
    s.rig.run();
    expect(dirtyPages(g.readAndClearDirty())).toContain(Number(gpa >> 12n));
    expect(g.read(gpa + 12n, s.fa.length)).toEqual(s.fa);
  });

  it('a frame whose header and data are split or in pieces is forwarded unchanged', () => {
    const s = setup();
    s.b.postRx(4);
    s.a.send(s.fa, { layout: 'split' });
    s.a.send(s.fa, { layout: 'pieces' });
    s.rig.run();
    const got = s.b.recv();
    expect(got.map((r) => r.frame)).toEqual([s.fa, s.fa]);
  });
});

void udp;
