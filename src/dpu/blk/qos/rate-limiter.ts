import { Reduction, TokenBucket, type TokenBucketSpec } from './token-bucket.js';

/** A rate limiter's buckets: `ops` (a token a request) and `bandwidth` (a token a byte), each optional. */
export interface RateLimiterSpec {
  /** Operations: one token a request. */
  ops?: TokenBucketSpec | undefined;
  /** Bandwidth: one token a byte. */
  bandwidth?: TokenBucketSpec | undefined;
}

/**
 * Firecracker's rate limiter for a drive: an operations bucket and a bandwidth bucket, either
 * optional. A request passes only if both have its tokens; if the second refuses, the first gets
 * its tokens back. A request bigger than a whole bucket passes once (over-consumption) and the
 * limiter then stays blocked for as many refill times as the excess is worth. Time is passed in.
 */
export class RateLimiter {
  private readonly ops: TokenBucket | null;
  private readonly bytes: TokenBucket | null;
  /** Blocked until this time after an over-consumption. */
  private blockedUntilNs = 0;
  /** Requests refused (throttled) so far. */
  throttled = 0;

  constructor(spec: RateLimiterSpec, nowNs: number) {
    this.ops = spec.ops ? new TokenBucket(spec.ops, nowNs) : null;
    this.bytes = spec.bandwidth ? new TokenBucket(spec.bandwidth, nowNs) : null;
  }

  get unlimited(): boolean {
    return this.ops === null && this.bytes === null;
  }

  /** Whether consume(byteCount) would pass now (takes nothing). */
  wouldPass(byteCount: number, nowNs: number): boolean {
    if (nowNs < this.blockedUntilNs) return false;
    if (this.ops && this.ops.available(nowNs) < 1) return false;
    if (!this.bytes || byteCount === 0) return true;
    return byteCount > this.bytes.size || this.bytes.available(nowNs) >= byteCount;
  }

  /** Takes one operation and `byteCount` bytes if both buckets have them. */
  consume(byteCount: number, nowNs: number): boolean {
    if (nowNs < this.blockedUntilNs) {
      this.throttled++;
      return false;
    }
    const o = this.ops ? this.ops.reduce(1, nowNs) : Reduction.Success;
    if (o === Reduction.Failure) {
      this.throttled++;
      return false;
    }
    if (o === Reduction.OverConsumption) this.block(this.ops!, nowNs);
    const b = this.bytes && byteCount > 0 ? this.bytes.reduce(byteCount, nowNs) : Reduction.Success;
    if (b === Reduction.Failure) {
      this.ops?.giveBack(1);
      this.throttled++;
      return false;
    }
    if (b === Reduction.OverConsumption) this.block(this.bytes!, nowNs);
    return true;
  }

  /** Nanoseconds until a request of `byteCount` bytes could pass (0: now). */
  waitNs(byteCount: number, nowNs: number): number {
    let w = Math.max(0, this.blockedUntilNs - nowNs);
    if (this.ops) w = Math.max(w, this.ops.waitNs(1, nowNs));
    if (this.bytes && byteCount > 0) w = Math.max(w, this.bytes.waitNs(byteCount, nowNs));
    return w;
  }

  private block(bucket: TokenBucket, nowNs: number): void {
    this.blockedUntilNs = Math.max(this.blockedUntilNs, nowNs + bucket.overRatio() * bucket.refillTimeNs);
  }
}
