/** What a reduce() did (Firecracker's BucketReduction). */
export const Reduction = {
  /** The tokens were there and were taken. */
  Success: 0,
  /** Not enough tokens: nothing was taken. */
  Failure: 1,
  /**
   * The request is bigger than the whole bucket: everything was taken and the caller should
   * hold off for overRatio() refill times, so that a giant request is paid for over time.
   */
  OverConsumption: 2,
} as const;
export type Reduction = (typeof Reduction)[keyof typeof Reduction];

/** A Firecracker token bucket: `size` tokens, refilled in full every `refillTimeMs`, one-off burst optional. */
export interface TokenBucketSpec {
  /** Tokens the bucket holds when full (and refills per refillTimeMs). */
  size: number;
  /** Tokens available once, on top of `size`, never refilled (a start-up burst). */
  oneTimeBurst?: number | undefined;
  /** Milliseconds to refill from empty to full. */
  refillTimeMs: number;
}

/**
 * A token bucket as Firecracker's rate limiter has it: `size` tokens refilled linearly over
 * `refillTimeMs`, plus an optional one-time burst that is spent first and never comes back. Pure
 * arithmetic: time comes in as an argument (nanoseconds on any monotonic clock), so a test moves
 * a clock instead of waiting, and the timer that wakes a throttled queue lives elsewhere.
 */
export class TokenBucket {
  readonly size: number;
  readonly refillTimeNs: number;
  readonly initialOneTimeBurst: number;
  private oneTimeBurst: number;
  private budget: number;
  private lastUpdateNs: number;
  private overRatioValue = 0;

  constructor(spec: TokenBucketSpec, nowNs: number) {
    this.size = spec.size;
    this.refillTimeNs = spec.refillTimeMs * 1e6;
    this.initialOneTimeBurst = spec.oneTimeBurst ?? 0;
    this.oneTimeBurst = this.initialOneTimeBurst;
    this.budget = spec.size;
    this.lastUpdateNs = nowNs;
  }

  /** Tokens available now (after refilling up to `nowNs`), the one-time burst included. */
  available(nowNs: number): number {
    this.replenish(nowNs);
    return this.budget + this.oneTimeBurst;
  }

  /** Takes `tokens` if they are there. */
  reduce(tokens: number, nowNs: number): Reduction {
    let need = tokens;
    if (this.oneTimeBurst > 0) {
      if (this.oneTimeBurst >= need) {
        this.oneTimeBurst -= need;
        // Time spent on the burst does not also fill the bucket.
        this.lastUpdateNs = nowNs;
        return Reduction.Success;
      }
      need -= this.oneTimeBurst;
      this.oneTimeBurst = 0;
    }
    this.replenish(nowNs);
    if (need > this.budget) {
      if (need > this.size) {
        // Taken whole, paid for afterwards (the limiter blocks for the excess).
        this.overRatioValue = (need - this.budget) / this.size;
        this.budget = 0;
        return Reduction.OverConsumption;
      }
      return Reduction.Failure;
    }
    this.budget -= need;
    return Reduction.Success;
  }

  /** After an OverConsumption: how many whole refill times the excess is worth. */
  overRatio(): number {
    return this.overRatioValue;
  }

  /** Gives tokens back (when a request was refused by the other bucket of a limiter). */
  giveBack(tokens: number): void {
    this.budget = Math.min(this.size, this.budget + tokens);
  }

  /** Nanoseconds from `nowNs` until `tokens` (at most size) are available; 0 if they are now. */
  waitNs(tokens: number, nowNs: number): number {
    const have = this.available(nowNs);
    if (have >= tokens) return 0;
    const need = Math.min(tokens, this.size) - this.budget;
    return Math.ceil((need * this.refillTimeNs) / this.size);
  }

  private replenish(nowNs: number): void {
    const dt = nowNs - this.lastUpdateNs;
    if (dt <= 0) return;
    const add = (dt * this.size) / this.refillTimeNs;
    this.budget = Math.min(this.size, this.budget + add);
    this.lastUpdateNs = nowNs;
  }
}
