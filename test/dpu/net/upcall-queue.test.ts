import { describe, expect, it } from 'vitest';
import { FairDrain, type UpcallSource } from '../../../src/dpu/net/upcall-queue.js';

/** A bounded per-port ring as the fast path fills it: full means the record is dropped and counted. */
class Ring implements UpcallSource<string> {
  readonly items: string[] = [];
  dropped = 0;
  constructor(
    readonly port: number,
    private readonly capacity: number,
  ) {}
  offer(x: string): void {
    if (this.items.length >= this.capacity) this.dropped++;
    else this.items.push(x);
  }
  pending(): number {
    return this.items.length;
  }
  take(): string | undefined {
    return this.items.shift();
  }
}

describe('fair upcall queue', () => {
  it("a guest flooding new flows cannot starve another guest's first packet", () => {
    const flooder = new Ring(1, 256);
    const quiet = new Ring(2, 256);
    const drain = new FairDrain<string>({ quantum: 4, budget: 64 });
    drain.add(flooder);
    drain.add(quiet);
    for (let i = 0; i < 100_000; i++) flooder.offer(`f${i}`);
    quiet.offer('first');
    // The flooder only ever fills its own ring.
    expect(flooder.dropped).toBe(100_000 - 256);
    expect(quiet.dropped).toBe(0);
    const burst = drain.drain();
    expect(burst).toContain('first');
    expect(burst.indexOf('first')).toBeLessThan(2 * drain.quantum);
    expect(burst).toHaveLength(64);
  });

  it('shares bursts evenly among busy ports and rotates who goes first', () => {
    const rings = [1, 2, 3].map((p) => new Ring(p, 1000));
    const drain = new FairDrain<string>({ quantum: 2, budget: 12 });
    for (const r of rings) {
      drain.add(r);
      for (let i = 0; i < 100; i++) r.offer(`${r.port}:${i}`);
    }
    const first = drain.drain();
    expect(first.map((x) => x.split(':')[0])).toEqual(['1', '1', '2', '2', '3', '3', '1', '1', '2', '2', '3', '3']);
    const second = drain.drain();
    expect(second[0]!.startsWith('2:')).toBe(true);
    expect([...drain.taken.values()]).toEqual([8, 8, 8]);
    drain.remove(2);
    expect(drain.drain().some((x) => x.startsWith('2:'))).toBe(false);
  });

  it('stops when every ring is empty, within the budget', () => {
    const r = new Ring(1, 10);
    const drain = new FairDrain<string>({ quantum: 4, budget: 64 });
    drain.add(r);
    r.offer('a');
    r.offer('b');
    expect(drain.hasWork()).toBe(true);
    expect(drain.drain()).toEqual(['a', 'b']);
    expect(drain.hasWork()).toBe(false);
    expect(drain.drain()).toEqual([]);
  });
});
