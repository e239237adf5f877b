/**
 * Packed-ring conformance (virtio 1.2 §2.8) and the packed items of the bad-input list (F1-F5,
 * plus A/C/D/E items where packed differs from split). Guards are checked in every test.
 */
import { describe, expect, it } from 'vitest';
import { F_AVAIL, F_USED } from '../../../src/generated/virtio.js';
import { F, Harness, PACKED, RawPacked } from './raw-ring.js';

const pattern = (n: number, seed = 1): Uint8Array => new Uint8Array(n).map((_, i) => (i * 13 + seed) & 0xff);
const EV = { ENABLE: 0, DISABLE: 1, DESC: 2 } as const;

function echoChain(h: Harness, r: RawPacked, id: number, n = 16): { dst: bigint; data: Uint8Array } {
  const data = pattern(n, id);
  const src = h.buf(data);
  const dst = h.buf(n);
  r.chain(
    [
      { addr: src, len: n },
      { addr: dst, len: n, flags: F.WRITE },
    ],
    id,
  );
  return { dst, data };
}

describe('packed ring (§2.8)', () => {
  it('A1 accepts a packed size that is not a power of two (§2.8), refuses 0 and > 32768', () => {
    const h = new Harness();
    const r = new RawPacked(h, 5).configure();
    expect(h.dev.stats().queue.ready).toBe(true);
    expect(() =>
      h.dev.configure({
        size: 0,
        features: PACKED,
        descGpa: r.descGpa,
        driverGpa: r.driverGpa,
        deviceGpa: r.deviceGpa,
      }),
    ).toThrow(/expected an integer in \[1, 32768\]/);
  });

  it('A2 refuses misaligned event suppression areas (4)', () => {
    const h = new Harness();
    const r = new RawPacked(h, 8);
    expect(() =>
      h.dev.configure({
        size: 8,
        features: PACKED,
        descGpa: r.descGpa,
        driverGpa: r.driverGpa + 2n,
        deviceGpa: r.deviceGpa,
      }),
    ).toThrow(/\(A2:/);
  });

  it('echoes chains across the ring wrap (wrap counters toggle, used descriptors carry both bits)', () => {
    const h = new Harness();
    const r = new RawPacked(h, 5).configure();
    for (let i = 0; i < 12; i++) {
      const { dst, data } = echoChain(h, r, 100 + i);
      expect(h.run()).toBe(1);
      expect(h.guest.read(dst, data.length)).toEqual(data);
    }
    // 12 chains × 2 slots: the last used descriptor is at position 22 = lap 4, slot 2; the wrap
    // counter toggles per lap (1, 0, 1, 0, 1), so both bits are set. Position 17 (lap 3, slot 2) was wrap 0.
    const u = r.usedAt(2);
    expect(u.id).toBe(111);
    expect(u.len).toBe(16);
    expect(u.flags & (F_AVAIL | F_USED)).toBe(F_AVAIL | F_USED);
    expect(u.flags & 2).toBe(2); // WRITE: the device wrote into the buffer
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('F1 a descriptor whose AVAIL equals USED, or with the wrong wrap, is not available', () => {
    const h = new Harness();
    const r = new RawPacked(h, 8).configure();
    const b = h.buf(8);
    r.raw(0, b, 8, 1, F_AVAIL | F_USED); // AVAIL == USED
    expect(h.run()).toBe(0);
    r.raw(0, b, 8, 1, F_USED); // the wrap-0 encoding while the device expects wrap 1
    expect(h.run()).toBe(0);
    r.raw(0, b, 8, 1, F_AVAIL);
    expect(h.run()).toBe(1);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('F2 a NEXT list longer than the ring breaks the device', () => {
    const h = new Harness();
    const r = new RawPacked(h, 4).configure();
    const b = h.buf(8);
    for (let s = 0; s < 4; s++) r.raw(s, b, 8, 1, F_AVAIL | F.NEXT);
    expect(h.run()).toBe(0);
    const st = h.dev.stats();
    expect(st.needsReset).toBe(true);
    expect(st.queue.broken?.id).toBe('F2');
    expect(h.configIrqs()).toBe(1);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('F3 an indirect table of more than N entries is rejected; exactly N is accepted', () => {
    for (const [entries, rejected] of [
      [5, 1],
      [4, 0],
    ] as const) {
      const h = new Harness();
      const r = new RawPacked(h, 4).configure();
      const t = h.guest.allocGpa(16 * entries, 16);
      const b = h.buf(64);
      for (let i = 0; i < entries; i++) {
        const o = Number(t) + 16 * i;
        h.guest.ram.setBigUint64(o, b + BigInt(i * 8), true);
        h.guest.ram.setUint32(o + 8, 8, true);
        h.guest.ram.setUint16(o + 14, i >= 2 ? F.WRITE : 0, true);
      }
      r.chain([{ addr: t, len: 16 * entries, flags: F.INDIRECT }], 7);
      expect(h.run()).toBe(1);
      expect(h.dev.stats().queue.rejected).toBe(rejected);
      expect(r.usedAt(0).id).toBe(7);
      expect(h.gg.guardsIntact()).toBe(true);
    }
  });

  it('D6 a packed table whose declared extent leaves guest RAM is rejected', () => {
    const h = new Harness();
    const r = new RawPacked(h, 8).configure();
    const t = BigInt(h.guest.ramBytes) - 16n;
    h.guest.ram.setBigUint64(Number(t), h.buf(8), true);
    h.guest.ram.setUint32(Number(t) + 8, 8, true);
    h.guest.ram.setUint16(Number(t) + 14, F.WRITE, true);
    r.chain([{ addr: t, len: 32, flags: F.INDIRECT }], 3);
    expect(h.run()).toBe(1);
    const st = h.dev.stats();
    expect(st.queue.rejected).toBe(1);
    expect(r.usedAt(0)).toMatchObject({ id: 3, len: 0 });
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('D3 INDIRECT inside a packed table is rejected; an INDIRECT inside a NEXT list is rejected (§2.8.19)', () => {
    const h = new Harness();
    const r = new RawPacked(h, 8).configure();
    const t = h.guest.allocGpa(16, 16);
    h.guest.ram.setBigUint64(Number(t), t, true);
    h.guest.ram.setUint32(Number(t) + 8, 16, true);
    h.guest.ram.setUint16(Number(t) + 14, F.INDIRECT, true);
    r.chain([{ addr: t, len: 16, flags: F.INDIRECT }], 1);
    r.chain(
      [
        { addr: h.buf(8), len: 8 },
        { addr: t, len: 16, flags: F.INDIRECT },
      ],
      2,
    );
    expect(h.run()).toBe(2);
    expect(h.dev.stats().queue.rejected).toBe(2);
    // Rejected chains are still skipped by their full length: ids 1 (1 slot) and 2 (2 slots).
    expect([r.usedAt(0).id, r.usedAt(1).id]).toEqual([1, 2]);
    const { dst, data } = echoChain(h, r, 3);
    expect(h.run()).toBe(1);
    expect(h.guest.read(dst, 16)).toEqual(data);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('C4 a rejected buffer in the middle of a chain: the chain is skipped whole, the ring stays in step', () => {
    const h = new Harness();
    const r = new RawPacked(h, 8).configure();
    r.chain(
      [
        { addr: h.buf(8), len: 8 },
        { addr: 1n << 50n, len: 8 },
        { addr: h.buf(8), len: 8, flags: F.WRITE },
      ],
      9,
    );
    const { dst, data } = echoChain(h, r, 10);
    expect(h.run()).toBe(2);
    expect(r.usedAt(0)).toMatchObject({ id: 9, len: 0 });
    expect(r.usedAt(3)).toMatchObject({ id: 10, len: 16 });
    expect(h.guest.read(dst, 16)).toEqual(data);
  });

  it('F4 the reserved event flag value 3 is treated as ENABLE; DISABLE suppresses', () => {
    const h = new Harness();
    const r = new RawPacked(h, 8).configure();
    r.setDriverEvent(3);
    echoChain(h, r, 1);
    h.run();
    expect(h.irqs()).toBe(1);
    r.setDriverEvent(EV.DISABLE);
    echoChain(h, r, 2);
    h.run();
    expect(h.irqs()).toBe(1);
  });

  it('F5 a buffer id out of range is echoed back, never used as an index', () => {
    const h = new Harness();
    const r = new RawPacked(h, 4).configure();
    const { dst, data } = echoChain(h, r, 0xffff);
    expect(h.run()).toBe(1);
    expect(r.usedAt(0)).toMatchObject({ id: 0xffff, len: 16 });
    expect(h.guest.read(dst, 16)).toEqual(data);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('EVENT_IDX (RING_EVENT_FLAGS_DESC): the driver gets an interrupt exactly when its descriptor position is used', () => {
    const h = new Harness();
    const r = new RawPacked(h, 4, { ...PACKED, eventIdx: true }).configure();
    // Ask for an event at slot 2, wrap 0 (the second lap): positions 0..3 (wrap 1), then 4.. (wrap 0).
    r.setDriverEvent(EV.DESC, 2 | (0 << 15));
    const fired: number[] = [];
    for (let i = 0; i < 10; i++) {
      r.chain([{ addr: h.buf(8), len: 8 }], i); // one slot each
      const before = h.irqs();
      h.run();
      if (h.irqs() > before) fired.push(i);
    }
    // The first check always notifies (i = 0); then only the completion written at lap 2, slot 2 (i = 6).
    expect(fired).toEqual([0, 6]);
  });

  it('E6 (packed) a chain made available between the last poll and re-enabling kicks is found by the re-check', () => {
    for (const eventIdx of [false, true]) {
      const h = new Harness();
      const r = new RawPacked(h, 8, { ...PACKED, eventIdx }).configure();
      const arm = h.rt.kernel('virtio').fn<(s: number, b: number) => number>('vloop_arm');
      echoChain(h, r, 1);
      expect(h.run()).toBe(1);
      expect(h.run()).toBe(0);
      echoChain(h, r, 2);
      expect(arm(h.dev.state.base, 0)).toBe(1);
      const ev = r.deviceEvent();
      expect(ev.flags).toBe(eventIdx ? EV.DESC : EV.ENABLE);
      if (eventIdx) expect(ev.offWrap).toBe(2 | (1 << 15));
      expect(h.run()).toBe(1);
      expect(r.deviceEvent().flags).toBe(EV.DISABLE);
    }
  });
});
