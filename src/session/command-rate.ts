import { TokenBucket } from '../core/token-bucket.js';

/**
 * The per-connection command rate (`limits.commandRate` per second, bursts of twice that; 0: no limit). A client
 * that keeps going past `limits.commandRejectLimit` refusals is to be closed (4006); from then on it is `flooded` and
 * its further frames are not read.
 */
export class CommandRate {
  private readonly bucket: TokenBucket | undefined;
  private refused = 0;
  /** Set once the connection is to be closed for flooding. */
  flooded = false;

  constructor(
    readonly rate: number,
    private readonly rejectLimit: number,
  ) {
    this.bucket = rate > 0 ? new TokenBucket(rate, rate * 2) : undefined;
  }

  /** Takes a command's token; false when it is over the rate. */
  take(): boolean {
    return this.bucket === undefined || this.bucket.take();
  }

  /** Counts a refusal; true when it is the one that reaches the reject limit (the connection must close). */
  refuse(): boolean {
    if (++this.refused < this.rejectLimit) return false;
    this.flooded = true;
    return true;
  }
}
