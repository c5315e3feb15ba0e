/**
 * Reconnect delays: exponential growth with full jitter, bounded below and above. Attempt `n` (0 for the first
 * retry) waits a uniformly random time in [min, min(max, min · 2^(n+1))] ms, so a crowd of clients dropped together
 * (a server restart) spreads its reconnects over the whole window instead of arriving in waves.
 */
export interface BackoffBounds {
  /** Smallest delay in ms (default 500). */
  readonly minDelay: number;
  /** Largest delay in ms (default 20 000). */
  readonly maxDelay: number;
}

/** The ceiling of attempt `attempt`: min · 2^(attempt+1), capped at max (so even the first retry is jittered). */
export function backoffCeiling(attempt: number, b: BackoffBounds): number {
  // 2^31 is far past any cap; clamping the exponent keeps the product finite.
  return Math.min(b.maxDelay, b.minDelay * 2 ** Math.min(attempt + 1, 31));
}

/** The delay before retry number `attempt` (0-based); `random` returns [0, 1) and is injectable for tests. */
export function backoffDelay(attempt: number, b: BackoffBounds, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(attempt, b);
  return Math.round(b.minDelay + random() * (ceiling - b.minDelay));
}
