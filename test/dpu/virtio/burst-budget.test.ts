import { describe, expect, it } from 'vitest';
import {
  BR_DESCS,
  BR_DESC_BUDGET,
  BR_CHAINS,
  CHAIN_BYTES,
  CH_USED_LEN,
  CH_STATUS,
} from '../../../src/generated/virtio.js';
import { F, Harness, RawPacked, RawSplit } from './raw-ring.js';

type Fn = (...a: number[]) => number;

/**
 * The queue layer's part of a device's work budget: a pop that stops at a descriptor budget, a
 * burst given back in ranges as its chains complete, and a burst carried into a later turn
 * translated again.
 */
describe('burst budgets (queue layer)', () => {
  const fns = (h: Harness): { pop: Fn; pushRange: Fn; refresh: Fn } => {
    const k = h.rt.kernel('virtio');
    return { pop: k.fn<Fn>('vq_pop'), pushRange: k.fn<Fn>('vq_push_range'), refresh: k.fn<Fn>('vq_refresh') };
  };
  const setBudget = (h: Harness, descs: number): void =>
    h.memory.view.setUint32(h.dev.burst.base + BR_DESC_BUDGET, descs, true);
  const walked = (h: Harness): number => h.memory.view.getUint32(h.dev.burst.base + BR_DESCS, true);
  const chain = (h: Harness, i: number): number => h.dev.burst.base + BR_CHAINS + CHAIN_BYTES * i;

  it('a split pop starts no chain once it has walked its descriptor budget; a chain is never cut', () => {
    const h = new Harness();
    const r = new RawSplit(h, 64).configure();
    const b = h.buf(64);
    // 8 chains of 8 descriptors each (heads 0, 8, 16, …).
    for (let c = 0; c < 8; c++) {
      for (let d = 0; d < 8; d++) r.desc(8 * c + d, b, 8, d < 7 ? F.NEXT : F.WRITE, 8 * c + d + 1);
      r.post(8 * c);
    }
    const { pop } = fns(h);
    setBudget(h, 20);
    expect(pop(h.dev.queue.state.base, h.dev.burst.base, 64)).toBe(3); // 8 + 8 < 20, the third reaches 24
    expect(walked(h)).toBe(24);
    setBudget(h, 0);
    expect(pop(h.dev.queue.state.base, h.dev.burst.base, 64)).toBe(5); // no limit: the rest
    expect(walked(h)).toBe(40);
  });

  it('indirect table entries count as descriptors walked', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const t = h.guest.allocGpa(16 * 6, 16);
    const b = h.buf(64);
    for (let e = 0; e < 6; e++) r.descAt(t + BigInt(16 * e), b, 8, e < 5 ? F.NEXT : F.WRITE, e + 1);
    r.desc(0, t, 16 * 6, F.INDIRECT)
      .desc(1, t, 16 * 6, F.INDIRECT)
      .post(0, 1);
    const { pop } = fns(h);
    setBudget(h, 5);
    expect(pop(h.dev.queue.state.base, h.dev.burst.base, 8)).toBe(1);
    expect(walked(h)).toBe(7); // the ring descriptor and its six entries
  });

  it('a packed pop counts slots and stops at the budget', () => {
    const h = new Harness();
    const r = new RawPacked(h, 16).configure();
    const b = h.buf(64);
    for (let c = 0; c < 4; c++)
      r.chain(
        [
          { addr: b, len: 8 },
          { addr: b, len: 8 },
          { addr: b + 8n, len: 8, flags: F.WRITE },
        ],
        c,
      );
    const { pop } = fns(h);
    setBudget(h, 4);
    expect(pop(h.dev.queue.state.base, h.dev.burst.base, 16)).toBe(2);
    expect(walked(h)).toBe(6);
  });

  it('a burst goes back in ranges, in order, each range one publish', () => {
    const h = new Harness();
    const r = new RawSplit(h, 8).configure();
    const b = h.buf(64);
    for (let c = 0; c < 4; c++) r.desc(c, b, 8, F.WRITE);
    r.post(0, 1, 2, 3);
    const { pop, pushRange } = fns(h);
    const vq = h.dev.queue.state.base;
    const burst = h.dev.burst.base;
    expect(pop(vq, burst, 8)).toBe(4);
    for (let c = 0; c < 4; c++) h.memory.view.setUint32(chain(h, c) + CH_USED_LEN, 10 + c, true);
    expect(pushRange(vq, burst, 0, 2)).toBe(2);
    expect(r.usedIdx()).toBe(2);
    expect(pushRange(vq, burst, 0, 2)).toBe(-1); // E1: those heads are no longer in flight
    expect(pushRange(vq, burst, 2, 2)).toBe(2);
    expect(r.usedIdx()).toBe(4);
    expect([0, 1, 2, 3].map((i) => r.used(i))).toEqual([0, 1, 2, 3].map((i) => ({ id: i, len: 10 + i })));
    expect(pushRange(vq, burst, 60, 8)).toBe(-1); // past the burst's 64 records
    expect(h.dev.stats().queue.inflight).toBe(0);
  });

  it('a burst carried into a later turn is translated again: a buffer no longer in RAM rejects its chain', () => {
    const h = new Harness();
    const g = h.guest;
    const r = new RawSplit(h, 8).configure();
    const lo = h.buf(64);
    const hi = BigInt(g.ramBytes) - 4096n; // in the upper half of RAM
    r.desc(0, lo, 8, F.WRITE).desc(1, hi, 8, F.WRITE).post(0, 1);
    const { pop, refresh, pushRange } = fns(h);
    const vq = h.dev.queue.state.base;
    const burst = h.dev.burst.base;
    expect(pop(vq, burst, 8)).toBe(2);
    expect(refresh(vq, burst, 0, 2)).toBe(0); // the same map: nothing changes
    // The guest map shrinks to the lower half between two turns.
    h.gg.remap([{ gpaStart: 0n, sizeBytes: BigInt(g.ramBytes / 2), hostBase: g.ramBase }]);
    expect(refresh(vq, burst, 0, 2)).toBe(1);
    expect(h.memory.view.getUint16(chain(h, 0) + CH_STATUS, true)).toBe(0);
    expect(h.memory.view.getUint16(chain(h, 1) + CH_STATUS, true)).toBe(1); // REJ_ADDR (C4)
    h.memory.view.setUint32(chain(h, 0) + CH_USED_LEN, 8, true);
    h.memory.view.setUint32(chain(h, 1) + CH_USED_LEN, 0, true);
    expect(pushRange(vq, burst, 0, 2)).toBe(2);
    expect(r.used(1)).toEqual({ id: 1, len: 0 });
    expect(h.dev.stats().queue.rejected).toBe(1);
  });
});
