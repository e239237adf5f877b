import { z } from 'zod';
import { intIn, parseArgs } from '../../../common/validate.js';
import { DmClock, type DmClockPick } from './dmclock.js';
import { RateLimiter } from './rate-limiter.js';
import type { TokenBucketSpec } from './token-bucket.js';

/** Quality of service of one volume. */
export interface QosSpec {
  /** dmClock reservation: requests per second guaranteed while the volume asks for them (0: none). */
  reservation?: number | undefined;
  /** dmClock weight: share of the capacity left after reservations, relative to the other volumes. Default 100. */
  weight?: number | undefined;
  /** dmClock limit: at most this many requests per second (0: no limit). */
  limit?: number | undefined;
  /** Token bucket of operations (Firecracker's `ops`): size, refill time, optional one-time burst. */
  ops?: TokenBucketSpec | undefined;
  /** Token bucket of bytes (Firecracker's `bandwidth`). */
  bandwidth?: TokenBucketSpec | undefined;
}

const bucketSchema = z.strictObject({
  size: intIn(1, 2 ** 40),
  oneTimeBurst: intIn(0, 2 ** 40).optional(),
  refillTimeMs: intIn(1, 3_600_000),
});

export const qosSchema = z.strictObject({
  reservation: intIn(0, 10_000_000).optional(),
  weight: intIn(1, 10_000).optional(),
  limit: intIn(0, 10_000_000).optional(),
  ops: bucketSchema.optional(),
  bandwidth: bucketSchema.optional(),
});

/** Validates a QoS spec at the boundary (strict: unknown keys refused); `where` prefixes the messages. */
export function parseQos(spec: unknown, where: string): QosSpec {
  const q = parseArgs(qosSchema, spec ?? {}, where);
  if (q.limit && q.reservation && q.limit < q.reservation) {
    parseArgs(
      z.strictObject({ limit: intIn(q.reservation, 10_000_000) }),
      { limit: q.limit },
      `${where} (limit below the reservation)`,
    );
  }
  return q;
}

/** A monotonic clock in nanoseconds (injected: tests move a manual one). */
export interface Clock {
  nowNs(): number;
}

/** The clock QoS runs on outside tests: performance.now() in nanoseconds. */
export const systemClock: Clock = { nowNs: () => performance.now() * 1e6 };

/** A queued request as the scheduler sees it: its size decides its bandwidth tokens. */
export interface QosRequest {
  readonly bytes: number;
}

/**
 * Per-volume QoS for the requests of the volumes one I/O worker serves: dmClock across the
 * volumes (reservation, weight, limit), and in front of it each volume's Firecracker-style
 * token buckets (operations and bytes per second, with burst). A volume whose bucket is empty is
 * passed over until it refills; `nextWakeNs` tells the owner when to look again.
 */
export class QosScheduler<T extends QosRequest> {
  private readonly dm = new DmClock<T>();
  private readonly limiters = new Map<number, RateLimiter>();
  private readonly specs = new Map<number, QosSpec>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Adds a volume, or changes its QoS (buckets start full again). */
  setVolume(id: number, spec: QosSpec): void {
    this.specs.set(id, spec);
    this.dm.setClient(id, { reservation: spec.reservation ?? 0, weight: spec.weight ?? 100, limit: spec.limit ?? 0 });
    const rl = new RateLimiter({ ops: spec.ops, bandwidth: spec.bandwidth }, this.clock.nowNs());
    if (rl.unlimited) this.limiters.delete(id);
    else this.limiters.set(id, rl);
  }

  /** Removes a volume; returns the requests it still had queued. */
  removeVolume(id: number): T[] {
    this.specs.delete(id);
    this.limiters.delete(id);
    return this.dm.removeClient(id);
  }

  spec(id: number): QosSpec | undefined {
    return this.specs.get(id);
  }

  get size(): number {
    return this.dm.size;
  }

  enqueue(id: number, req: T): void {
    this.dm.enqueue(id, req, this.clock.nowNs());
  }

  /** The next request to serve now, or null (nothing queued, or everything throttled). */
  next(): DmClockPick<T> | null {
    const now = this.clock.nowNs();
    if (this.limiters.size === 0) return this.dm.dequeue(now);
    const pick = this.dm.dequeue(now, (id, req) => {
      const rl = this.limiters.get(id);
      if (!rl || rl.wouldPass(req.bytes, now)) return true;
      rl.throttled++;
      return false;
    });
    if (pick) this.limiters.get(pick.client)?.consume(pick.item.bytes, now);
    return pick;
  }

  /**
   * When to try again if next() returned null with requests queued: the earliest time a limit
   * tag comes due or a bucket refills enough for its queue's head (null: nothing is waiting).
   */
  nextWakeNs(): number | null {
    if (this.dm.size === 0) return null;
    const now = this.clock.nowNs();
    let wake = this.dm.nextDueNs(now) ?? Infinity;
    for (const [id, rl] of this.limiters) {
      const head = this.dm.peek(id);
      if (!head) continue;
      const w = rl.waitNs(head.bytes, now);
      if (w > 0) wake = Math.min(wake, now + w);
    }
    return Number.isFinite(wake) ? Math.max(wake, now) : null;
  }

  /** Requests served per volume, by the phase that chose them. */
  served(id: number): { reservation: number; weight: number } {
    return this.dm.served(id);
  }

  throttled(id: number): number {
    return this.limiters.get(id)?.throttled ?? 0;
  }
}
