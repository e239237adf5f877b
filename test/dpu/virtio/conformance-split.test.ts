/**
 * Split-ring conformance (virtio 1.2 §2.7) and the bad-input list of
 * docs/virtio-bad-input.md, one test per id. Every test also checks that no byte outside
 * the guest's RAM changed (guards with canaries on both sides). Policies: docs/virtio-policy.md.
 */
import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { needEvent } from '../../../src/common/virtio/ring-layout.js';
import type { QueueSnapshot } from '../../../src/dpu/virtio/device-queue.js';
import { F, Harness, RawSplit, SPLIT } from './raw-ring.js';
import { BR_CHAINS, CH_TOKEN, CH_USED_LEN } from '../../../src/generated/virtio.js';

const MIB_4 = 4 << 20;
const pattern = (n: number, seed = 1): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

function refusedWith(fn: () => void, id: string): void {
  try {
    fn();
  } catch (e) {
    expect(isQingtianError(e, 'QT_QUEUE_REFUSED'), String(e)).toBe(true);
    expect((e as Error).message).toContain(`(${id}:`);
    return;
  }
  throw new Error(`expected a ${id} refusal`);
}

/** A ring with one valid request echoing `n` bytes: readable desc 0 → writable desc 1. */
function echoSetup(h: Harness, ring: RawSplit, n = 32): { src: bigint; dst: bigint; data: Uint8Array } {
  const data = pattern(n);
  const src = h.buf(data);
  const dst = h.buf(n);
  ring.desc(0, src, n, F.NEXT, 1).desc(1, dst, n, F.WRITE);
  return { src, dst, data };
}

function expectBroken(h: Harness, ring: RawSplit, id: string): void {
  const before = ring.usedIdx();
  expect(h.run()).toBe(0);
  const st = h.dev.stats();
  expect(st.needsReset).toBe(true);
  expect(st.queue.broken?.id).toBe(id);
  expect(h.configIrqs()).toBe(1);
  expect(ring.usedIdx()).toBe(before);
  // Broken means broken: even a now-valid ring is not processed until reset.
  expect(h.run()).toBe(0);
  expect(h.gg.guardsIntact()).toBe(true);
}

function expectRejected(h: Harness, ring: RawSplit, id: string, head = 0): void {
  expect(h.run()).toBe(1);
  expect(ring.usedIdx()).toBe(1);
  expect(ring.used(0)).toEqual({ id: head, len: 0 });
  const st = h.dev.stats();
  expect(st.needsReset).toBe(false);
  expect(st.rejected).toBe(1);
  expect(st.queue.rejected).toBe(1);
  expect(id).toMatch(/^[A-F]\d/);
  expect(h.gg.guardsIntact()).toBe(true);
}

describe('A. queue setup (§2.7, §2.7.1)', () => {
  it('A1 refuses size 0, a non-power-of-two split size, and sizes above 32768', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    for (const size of [0, 3, 6, 65536]) {
      const cfg = { size, features: SPLIT, descGpa: r.descGpa, driverGpa: r.availGpa, deviceGpa: r.usedGpa };
      if (size === 0 || size === 65536)
        expect(() => h.dev.configure(cfg)).toThrow(/queue config\.size: expected an integer in \[1, 32768\]/);
      else refusedWith(() => h.dev.configure(cfg), 'A1');
    }
    const big = new Harness(MIB_4, 32768);
    const rb = new RawSplit(big, 32768);
    expect(() => rb.configure()).not.toThrow();
    expect(h.dev.stats().queue.ready).toBe(false);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('A2 refuses a misaligned descriptor table (16), available ring (2) or used ring (4)', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    const base = { size: 8, features: SPLIT, descGpa: r.descGpa, driverGpa: r.availGpa, deviceGpa: r.usedGpa };
    refusedWith(() => h.dev.configure({ ...base, descGpa: r.descGpa + 8n }), 'A2');
    refusedWith(() => h.dev.configure({ ...base, driverGpa: r.availGpa + 1n }), 'A2');
    refusedWith(() => h.dev.configure({ ...base, deviceGpa: r.usedGpa + 2n }), 'A2');
    expect(h.dev.stats().queue.ready).toBe(false);
  });

  it('A3 refuses ring areas not wholly inside guest RAM, including address overflow', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    const ram = BigInt(h.guest.ramBytes);
    const base = { size: 8, features: SPLIT, descGpa: r.descGpa, driverGpa: r.availGpa, deviceGpa: r.usedGpa };
    refusedWith(() => h.dev.configure({ ...base, descGpa: ram - 64n }), 'A3'); // 128 bytes needed
    refusedWith(() => h.dev.configure({ ...base, deviceGpa: ram - 64n }), 'A3'); // used needs 4 + 8·8
    refusedWith(() => h.dev.configure({ ...base, driverGpa: (1n << 64n) - 16n }), 'A3');
    refusedWith(() => h.dev.configure({ ...base, descGpa: ram }), 'A3');
  });

  it('A4 refuses overlapping ring areas', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    refusedWith(
      () =>
        h.dev.configure({
          size: 8,
          features: SPLIT,
          descGpa: r.descGpa,
          driverGpa: r.descGpa + 64n,
          deviceGpa: r.usedGpa,
        }),
      'A4',
    );
  });

  it('A5 processes nothing while not ready, or after reset until reconfigured', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    const { dst } = echoSetup(h, r);
    r.post(0);
    expect(h.run()).toBe(0); // never configured
    expect(r.usedIdx()).toBe(0);
    r.configure();
    h.dev.reset();
    expect(h.run()).toBe(0);
    expect(r.usedIdx()).toBe(0);
    expect(h.guest.read(dst, 4)).toEqual(new Uint8Array(4));
    r.configure();
    expect(h.run()).toBe(1);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('A6 refuses restored state with bad indices or an inconsistent in-flight set, and leaves the queue reset', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const good = h.dev.queue.save();
    const refused = (patch: object): void => {
      try {
        h.dev.queue.restore({ ...good, ...patch });
        throw new Error('accepted');
      } catch (e) {
        expect(isQingtianError(e)).toBe(true);
        expect((e as Error).message).toMatch(/\(A[16]:|queue snapshot/);
      }
      expect(h.dev.stats().queue.ready).toBe(false);
    };
    refused({ nextAvail: 9, nextUsed: 0 }); // 9 in flight on a queue of 8
    refused({ nextAvail: 2, nextUsed: 0, inflight: [{ token: 1, id: 1, descCount: 1 }] }); // count mismatch
    refused({
      nextAvail: 2,
      nextUsed: 0,
      inflight: [
        { token: 1, id: 1, descCount: 1 },
        { token: 1, id: 1, descCount: 1 },
      ],
    }); // duplicate
    refused({ nextAvail: 1, nextUsed: 0, inflight: [{ token: 8, id: 8, descCount: 1 }] }); // head >= N
    refused({ nextAvail: 70000 });
    refused({ config: { ...good.config, size: 5 } });
    h.dev.queue.restore(good);
    expect(h.dev.stats().queue.ready).toBe(true);
    void r;
  });

  it('A6 (positive) save and restore mid-stream, with requests in flight, completes them after restore', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const { dst, data } = echoSetup(h, r);
    r.post(0);
    // Pop without pushing, as a device with a request in flight at a quiescent point.
    const k = h.rt.kernel('virtio');
    expect(
      k.fn<(a: number, b: number, c: number) => number>('vq_pop')(h.dev.queue.state.base, h.dev.burst.base, 8),
    ).toBe(1);
    const snap = JSON.parse(
      JSON.stringify(h.dev.queue.save(), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
      (_k, v: unknown) => (typeof v === 'string' && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v),
    ) as QueueSnapshot;
    expect(snap.inflight).toEqual([{ token: 0, id: 0, descCount: 1 }]);
    h.dev.queue.reset();
    h.dev.queue.restore(snap);
    expect(h.dev.stats().queue.inflight).toBe(1);
    // The restored queue completes the in-flight request (the burst record is still there).
    h.memory.view.setUint32(h.dev.burst.base + BR_CHAINS + CH_USED_LEN, 32, true);
    h.guest.write(dst, data);
    expect(
      k.fn<(a: number, b: number, c: number) => number>('vq_push')(h.dev.queue.state.base, h.dev.burst.base, 1),
    ).toBe(1);
    expect(r.usedIdx()).toBe(1);
    expect(r.used(0)).toEqual({ id: 0, len: 32 });
  });
});

describe('B. available ring (§2.7.6)', () => {
  it('B1 avail.idx jumping more than N past the last seen index breaks the device', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    echoSetup(h, r);
    r.setAvailIdx(9);
    expectBroken(h, r, 'B1');
  });

  it('B1 a decrementing avail.idx is a jump too', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    echoSetup(h, r);
    r.post(0, 0);
    expect(h.run()).toBe(0); // B3 here: the same head twice in flight
    const h2 = new Harness();
    const r2 = new RawSplit(h2, 8).configure();
    echoSetup(h2, r2);
    r2.post(0);
    expect(h2.run()).toBe(1);
    r2.setAvailIdx(0xffff); // idx went backwards by 2
    expectBroken(h2, r2, 'B1');
  });

  it('B2 a ring entry >= N breaks the device', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.post(8);
    expectBroken(h, r, 'B2');
  });

  it('B3 a head made available again while in flight breaks the device', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    echoSetup(h, r);
    r.post(0, 0);
    expectBroken(h, r, 'B3');
  });

  it('B3 (positive) re-posting a head after it was used is normal reuse', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    echoSetup(h, r);
    for (let i = 0; i < 20; i++) {
      r.post(0);
      expect(h.run()).toBe(1);
    }
    expect(r.usedIdx()).toBe(20);
  });

  it('B4 unknown avail.flags bits are ignored; only NO_INTERRUPT suppresses', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    echoSetup(h, r);
    r.setAvailFlags(0xfffe).post(0);
    h.run();
    expect(h.irqs()).toBe(1);
    r.setAvailFlags(0xffff).post(0);
    h.run();
    expect(h.irqs()).toBe(1);
    expect(h.dev.stats().queue.irqSuppressed).toBe(1);
  });
});

describe('C. descriptor chains (§2.7.5, §2.7.4)', () => {
  it('C1 next >= N breaks the device', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.desc(0, h.buf(8), 8, F.NEXT, 8).post(0);
    expectBroken(h, r, 'C1');
  });

  it('C2 a self-loop and a two-descriptor cycle break the device after at most N descriptors', () => {
    for (const cycle of [[0], [0, 1]]) {
      const h = new Harness();
      const r = new RawSplit(h, 8).configure();
      const b = h.buf(8);
      cycle.forEach((d, i) => r.desc(d, b, 8, F.NEXT, cycle[(i + 1) % cycle.length]));
      r.post(0);
      expectBroken(h, r, 'C2');
    }
  });

  it('C3 a chain longer than 2^32 - 1 bytes is rejected', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.desc(0, h.buf(4096), 4096, F.NEXT, 1).desc(1, h.buf(64), 0xffff_f800, F.WRITE).post(0);
    expectRejected(h, r, 'C3');
  });

  it('C4 a buffer outside guest RAM, wrapping past 2^64, or crossing RAM end is rejected', () => {
    const ram = BigInt(1 << 20);
    for (const [addr, len] of [
      [ram, 8],
      [(1n << 64n) - 4n, 8],
      [ram - 4n, 8],
      [1n << 40n, 1],
    ] as const) {
      const h = new Harness();
      const r = new RawSplit(h, 8).configure();
      r.desc(0, addr, len, F.WRITE).post(0);
      expectRejected(h, r, 'C4');
    }
  });

  it('C4 a buffer in a hole between two guest slots is rejected; C4a one straddling two adjacent slots works', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    const g = h.guest;
    // Remap: GPA [0, 512K) → the first half of RAM, [512K, 1M) → the second half; then a hole
    // at [1M, 1M+64K); nothing is ever read from the hole.
    const half = 512 * 1024;
    h.gg.remap([
      { gpaStart: 0n, sizeBytes: BigInt(half), hostBase: g.ramBase },
      { gpaStart: BigInt(half), sizeBytes: BigInt(half), hostBase: g.ramBase + half },
    ]);
    r.configure();
    const data = pattern(64, 9);
    const src = BigInt(half - 24); // 24 bytes in slot 0, 40 in slot 1
    g.write(src, data);
    const dst = h.buf(64);
    r.desc(0, src, 64, F.NEXT, 1).desc(1, dst, 64, F.WRITE).post(0);
    expect(h.run()).toBe(1);
    expect(r.used(0)).toEqual({ id: 0, len: 64 });
    expect(g.read(dst, 64)).toEqual(data);
    // Now leave a hole in guest-physical space after the first slot.
    h.gg.remap([
      { gpaStart: 0n, sizeBytes: BigInt(half), hostBase: g.ramBase },
      { gpaStart: BigInt(half) + 65536n, sizeBytes: BigInt(half - 65536), hostBase: g.ramBase + half + 65536 },
    ]);
    r.desc(0, src, 64, F.NEXT, 1).post(0); // crosses into the hole
    expect(h.run()).toBe(1);
    expect(r.used(1)).toEqual({ id: 0, len: 0 });
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('C5 a readable descriptor after a writable one is rejected', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.desc(0, h.buf(8), 8, F.WRITE | F.NEXT, 1)
      .desc(1, h.buf(8), 8)
      .post(0);
    expectRejected(h, r, 'C5');
  });

  it('C6 zero-length descriptors are accepted and ignored (even with a bogus address)', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const data = pattern(16);
    const src = h.buf(data);
    const dst = h.buf(16);
    r.desc(0, 0xdead_0000_0000n, 0, F.NEXT, 1)
      .desc(1, src, 16, F.NEXT, 2)
      .desc(2, 1n << 63n, 0, F.WRITE | F.NEXT, 3)
      .desc(3, dst, 16, F.WRITE)
      .post(0);
    expect(h.run()).toBe(1);
    expect(r.used(0)).toEqual({ id: 0, len: 16 });
    expect(h.guest.read(dst, 16)).toEqual(data);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('C7 a chain with more than 256 segments is rejected; 256 is accepted', () => {
    for (const segs of [256, 257]) {
      const h = new Harness(MIB_4, 512);
      const r = new RawSplit(h, 512).configure();
      const b = h.buf(segs);
      for (let i = 0; i < segs; i++) r.desc(i, b + BigInt(i), 1, i + 1 < segs ? F.NEXT : 0, i + 1);
      r.post(0);
      expect(h.run()).toBe(1);
      expect(h.dev.stats().queue.rejected).toBe(segs > 256 ? 1 : 0);
      expect(h.gg.guardsIntact()).toBe(true);
    }
  });

  it('C8/C8a the loopback device accepts any direction mix: write-only and read-only chains return len 0', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.desc(0, h.buf(8), 8).desc(1, h.buf(8), 8, F.WRITE).post(0, 1);
    expect(h.run()).toBe(2);
    expect([r.used(0), r.used(1)]).toEqual([
      { id: 0, len: 0 },
      { id: 1, len: 0 },
    ]);
    expect(h.dev.stats().queue.rejected).toBe(0);
  });
});

describe('D. indirect descriptors (§2.7.5.3)', () => {
  const table = (h: Harness, r: RawSplit, entries: [bigint, number, number, number][]): bigint => {
    const t = h.guest.allocGpa(16 * Math.max(1, entries.length), 16);
    entries.forEach(([a, l, f, n], i) => r.descAt(t + BigInt(16 * i), a, l, f, n));
    return t;
  };

  it('D1 INDIRECT without VIRTIO_F_INDIRECT_DESC is rejected', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8, { ...SPLIT, indirect: false }).configure();
    const t = table(h, r, [[h.buf(8), 8, F.WRITE, 0]]);
    r.desc(0, t, 16, F.INDIRECT).post(0);
    expectRejected(h, r, 'D1');
  });

  it('D2 a table of length 0, not a multiple of 16, or more than N entries is rejected', () => {
    for (const len of [0, 24, 16 * 9]) {
      const h = new Harness();
      const r = new RawSplit(h, 8).configure();
      const t = h.guest.allocGpa(16 * 16, 16);
      r.desc(0, t, len, F.INDIRECT).post(0);
      expectRejected(h, r, 'D2');
    }
  });

  it('D3 INDIRECT inside a table is rejected', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const inner = table(h, r, [[h.buf(8), 8, F.WRITE, 0]]);
    const t = table(h, r, [[inner, 16, F.INDIRECT, 0]]);
    r.desc(0, t, 16, F.INDIRECT).post(0);
    expectRejected(h, r, 'D3');
  });

  it('D4 INDIRECT together with NEXT is rejected (policy), so D5 (two tables in one chain) cannot occur', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const t = table(h, r, [[h.buf(8), 8, F.WRITE, 0]]);
    r.desc(0, t, 16, F.INDIRECT | F.NEXT, 1)
      .desc(1, t, 16, F.INDIRECT)
      .post(0);
    expectRejected(h, r, 'D4');
  });

  it('D6 a table outside guest RAM is rejected', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.desc(0, BigInt(h.guest.ramBytes) - 8n, 16, F.INDIRECT).post(0);
    expectRejected(h, r, 'D6');
  });

  it('D6 a table whose declared extent leaves guest RAM is rejected, even when the chain uses only entries inside', () => {
    for (const entries of [2, 8]) {
      const h = new Harness();
      const r = new RawSplit(h, 8).configure();
      const dst = h.buf(8);
      // Entry 0 (no NEXT) lies in the last 16 bytes of RAM; the table declares more behind it.
      const t = BigInt(h.guest.ramBytes) - 16n;
      r.descAt(t, dst, 8, F.WRITE, 0);
      r.desc(0, t, 16 * entries, F.INDIRECT).post(0);
      expectRejected(h, r, 'D6');
      expect(h.guest.read(dst, 8)).toEqual(new Uint8Array(8));
    }
    // addr + len past 2^64.
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    r.desc(0, (1n << 64n) - 16n, 32, F.INDIRECT).post(0);
    expectRejected(h, r, 'D6');
  });

  it('D6a a table that is not contiguous in host memory still works', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8);
    const g = h.guest;
    const half = 512 * 1024;
    // Slot 0 is identity-mapped; slot 1 (GPA >= half) sits 64 KiB further up in host memory.
    h.gg.remap([
      { gpaStart: 0n, sizeBytes: BigInt(half), hostBase: g.ramBase },
      { gpaStart: BigInt(half), sizeBytes: BigInt(half - 65536), hostBase: g.ramBase + half + 65536 },
    ]);
    r.configure();
    const data = pattern(24, 3);
    const src = h.buf(data);
    const dst = h.buf(24);
    // A 2-entry table at GPA half - 24: entry 0 is split 24/8 across the two slots.
    const t = BigInt(half - 24);
    const hostOf = (gpa: bigint): number =>
      gpa < BigInt(half) ? g.ramBase + Number(gpa) : g.ramBase + Number(gpa) + 65536;
    const put = (gpa: bigint, addr: bigint, len: number, flags: number, next: number): void => {
      const bytes = new Uint8Array(16);
      const v = new DataView(bytes.buffer);
      v.setBigUint64(0, addr, true);
      v.setUint32(8, len, true);
      v.setUint16(12, flags, true);
      v.setUint16(14, next, true);
      for (let i = 0; i < 16; i++) h.memory.u8[hostOf(gpa + BigInt(i))] = bytes[i]!;
    };
    put(t, src, 24, F.NEXT, 1);
    put(t + 16n, dst, 24, F.WRITE, 0);
    r.desc(0, t, 32, F.INDIRECT).post(0);
    expect(h.run()).toBe(1);
    expect(r.used(0)).toEqual({ id: 0, len: 24 });
    expect(g.read(dst, 24)).toEqual(data);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('D7 a loop inside a table is rejected; D7a next >= table length is rejected', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const b = h.buf(8);
    const loop = table(h, r, [
      [b, 8, F.NEXT, 1],
      [b, 8, F.NEXT, 0],
    ]);
    const out = table(h, r, [[b, 8, F.NEXT, 2]]);
    r.desc(0, loop, 32, F.INDIRECT).desc(1, out, 16, F.INDIRECT).post(0, 1);
    expect(h.run()).toBe(2);
    expect([r.used(0), r.used(1)]).toEqual([
      { id: 0, len: 0 },
      { id: 1, len: 0 },
    ]);
    expect(h.dev.stats().queue.rejected).toBe(2);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('D8 WRITE on the table pointer is ignored; D9 direct descriptors followed by one table work', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const data = pattern(48, 5);
    const src = h.buf(data);
    const dst = h.buf(48);
    const t = table(h, r, [
      [src + 16n, 32, F.NEXT, 1],
      [dst, 48, F.WRITE, 0],
    ]);
    r.desc(0, src, 16, F.NEXT, 1)
      .desc(1, t, 32, F.INDIRECT | F.WRITE)
      .post(0);
    expect(h.run()).toBe(1);
    expect(r.used(0)).toEqual({ id: 0, len: 48 });
    expect(h.guest.read(dst, 48)).toEqual(data);
    expect(h.gg.guardsIntact()).toBe(true);
  });
});

describe('E. used ring, races, notifications (§2.7.7, §2.7.8, §2.7.10)', () => {
  it('E1 pushing a head that is not in flight is refused and publishes nothing', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const k = h.rt.kernel('virtio');
    h.memory.view.setUint16(h.dev.burst.base + BR_CHAINS + CH_TOKEN, 3, true); // a record naming head 3
    expect(
      k.fn<(a: number, b: number, c: number) => number>('vq_push')(h.dev.queue.state.base, h.dev.burst.base, 1),
    ).toBe(-1);
    expect(r.usedIdx()).toBe(0);
  });

  it('E2 a guest scribbling used.idx, used.ring and used.flags does not move the device', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    echoSetup(h, r);
    r.post(0);
    h.run();
    const ram = h.guest.ram;
    ram.setUint16(Number(r.usedGpa) + 2, 0x7777, true);
    ram.setUint32(Number(r.usedGpa) + 4, 0xdeadbeef, true);
    ram.setUint16(Number(r.usedGpa), 0xffff, true);
    r.post(0);
    h.run();
    expect(r.usedIdx()).toBe(2); // from the device's shadow, not 0x7778
    expect(r.used(1)).toEqual({ id: 0, len: 32 });
  });

  it('E4 used.len is the bytes written, never the buffer size; nothing is written past it', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const data = pattern(40);
    const src = h.buf(data);
    const dst = h.buf(new Uint8Array(100).fill(0xee));
    r.desc(0, src, 40, F.NEXT, 1).desc(1, dst, 100, F.WRITE).post(0);
    h.run();
    expect(r.used(0)).toEqual({ id: 0, len: 40 });
    expect(h.guest.read(dst + 40n, 60).every((b) => b === 0xee)).toBe(true);
    const r2Dst = h.buf(new Uint8Array(16).fill(0xee));
    r.desc(2, src, 40, F.NEXT, 3).desc(3, r2Dst, 16, F.WRITE).post(2);
    h.run();
    expect(r.used(1)).toEqual({ id: 2, len: 16 });
  });

  it('E5 vring_need_event truth table, including 65535 → 0 wrap-around', () => {
    const table: [number, number, number, boolean][] = [
      [0, 1, 0, true],
      [0, 2, 1, false],
      [5, 6, 0, true],
      [5, 5, 0, false],
      [5, 10, 6, false],
      [65535, 0, 65535, true],
      [65535, 1, 65534, true],
      [3, 3, 3, false],
    ];
    for (const [e, n, o, want] of table) expect(needEvent(e, n, o), `(${e},${n},${o})`).toBe(want);
  });

  it('E5/E5a with used_event fixed at 0, the device interrupts after the 1st and the 65537th completion only', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8, { ...SPLIT, eventIdx: true }).configure();
    echoSetup(h, r, 8);
    r.setUsedEvent(0);
    for (let i = 0; i < 65537 + 100; i++) {
      r.post(0);
      expect(h.run()).toBe(1);
    }
    expect(h.irqs()).toBe(2);
    expect(h.dev.stats().queue.irqSent).toBe(2);
  });

  it("E6 a request posted between the device's last poll and its re-enabling of kicks is not lost", () => {
    for (const eventIdx of [false, true]) {
      const h = new Harness();
      const r = new RawSplit(h, 8, { ...SPLIT, eventIdx }).configure();
      echoSetup(h, r);
      const arm = h.rt.kernel('virtio').fn<(s: number, b: number) => number>('vloop_arm');
      r.post(0);
      expect(h.run()).toBe(1); // busy: kicks get disabled
      if (!eventIdx) expect(r.usedFlags()).toBe(1); // NO_NOTIFY while the device polls
      expect(h.run()).toBe(0); // idle poll: the device decides to sleep...
      r.post(0); // ...the guest posts now, sees kicks off (or avail_event not crossed), does not kick
      expect(arm(h.dev.state.base, 0)).toBeGreaterThan(0); // the re-check after enabling finds it
      if (eventIdx) expect(r.availEvent()).toBe(1);
      else expect(r.usedFlags()).toBe(0);
      expect(h.run()).toBe(1);
      if (!eventIdx) expect(r.usedFlags()).toBe(1); // busy again: NO_NOTIFY
    }
  });
});
