import { inc } from './counters.js';
import type { Counters } from './counters.js';
import type { Logger } from './logger.js';

/** A connection that logs each limit it hits once (sessions). */
export interface LimitLogged {
  readonly log: Logger;
  loggedLimits?: Set<string>;
}

/** How often a refusal without a connection is logged, per limit (ms). */
const REFUSAL_LOG_INTERVAL_MS = 1000;

/**
 * Limit hits: every hit is counted (`switchboard.limits.hit`), but logged once per connection, or, for refused
 * connections (which have no connection to log once for), at most once per second per limit, so a client hammering
 * an endpoint cannot flood the log.
 */
export class LimitLog {
  /** When a refusal was last logged, per limit. */
  private readonly refusalLogged = new Map<string, number>();

  constructor(
    private readonly counters: Counters,
    private readonly logger: Logger,
  ) {}

  hit(limit: string, session?: LimitLogged, fields: Record<string, unknown> = {}): void {
    inc(this.counters.limitsHit, limit);
    if (!session) {
      const now = Date.now();
      if (now - (this.refusalLogged.get(limit) ?? 0) < REFUSAL_LOG_INTERVAL_MS) return;
      this.refusalLogged.set(limit, now);
      this.logger.warn({ event: 'rate_limited', limit, ...fields }, 'limit reached');
      return;
    }
    const seen = (session.loggedLimits ??= new Set());
    if (seen.has(limit)) return;
    seen.add(limit);
    session.log.warn({ event: 'rate_limited', limit, ...fields }, 'limit reached');
  }
}
