import { describe, expect, it } from 'vitest';
import { DESC_WORK_UNITS } from '../../../src/dpu/virtio/work-budget.js';
import { F, Harness, PACKED, RawPacked, RawSplit, SPLIT } from './raw-ring.js';
import { MIB } from './helpers.js';

const pattern = (n: number, seed = 1): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

/**
 * Work budgets on the loopback device, one turn per call on the main thread: a chain bigger
 * than a turn is echoed over several turns, byte for byte, and completes once.
 */
describe('resumable chains (work budgets)', () => {
  // Readable and writable segments cut at different places, so a turn ends inside segments.
  const READ = [1000, 70000, 3, 20000];
  const WRITE = [5000, 86003];
  const TOTAL = 91003;

  for (const packed of [false, true]) {
    it(`${packed ? 'packed' : 'split'}: a 91003-byte chain in 4096-byte turns completes once, byte-exact`, () => {
      const h = new Harness(MIB, 64, { turnBytes: 4096 });
      const data = pattern(TOTAL, 5);
      const src = h.buf(data);
      const dst = h.buf(TOTAL);
      let at = 0;
      const segs = (sizes: number[], base: bigint, write: boolean) =>
        sizes.map((len) => {
          const s = { addr: base + BigInt(at), len, flags: write ? F.WRITE : 0 };
          at += len;
          return s;
        });
      const reads = segs(READ, src, false);
      at = 0;
      const writes = segs(WRITE, dst, true);
      const all = [...reads, ...writes];
      let used: () => { id: number; len: number } | null;
      if (packed) {
        const r = new RawPacked(h, 16, PACKED).configure();
        r.chain(all, 9);
        used = () => ((r.flags(0) & 0x8000) === (r.flags(0) & 0x80) << 8 ? r.usedAt(0) : null);
      } else {
        const r = new RawSplit(h, 16, SPLIT).configure();
        all.forEach((s, i) => r.desc(i, s.addr, s.len, s.flags | (i < all.length - 1 ? F.NEXT : 0), i + 1));
        r.post(0);
        used = () => (r.usedIdx() === 1 ? r.used(0) : null);
      }
      const turns = Math.ceil(TOTAL / 4096);
      for (let t = 1; t < turns; t++) {
        expect(h.run(), `turn ${t}`).toBe(0); // progress, no completion yet
        expect(used(), `turn ${t}`).toBeNull();
      }
      expect(h.run()).toBe(1);
      expect(used()).toMatchObject({ id: packed ? 9 : 0, len: TOTAL });
      expect(h.guest.read(dst, TOTAL)).toEqual(data);
      const st = h.dev.stats();
      expect(st.requests).toBe(1);
      expect(st.bytesEchoed).toBe(TOTAL);
      expect(st.work.resumed).toBe(1);
      expect(st.work.bytesMoved).toBe(TOTAL);
      expect(st.work.work).toBe(TOTAL + all.length * DESC_WORK_UNITS);
      expect(h.irqs()).toBe(1); // one completion, one interrupt
      expect(h.run()).toBe(0); // nothing left
      expect(h.gg.guardsIntact()).toBe(true);
    });
  }

  it('chains behind a long one wait their turn and complete in order', () => {
    const h = new Harness(MIB, 64, { turnBytes: 10_000 });
    const r = new RawSplit(h, 16, SPLIT).configure();
    const big = pattern(25_000, 1);
    const small = pattern(100, 2);
    const [b, bo, s, so] = [h.buf(big), h.buf(25_000), h.buf(small), h.buf(100)];
    r.desc(0, b, 25_000, F.NEXT, 1).desc(1, bo, 25_000, F.WRITE);
    r.desc(2, s, 100, F.NEXT, 3).desc(3, so, 100, F.WRITE);
    r.post(0, 2);
    expect(h.run()).toBe(0);
    expect(h.run()).toBe(0);
    expect(h.run()).toBe(2); // the last 5000 bytes, then the small chain in the same turn
    expect([r.used(0), r.used(1)]).toEqual([
      { id: 0, len: 25_000 },
      { id: 2, len: 100 },
    ]);
    expect(h.guest.read(bo, 25_000)).toEqual(big);
    expect(h.guest.read(so, 100)).toEqual(small);
  });

  it('a chain whose buffer leaves guest RAM between two turns is rejected, completing once with len 0', () => {
    const h = new Harness(MIB, 64, { turnBytes: 4096 });
    const g = h.guest;
    const r = new RawSplit(h, 16, SPLIT).configure();
    const src = h.buf(pattern(20_000));
    const dst = BigInt(g.ramBytes) - 32768n; // in the upper half
    r.desc(0, src, 20_000, F.NEXT, 1).desc(1, dst, 20_000, F.WRITE).post(0);
    expect(h.run()).toBe(0);
    h.gg.remap([{ gpaStart: 0n, sizeBytes: BigInt(g.ramBytes / 2), hostBase: g.ramBase }]);
    expect(h.run()).toBe(1);
    expect(r.used(0)).toEqual({ id: 0, len: 0 });
    expect(h.dev.stats().rejected).toBe(1);
    expect(h.gg.guardsIntact()).toBe(true);
  });

  it('a device reset drops the burst in progress', () => {
    const h = new Harness(MIB, 64, { turnBytes: 4096 });
    const r = new RawSplit(h, 16, SPLIT).configure();
    const src = h.buf(pattern(20_000));
    const dst = h.buf(20_000);
    r.desc(0, src, 20_000, F.NEXT, 1).desc(1, dst, 20_000, F.WRITE).post(0);
    expect(h.run()).toBe(0);
    h.dev.reset();
    const r2 = new RawSplit(h, 16, SPLIT).configure();
    const data = pattern(64, 3);
    const s2 = h.buf(data);
    const d2 = h.buf(64);
    r2.desc(0, s2, 64, F.NEXT, 1).desc(1, d2, 64, F.WRITE).post(0);
    expect(h.run()).toBe(1);
    expect(r2.used(0)).toEqual({ id: 0, len: 64 });
    expect(h.guest.read(d2, 64)).toEqual(data);
  });

  it('a request part-way done is dropped by a queue reset, and refuses a save until it completes', () => {
    const h = new Harness(MIB, 64, { turnBytes: 4096 });
    const r = new RawSplit(h, 16, SPLIT).configure();
    const data = pattern(10_000, 4);
    const src = h.buf(data);
    const dst = h.buf(10_000);
    r.desc(0, src, 10_000, F.NEXT, 1).desc(1, dst, 10_000, F.WRITE).post(0);
    expect(h.run()).toBe(0);
    expect(() => h.dev.queue.save()).toThrow(/part-way through 1 request/);
    expect(h.run()).toBe(0);
    expect(h.run()).toBe(1); // complete: the queue can be saved
    expect(h.dev.queue.save().inflight).toEqual([]);
    expect(h.guest.read(dst, 10_000)).toEqual(data);
    // Begun again, then the queue reset under it (through the queue, not the device).
    r.desc(2, src, 10_000, F.NEXT, 3).desc(3, dst, 10_000, F.WRITE).post(2);
    expect(h.run()).toBe(0);
    h.dev.queue.reset();
    expect(() => h.dev.queue.save()).toThrow(/not configured/);
    const r2 = new RawSplit(h, 16, SPLIT).configure();
    const small = pattern(64, 9);
    const [s2, d2] = [h.buf(small), h.buf(64)];
    r2.desc(0, s2, 64, F.NEXT, 1).desc(1, d2, 64, F.WRITE).post(0);
    expect(h.run()).toBe(1); // a fresh pop: nothing of the old request is carried over
    expect(r2.used(0)).toEqual({ id: 0, len: 64 });
    expect(h.guest.read(d2, 64)).toEqual(small);
  });

  it('without a byte budget a chain is echoed in one turn; the descriptor budget still bounds a pop', () => {
    const h = new Harness(MIB, 64, { turnBytes: 0, turnDescs: 10 });
    const r = new RawSplit(h, 64, SPLIT).configure();
    const src = h.buf(pattern(200_000));
    const dst = h.buf(200_000);
    for (let c = 0; c < 4; c++) {
      for (let d = 0; d < 4; d++) r.desc(8 * c + d, src, 50_000, F.NEXT, 8 * c + d + 1);
      for (let d = 4; d < 8; d++) r.desc(8 * c + d, dst, 50_000, (d < 7 ? F.NEXT : 0) | F.WRITE, 8 * c + d + 1);
      r.post(8 * c);
    }
    expect(h.run()).toBe(2); // 8 + 8 descriptors: the second chain passes the budget of 10
    expect(h.dev.stats().work.bytesMoved).toBe(400_000);
    expect(h.run()).toBe(2);
  });
});
