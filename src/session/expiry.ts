/** Something with credentials that expire (a connection: its token, its subscription tokens). */
export interface Expiring {
  /** Ends what expired at `now` (ms since the Unix epoch); false when nothing of it can expire any more. */
  expire(now: number): boolean;
}

/** How often watched connections are checked (ms). */
const CHECK_INTERVAL_MS = 1000;

/**
 * Connections with credentials or subscriptions that expire (JWT `exp`, subscription tokens), checked once a second
 * until their `expire` says nothing of them expires any more. One timer for all of them, unref'd.
 */
export class ExpiryWatch {
  private readonly expiring = new Set<Expiring>();
  private readonly timer: NodeJS.Timeout;

  /** `clockToleranceMs`: the clock skew the token check allows (jwt.clockTolerance), allowed here too. */
  constructor(private readonly clockToleranceMs: number) {
    this.timer = setInterval(() => this.expire(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  watch(s: Expiring): void {
    this.expiring.add(s);
  }

  unwatch(s: Expiring): void {
    this.expiring.delete(s);
  }

  /** Ends what expired. */
  private expire(): void {
    const now = Date.now() - this.clockToleranceMs;
    for (const s of this.expiring) if (!s.expire(now)) this.expiring.delete(s);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
