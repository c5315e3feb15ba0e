/**
 * A token bucket: `rate` tokens per second up to `burst`. Two numbers of state, so one per connection or per IP is
 * cheap. Time in milliseconds from `performance.now()`.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = performance.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens in the bucket now, without taking one. */
  available(now = performance.now()): number {
    return Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
  }

  /** True when the bucket has refilled completely (its state can be forgotten). */
  full(now = performance.now()): boolean {
    return this.tokens + ((now - this.last) * this.rate) / 1000 >= this.burst;
  }
}
