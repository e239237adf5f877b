import { describe, expect, it } from 'vitest';
import { Conntrack, type CtTuple } from '../../../src/dpu/net/conntrack.js';

const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const rev = (t: CtTuple): CtTuple => ({
  proto: t.proto,
  src: t.dst,
  dst: t.src,
  srcPort: t.dstPort,
  dstPort: t.srcPort,
});

describe('conntrack', () => {
  it('UDP: unreplied then replied, each with its own idle timeout', () => {
    const c = clock();
    const ct = new Conntrack(c.now, { timeouts: { udpUnreplied: 30, udpReplied: 120 } });
    const t: CtTuple = { proto: 17, src: 1, dst: 2, srcPort: 5000, dstPort: 53 };
    expect(Conntrack.opens(t, 0)).toBe(true);
    const e = ct.create(10, 20, t);
    expect(ct.state(e)).toBe('unreplied');
    expect(ct.lookup(20, rev(t))).toBe((e << 1) | 1);
    expect(ct.lookup(10, rev(t))).toBe(0); // another zone: another connection
    expect(ct.lookup(10, t)).toBe(e << 1);
    c.advance(29_000);
    expect(ct.expire()).toHaveLength(0);
    ct.update(e, 1, 0);
    expect(ct.state(e)).toBe('replied');
    c.advance(119_000);
    expect(ct.expire()).toHaveLength(0);
    c.advance(2_000);
    expect(ct.expire()).toEqual([e]);
    expect(ct.lookup(20, rev(t))).toBe(0);
    expect(ct.size).toBe(0);
  });

  it('TCP: SYN opens, SYN-ACK and ACK establish, FIN closes, RST ends; other segments do not open', () => {
    const c = clock();
    const ct = new Conntrack(c.now);
    const t: CtTuple = { proto: 6, src: 1, dst: 2, srcPort: 40000, dstPort: 80 };
    expect(Conntrack.opens(t, ACK)).toBe(false);
    expect(Conntrack.opens(t, SYN | ACK)).toBe(false);
    expect(Conntrack.opens(t, SYN)).toBe(true);
    const e = ct.create(1, 2, t);
    expect(ct.state(e)).toBe('syn-sent');
    ct.update(e, 0, SYN);
    expect(ct.state(e)).toBe('syn-sent');
    ct.update(e, 1, SYN | ACK);
    expect(ct.state(e)).toBe('syn-recv');
    ct.update(e, 0, ACK);
    expect(ct.state(e)).toBe('established');
    c.advance(7199_000);
    expect(ct.expire()).toHaveLength(0);
    ct.update(e, 1, FIN | ACK);
    expect(ct.state(e)).toBe('closing');
    ct.update(e, 0, RST);
    expect(ct.state(e)).toBe('closed');
    c.advance(10_001);
    expect(ct.expire()).toEqual([e]);
  });

  it('ICMP: an echo request opens, the reply (type 0, same identifier) matches it', () => {
    const c = clock();
    const ct = new Conntrack(c.now);
    const req: CtTuple = { proto: 1, src: 1, dst: 2, srcPort: 8 << 8, dstPort: 0x77 };
    const unreachable: CtTuple = { proto: 1, src: 1, dst: 2, srcPort: 3 << 8, dstPort: 0 };
    expect(Conntrack.trackable(unreachable)).toBe(false);
    expect(Conntrack.opens({ ...req, srcPort: 0 }, 0)).toBe(false);
    const e = ct.create(1, 2, req);
    expect(ct.lookup(2, { proto: 1, src: 2, dst: 1, srcPort: 0, dstPort: 0x77 })).toBe((e << 1) | 1);
    expect(ct.lookup(2, { proto: 1, src: 2, dst: 1, srcPort: 0, dstPort: 0x78 })).toBe(0);
    c.advance(31_000);
    expect(ct.expire()).toHaveLength(1);
  });

  it('refreshes from activity reported by the fast path, and refuses connections past its size', () => {
    const c = clock();
    const ct = new Conntrack(c.now, { maxEntries: 2, timeouts: { udpUnreplied: 10 } });
    const a = ct.create(1, 2, { proto: 17, src: 1, dst: 2, srcPort: 1, dstPort: 1 });
    ct.create(1, 2, { proto: 17, src: 1, dst: 2, srcPort: 2, dstPort: 2 });
    expect(ct.create(1, 2, { proto: 17, src: 1, dst: 2, srcPort: 3, dstPort: 3 })).toBe(0);
    expect(ct.refusedFull).toBe(1);
    c.advance(9_000);
    const usedAt = c.now();
    c.advance(2_000);
    const gone = ct.expire(() => (e) => (e === a ? usedAt : undefined));
    expect(gone).toHaveLength(1);
    expect(gone[0]).not.toBe(a);
    expect(ct.deadline(a)).toBe(usedAt + 10_000);
    // A clock jump far ahead still expires everything due.
    c.advance(1e9);
    expect(ct.expire()).toEqual([a]);
  });

  it('the flat table agrees with a map through growth, removals and reuse (both directions)', () => {
    const c = clock();
    const ct = new Conntrack(c.now, { maxEntries: 1 << 16 });
    const model = new Map<string, number>();
    const k = (z: number, t: CtTuple): string => `${z}/${t.proto}/${t.src}/${t.dst}/${t.srcPort}/${t.dstPort}`;
    let seed = 17;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const live: { e: number; t: CtTuple }[] = [];
    for (let i = 0; i < 40_000; i++) {
      if (live.length > 0 && rnd(3) === 0) {
        const [x] = live.splice(rnd(live.length), 1);
        ct.remove(x!.e);
        model.delete(k(1, x!.t));
        model.delete(k(2, rev(x!.t)));
        continue;
      }
      const t: CtTuple = { proto: 17, src: rnd(64), dst: rnd(64), srcPort: rnd(8), dstPort: 53 };
      if (model.has(k(1, t)) || model.has(k(2, rev(t)))) continue;
      const e = ct.create(1, 2, t);
      model.set(k(1, t), e << 1);
      model.set(k(2, rev(t)), (e << 1) | 1);
      live.push({ e, t });
    }
    expect(ct.size).toBe(live.length);
    for (const { t } of live) {
      expect(ct.lookup(1, t)).toBe(model.get(k(1, t)));
      expect(ct.lookup(2, rev(t))).toBe(model.get(k(2, rev(t))));
    }
    for (let i = 0; i < 2000; i++) {
      const t: CtTuple = { proto: 17, src: rnd(64), dst: rnd(64), srcPort: rnd(8), dstPort: 53 };
      expect(ct.lookup(1, t)).toBe(model.get(k(1, t)) ?? 0);
    }
    expect(new Set(ct.entries())).toEqual(new Set(live.map((x) => x.e)));
  });
});
