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
    const e = ct.create(10, 20, t)!;
    expect(e.state).toBe('unreplied');
    expect(ct.lookup(20, rev(t))).toMatchObject({ dir: 'reply' });
    expect(ct.lookup(10, rev(t))).toBeUndefined(); // another zone: another connection
    expect(ct.lookup(10, t)).toMatchObject({ dir: 'original' });
    c.advance(29_000);
    expect(ct.expire()).toHaveLength(0);
    ct.update(e, 'reply', 0);
    expect(e.state).toBe('replied');
    c.advance(119_000);
    expect(ct.expire()).toHaveLength(0);
    c.advance(2_000);
    expect(ct.expire()).toEqual([e]);
    expect(ct.lookup(20, rev(t))).toBeUndefined();
    expect(ct.size).toBe(0);
  });

  it('TCP: SYN opens, SYN-ACK and ACK establish, FIN closes, RST ends; other segments do not open', () => {
    const c = clock();
    const ct = new Conntrack(c.now);
    const t: CtTuple = { proto: 6, src: 1, dst: 2, srcPort: 40000, dstPort: 80 };
    expect(Conntrack.opens(t, ACK)).toBe(false);
    expect(Conntrack.opens(t, SYN | ACK)).toBe(false);
    expect(Conntrack.opens(t, SYN)).toBe(true);
    const e = ct.create(1, 2, t)!;
    expect(e.state).toBe('syn-sent');
    ct.update(e, 'original', SYN);
    expect(e.state).toBe('syn-sent');
    ct.update(e, 'reply', SYN | ACK);
    expect(e.state).toBe('syn-recv');
    ct.update(e, 'original', ACK);
    expect(e.state).toBe('established');
    c.advance(7199_000);
    expect(ct.expire()).toHaveLength(0);
    ct.update(e, 'reply', FIN | ACK);
    expect(e.state).toBe('closing');
    ct.update(e, 'original', RST);
    expect(e.state).toBe('closed');
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
    ct.create(1, 2, req);
    expect(ct.lookup(2, { proto: 1, src: 2, dst: 1, srcPort: 0, dstPort: 0x77 })).toMatchObject({ dir: 'reply' });
    expect(ct.lookup(2, { proto: 1, src: 2, dst: 1, srcPort: 0, dstPort: 0x78 })).toBeUndefined();
    c.advance(31_000);
    expect(ct.expire()).toHaveLength(1);
  });

  it('refreshes from activity reported by the fast path, and refuses connections past its size', () => {
    const c = clock();
    const ct = new Conntrack(c.now, { maxEntries: 2, timeouts: { udpUnreplied: 10 } });
    const a = ct.create(1, 2, { proto: 17, src: 1, dst: 2, srcPort: 1, dstPort: 1 })!;
    ct.create(1, 2, { proto: 17, src: 1, dst: 2, srcPort: 2, dstPort: 2 });
    expect(ct.create(1, 2, { proto: 17, src: 1, dst: 2, srcPort: 3, dstPort: 3 })).toBeNull();
    expect(ct.refusedFull).toBe(1);
    c.advance(9_000);
    const usedAt = c.now();
    c.advance(2_000);
    const gone = ct.expire((e) => (e === a ? usedAt : undefined));
    expect(gone).toHaveLength(1);
    expect(gone[0]).not.toBe(a);
    expect(a.deadline).toBe(usedAt + 10_000);
    // A clock jump far ahead still expires everything due.
    c.advance(1e9);
    expect(ct.expire()).toEqual([a]);
  });
});
