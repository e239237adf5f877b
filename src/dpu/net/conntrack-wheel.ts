/**
 * Conntrack's timer wheel: one bucket per second, as many buckets as the longest timeout needs
 * (a power of two), each a doubly linked list through per-connection index arrays. Refreshing a
 * deadline only writes it (the common case: every packet of a connection does); a connection is
 * moved to its new bucket when its old one comes due. A deadline beyond the wheel's span waits in
 * the last bucket and moves on from there.
 */
export class CtWheel {
  private readonly span: number;
  private readonly heads: Int32Array;
  private next: Int32Array = new Int32Array(0);
  private prev: Int32Array = new Int32Array(0);
  private bucket: Int32Array = new Int32Array(0);
  private deadlines = new Float64Array(0);
  /** Every second up to this one (clock seconds) has been swept. */
  private sweptTo: number;

  constructor(maxTimeoutSec: number, nowMs: number) {
    let w = 64;
    while (w < maxTimeoutSec + 2 && w < 1 << 16) w *= 2;
    this.span = w;
    this.heads = new Int32Array(w);
    this.sweptTo = Math.floor(nowMs / 1000);
  }

  /** Room for handles below `n`. */
  grow(n: number): void {
    const g = (a: Int32Array): Int32Array => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.next = g(this.next);
    this.prev = g(this.prev);
    this.bucket = g(this.bucket);
    const d = new Float64Array(n);
    d.set(this.deadlines);
    this.deadlines = d;
  }

  deadline(e: number): number {
    return this.deadlines[e]!;
  }

  /** Puts `e` in the bucket of `deadline` (clock ms). */
  arm(e: number, deadline: number): void {
    this.deadlines[e] = deadline;
    this.link(e);
  }

  /** A new deadline; the connection moves when its current bucket comes due. */
  refresh(e: number, deadline: number): void {
    this.deadlines[e] = deadline;
  }

  /** Moves `e` to the bucket of its current deadline. */
  rearm(e: number): void {
    this.unarm(e);
    this.link(e);
  }

  unarm(e: number): void {
    const b = this.bucket[e]! - 1;
    if (b < 0) return;
    const n = this.next[e]!;
    const p = this.prev[e]!;
    if (p !== 0) this.next[p] = n;
    else this.heads[b] = n;
    if (n !== 0) this.prev[n] = p;
    this.bucket[e] = 0;
  }

  /**
   * The connections in every bucket from the last sweep up to `nowMs` (still armed: the caller
   * re-arms or removes each). Some may have been refreshed past `nowMs`.
   */
  due(nowMs: number): number[] {
    const nowSec = Math.floor(nowMs / 1000);
    const out: number[] = [];
    if (nowSec <= this.sweptTo) return out;
    const from = nowSec - this.sweptTo >= this.span ? nowSec - this.span + 1 : this.sweptTo + 1;
    for (let s = from; s <= nowSec; s++)
      for (let e = this.heads[s & (this.span - 1)]!; e !== 0; e = this.next[e]!) out.push(e);
    this.sweptTo = nowSec;
    return out;
  }

  private link(e: number): void {
    let sec = Math.ceil(this.deadlines[e]! / 1000);
    if (sec <= this.sweptTo) sec = this.sweptTo + 1;
    else if (sec > this.sweptTo + this.span) sec = this.sweptTo + this.span;
    const b = sec & (this.span - 1);
    const h = this.heads[b]!;
    this.next[e] = h;
    this.prev[e] = 0;
    if (h !== 0) this.prev[h] = e;
    this.heads[b] = e;
    this.bucket[e] = b + 1;
  }
}
