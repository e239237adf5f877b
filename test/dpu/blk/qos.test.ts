import { describe, expect, it } from 'vitest';
import { DmClock } from '../../../src/dpu/blk/qos/dmclock.js';
import { parseQos, QosScheduler, type Clock } from '../../../src/dpu/blk/qos/qos-scheduler.js';
import { RateLimiter } from '../../../src/dpu/blk/qos/rate-limiter.js';
import { Reduction, TokenBucket } from '../../../src/dpu/blk/qos/token-bucket.js';

const MS = 1e6;
const S = 1e9;

class ManualClock implements Clock {
  t = 0;
  nowNs(): number {
    return this.t;
  }
}

describe('token bucket (Firecracker semantics, injected time)', () => {
  it('starts full, refills linearly, caps at size', () => {
    const b = new TokenBucket({ size: 100, refillTimeMs: 1000 }, 0);
    expect(b.reduce(100, 0)).toBe(Reduction.Success);
    expect(b.reduce(1, 0)).toBe(Reduction.Failure);
    expect(b.available(250 * MS)).toBeCloseTo(25);
    expect(b.reduce(25, 250 * MS)).toBe(Reduction.Success);
    expect(b.available(10 * S)).toBe(100);
  });

  it('spends the one-time burst first and never refills it', () => {
    const b = new TokenBucket({ size: 10, oneTimeBurst: 50, refillTimeMs: 1000 }, 0);
    expect(b.reduce(50, 0)).toBe(Reduction.Success);
    expect(b.available(0)).toBe(10);
    expect(b.reduce(10, 0)).toBe(Reduction.Success);
    expect(b.available(5 * S)).toBe(10);
  });

  it('over-consumption: a request bigger than the bucket passes once, and its excess is owed', () => {
    const b = new TokenBucket({ size: 100, refillTimeMs: 1000 }, 0);
    expect(b.reduce(350, 0)).toBe(Reduction.OverConsumption);
    expect(b.overRatio()).toBeCloseTo(2.5);
    const rl = new RateLimiter({ bandwidth: { size: 100, refillTimeMs: 1000 } }, 0);
    expect(rl.consume(350, 0)).toBe(true);
    expect(rl.consume(1, 1000 * MS)).toBe(false);
    expect(rl.waitNs(1, 1000 * MS)).toBeCloseTo(1500 * MS, -3);
    expect(rl.consume(1, 2600 * MS)).toBe(true);
  });

  it('a limiter gives the ops token back when the bandwidth bucket refuses', () => {
    const rl = new RateLimiter(
      { ops: { size: 10, refillTimeMs: 1000 }, bandwidth: { size: 8192, refillTimeMs: 1000 } },
      0,
    );
    expect(rl.consume(8192, 0)).toBe(true);
    for (let i = 0; i < 5; i++) expect(rl.consume(4096, 0)).toBe(false);
    // Nine ops tokens are still there: bytes, not ops, ran out.
    for (let i = 0; i < 9; i++) expect(rl.consume(0, 0)).toBe(true);
    expect(rl.consume(0, 0)).toBe(false);
    expect(rl.waitNs(4096, 0)).toBeCloseTo(500 * MS, -3);
  });
});

/** Serves one request per `serviceNs` of virtual time for `seconds`; both clients always backlogged. */
function simulate(
  sched: QosScheduler<{ bytes: number; client: number }>,
  clock: ManualClock,
  clients: number[],
  seconds: number,
  serviceNs = 1 * MS,
): Map<number, number> {
  const served = new Map<number, number>(clients.map((c) => [c, 0]));
  const queued = new Map<number, number>(clients.map((c) => [c, 0]));
  const end = clock.t + seconds * S;
  while (clock.t < end) {
    for (const c of clients) {
      while (queued.get(c)! < 64) {
        sched.enqueue(c, { bytes: 4096, client: c });
        queued.set(c, queued.get(c)! + 1);
      }
    }
    const pick = sched.next();
    if (pick) {
      served.set(pick.client, served.get(pick.client)! + 1);
      queued.set(pick.client, queued.get(pick.client)! - 1);
      clock.t += serviceNs;
    } else {
      clock.t = Math.max(clock.t + serviceNs / 100, sched.nextWakeNs() ?? clock.t + serviceNs);
    }
  }
  return served;
}

describe('dmClock across volumes', () => {
  it('a noisy neighbour with 9x the weight cannot push a reserved volume below its reservation', () => {
    // Capacity 1000 requests/s. By weight alone the quiet volume would get 100/s; it reserved 300.
    const clock = new ManualClock();
    const withRes = new QosScheduler<{ bytes: number; client: number }>(clock);
    withRes.setVolume(1, { reservation: 300, weight: 1 });
    withRes.setVolume(2, { weight: 9 });
    const served = simulate(withRes, clock, [1, 2], 20);
    expect(served.get(1)! / 20).toBeGreaterThanOrEqual(300 * 0.98);
    expect(served.get(1)! + served.get(2)!).toBe(20_000);
    // The control: the same load without the reservation gives it its weight's share.
    const clock2 = new ManualClock();
    const noRes = new QosScheduler<{ bytes: number; client: number }>(clock2);
    noRes.setVolume(1, { weight: 1 });
    noRes.setVolume(2, { weight: 9 });
    const base = simulate(noRes, clock2, [1, 2], 20);
    expect(base.get(1)! / 20).toBeGreaterThan(90);
    expect(base.get(1)! / 20).toBeLessThan(110);
  });

  it('shares by weight above the reservations, and a limit caps a volume even when the server is idle', () => {
    const clock = new ManualClock();
    const s = new QosScheduler<{ bytes: number; client: number }>(clock);
    s.setVolume(1, { weight: 300 });
    s.setVolume(2, { weight: 100 });
    const shares = simulate(s, clock, [1, 2], 10);
    expect(shares.get(1)! / shares.get(2)!).toBeCloseTo(3, 1);
    const clock2 = new ManualClock();
    const lim = new QosScheduler<{ bytes: number; client: number }>(clock2);
    lim.setVolume(1, { weight: 100, limit: 200 });
    const capped = simulate(lim, clock2, [1], 10);
    expect(capped.get(1)! / 10).toBeLessThanOrEqual(201);
    expect(capped.get(1)! / 10).toBeGreaterThanOrEqual(195);
  });

  it('token buckets cap IOPS and bytes/s per volume, after the burst', () => {
    const clock = new ManualClock();
    const s = new QosScheduler<{ bytes: number; client: number }>(clock);
    s.setVolume(1, { ops: { size: 100, oneTimeBurst: 500, refillTimeMs: 1000 } });
    s.setVolume(2, { bandwidth: { size: 409600, refillTimeMs: 1000 } });
    const served = simulate(s, clock, [1, 2], 10);
    // 100/s for ten seconds, plus the full bucket and the one-time burst.
    expect(served.get(1)!).toBeLessThanOrEqual(100 * 10 + 100 + 500 + 1);
    expect(served.get(1)!).toBeGreaterThanOrEqual(100 * 10 + 500);
    expect(served.get(2)!).toBeLessThanOrEqual(100 * 10 + 100 + 1);
    expect(s.throttled(1)).toBeGreaterThan(0);
  });

  it('an idle volume that comes back does not take over with old tags', () => {
    const dm = new DmClock<number>();
    dm.setClient(1, { reservation: 0, weight: 1, limit: 0 });
    dm.setClient(2, { reservation: 0, weight: 1, limit: 0 });
    let t = 0;
    for (let i = 0; i < 1000; i++) dm.enqueue(2, i, t);
    for (let i = 0; i < 500; i++) dm.dequeue((t += MS));
    for (let i = 0; i < 100; i++) dm.enqueue(1, i, t);
    let ones = 0;
    for (let i = 0; i < 100; i++) if (dm.dequeue((t += MS))!.client === 1) ones++;
    expect(ones).toBeGreaterThan(40);
    expect(ones).toBeLessThan(60);
  });

  it('validates QoS specs at the boundary', () => {
    expect(() => parseQos({ weight: 0 }, 'qos')).toThrow(/qos.weight: expected an integer in \[1, 10000\], got 0/);
    expect(() => parseQos({ reservation: 500, limit: 100 }, 'qos')).toThrow(/limit/);
    expect(() => parseQos({ iops: 5 }, 'qos')).toThrow(/qos/);
    expect(parseQos({ ops: { size: 10, refillTimeMs: 100 } }, 'qos')).toEqual({ ops: { size: 10, refillTimeMs: 100 } });
  });
});
