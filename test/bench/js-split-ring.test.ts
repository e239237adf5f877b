import { describe, expect, it } from 'vitest';
import { JsSplitRing } from '../../src/bench/peers/js-split-ring.js';
import { Guest, HostMemory } from '../../src/internals.js';

/** The vq bench's plain-JS peer does the kernel's work: it must pop, push and refuse like it. */
describe('bench peer: the optimised plain-JS split ring', () => {
  const memory = new HostMemory({ sizeBytes: 8 << 20 });
  const g = new Guest(memory, { name: 'peer', ramBytes: 1 << 20 });
  const n = 8;
  const desc = g.allocGpa(16 * n, 16);
  const avail = g.allocGpa(6 + 2 * n, 4);
  const used = g.allocGpa(6 + 8 * n, 4);
  const buf = g.allocGpa(4096, 64);
  const r = g.ram;
  const setDesc = (i: number, addr: bigint, len: number, flags: number, next: number): void => {
    const d = Number(desc) + 16 * i;
    r.setBigUint64(d, addr, true);
    r.setUint32(d + 8, len, true);
    r.setUint16(d + 12, flags, true);
    r.setUint16(d + 14, next, true);
  };
  let idx = 0;
  const post = (head: number): void => {
    r.setUint16(Number(avail) + 4 + 2 * (idx % n), head, true);
    idx++;
    r.setUint16(Number(avail) + 2, idx, true);
  };
  const ring = (): JsSplitRing =>
    new JsSplitRing(memory.memory.buffer, n, g.host(desc), g.host(avail), g.host(used), g.ramBase, g.ramBytes, 8);

  it('pops chains with their segments, pushes them to the used ring, and breaks on a head in flight or out of range', () => {
    const q = ring();
    setDesc(0, buf, 64, 1, 1); // 0 -> 1
    setDesc(1, buf + 64n, 32, 2, 0); // device-writable
    setDesc(2, BigInt(g.ramBytes) - 8n, 16, 0, 0); // runs past guest RAM: refused, not broken
    post(0);
    post(2);
    expect(q.pop(8)).toBe(2);
    expect([...q.heads.subarray(0, 2)]).toEqual([0, 2]);
    expect([...q.status.subarray(0, 2)]).toEqual([0, 2]);
    expect(q.segCount).toBe(2);
    expect([q.segAddr[0]! - g.ramBase, q.segLen[0], q.segWrite[0]]).toEqual([Number(buf), 64, 0]);
    expect([q.segAddr[1]! - g.ramBase, q.segLen[1], q.segWrite[1]]).toEqual([Number(buf) + 64, 32, 1]);
    post(0);
    expect(q.push(2, 0)).toBe(2);
    expect(r.getUint16(Number(used) + 2, true)).toBe(2);
    expect([r.getUint32(Number(used) + 4, true), r.getUint32(Number(used) + 12, true)]).toEqual([0, 2]);
    expect(q.pop(8)).toBe(1); // head 0 was pushed back before this pop, so it is legal again
    post(0); // and now it is in flight
    expect(q.pop(8)).toBe(-1);
    expect(q.broken).toBe('B3');
    const fresh = ring();
    idx = 0;
    post(999);
    expect(fresh.pop(8)).toBe(-1);
    expect(fresh.broken).toBe('B2');
  });
});
