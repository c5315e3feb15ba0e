/**
 * Failed admin sign-ins per client address: at most `attempts` per minute (a token bucket refilling `attempts` per
 * minute), then 429 until it refills. The table is bounded (`admin.signInAddresses`): when full, the oldest entry is
 * forgotten, so a flood of addresses costs memory in proportion to the bound, never more. A successful sign-in does
 * not spend a token; a limited address is refused before its secret is checked.
 */
import { TokenBucket } from '../core/token-bucket.js';

export class SignInLimit {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly attempts: number,
    private readonly maxAddresses: number,
  ) {}

  /** True when `ip` may try to sign in now (it has a token left). */
  allowed(ip: string, now = performance.now()): boolean {
    const b = this.buckets.get(ip);
    return !b || b.available(now) >= 1;
  }

  /** Counts one failed sign-in of `ip`. */
  failed(ip: string, now = performance.now()): void {
    let b = this.buckets.get(ip);
    if (!b) {
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
      this.buckets.set(ip, (b = new TokenBucket(this.attempts / 60, this.attempts, now)));
    }
    b.take(now);
  }

  /** Seconds until `ip` may try again (for Retry-After): one token at `attempts` per minute. */
  retryAfterSeconds(): number {
    return Math.ceil(60 / this.attempts);
  }

  get size(): number {
    return this.buckets.size;
  }
}
