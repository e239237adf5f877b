/** A client's share (dmClock's three controls). Rates are requests per second. */
export interface DmClockShare {
  /** Minimum rate the client gets while it asks for it (0: none). */
  reservation: number;
  /** Share of what is left after reservations, relative to the other clients' weights (> 0). */
  weight: number;
  /** Maximum rate (0: no limit). */
  limit: number;
}

interface Tagged<T> {
  item: T;
  /** Reservation tag, stored shifted: the effective tag is r - client.rShift. */
  r: number;
  l: number;
  p: number;
  cost: number;
}

class Client<T> {
  readonly queue: Tagged<T>[] = [];
  head = 0;
  lastR = 0;
  lastL = 0;
  lastP = 0;
  /** Sum of the reservation credit taken back for requests served in the weight phase. */
  rShift = 0;
  servedReservation = 0;
  servedWeight = 0;
  constructor(public share: DmClockShare) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  peek(): Tagged<T> | undefined {
    return this.queue[this.head];
  }

  shift(): Tagged<T> {
    const t = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return t;
  }
}

/** The result of a dequeue: the request, whose it is, and which phase chose it. */
export interface DmClockPick<T> {
  item: T;
  client: number;
  phase: 'reservation' | 'weight';
}

/**
 * dmClock (Gulati, Merchant, Varman, OSDI 2010) on one server: each request is tagged on
 * arrival with R = max(R' + 1/r, t), L = max(L' + 1/l, t) and P = max(P' + 1/w, t), where the
 * primes are the client's previous tags and t the arrival time in seconds. A dequeue at time t
 * first serves the smallest R tag that is due (R <= t: a reservation owed), otherwise the
 * smallest P tag among clients under their limit (L <= t); a request served by weight takes
 * 1/r back from its client's later R tags, so that weight-phase service does not count twice.
 * With requests of one cost this gives every backlogged client at least its reservation, at
 * most its limit, and the rest in proportion to weights.
 *
 * Pure: time (nanoseconds, any monotonic clock) comes in with each call. `eligible` lets the
 * owner veto a client for now (its token bucket is empty).
 */
export class DmClock<T> {
  private readonly clients = new Map<number, Client<T>>();
  private queued = 0;

  setClient(id: number, share: DmClockShare): void {
    const c = this.clients.get(id);
    if (c) c.share = share;
    else this.clients.set(id, new Client<T>(share));
  }

  removeClient(id: number): T[] {
    const c = this.clients.get(id);
    if (!c) return [];
    this.clients.delete(id);
    const left = c.queue.slice(c.head).map((t) => t.item);
    this.queued -= left.length;
    return left;
  }

  get size(): number {
    return this.queued;
  }

  /** The request at the head of a client's queue. */
  peek(id: number): T | undefined {
    return this.clients.get(id)?.peek()?.item;
  }

  queuedFor(id: number): number {
    return this.clients.get(id)?.size ?? 0;
  }

  served(id: number): { reservation: number; weight: number } {
    const c = this.clients.get(id);
    return { reservation: c?.servedReservation ?? 0, weight: c?.servedWeight ?? 0 };
  }

  enqueue(id: number, item: T, nowNs: number, cost = 1): void {
    const c = this.clients.get(id);
    if (!c) throw new RangeError(`dmclock: no client ${id}`);
    const t = nowNs / 1e9;
    const { reservation, weight, limit } = c.share;
    const r = reservation > 0 ? Math.max(c.lastR - c.rShift + cost / reservation, t) + c.rShift : Infinity;
    const l = limit > 0 ? Math.max(c.lastL + cost / limit, t) : 0;
    // A client that was idle starts at the backlogged clients' progress (start-time fair
    // queueing), not at t: otherwise its old, small P tags would win every weight-phase pick
    // until they caught up.
    const p = Math.max(c.lastP + cost / weight, c.size === 0 ? this.minHeadP(t) : t);
    if (reservation > 0) c.lastR = r;
    c.lastL = l;
    c.lastP = p;
    c.queue.push({ item, r, l, p, cost });
    this.queued++;
  }

  /** The next request to serve at `nowNs`, or null if none is due (see nextDueNs). */
  dequeue(nowNs: number, eligible?: (client: number, item: T) => boolean): DmClockPick<T> | null {
    if (this.queued === 0) return null;
    const t = nowNs / 1e9;
    let best: Client<T> | null = null;
    let bestId = -1;
    let bestTag = Infinity;
    for (const [id, c] of this.clients) {
      const h = c.peek();
      if (!h) continue;
      const r = h.r - c.rShift;
      if (r <= t && r < bestTag && (!eligible || eligible(id, h.item))) {
        best = c;
        bestId = id;
        bestTag = r;
      }
    }
    if (best) {
      best.servedReservation++;
      return this.take(best, bestId, 'reservation');
    }
    for (const [id, c] of this.clients) {
      const h = c.peek();
      if (!h || h.l > t || h.p >= bestTag) continue;
      if (eligible && !eligible(id, h.item)) continue;
      best = c;
      bestId = id;
      bestTag = h.p;
    }
    if (!best) return null;
    best.servedWeight++;
    const h = best.peek()!;
    if (best.share.reservation > 0) best.rShift += h.cost / best.share.reservation;
    return this.take(best, bestId, 'weight');
  }

  /** The earliest time after `nowNs` a request held back by its limit tag comes due (null: none is). */
  nextDueNs(nowNs: number): number | null {
    const t = nowNs / 1e9;
    let due = Infinity;
    for (const c of this.clients.values()) {
      const h = c.peek();
      if (h && h.l > t && h.l < due) due = h.l;
    }
    return Number.isFinite(due) ? Math.ceil(due * 1e9) + 1 : null;
  }

  private minHeadP(t: number): number {
    let min = Infinity;
    for (const c of this.clients.values()) {
      const h = c.peek();
      if (h && h.p < min) min = h.p;
    }
    return Number.isFinite(min) ? Math.max(min, t) : t;
  }

  private take(c: Client<T>, id: number, phase: 'reservation' | 'weight'): DmClockPick<T> {
    this.queued--;
    return { item: c.shift().item, client: id, phase };
  }
}
