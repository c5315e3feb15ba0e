import type { Config } from '../config/index.js';
import { TokenBucket } from '../core/token-bucket.js';

/** A connection's place in the limits, held from before authentication until it closes. */
export interface Reservation {
  /** After authentication: the per-user limit (the slot is kept only if this admits the user). */
  claimUser(userId: string): RefusedBy | undefined;
  /** Gives the slot back (refused, failed or closed). Idempotent. */
  release(): void;
}

/** Which connection limit refused a connection; `undefined` when admitted. */
export type RefusedBy = 'connections' | 'connections_per_ip' | 'connections_per_user' | 'sse_streams_per_ip' | 'connect_rate';

const MESSAGES: Record<RefusedBy, (c: Config) => string> = {
  connections: (c) => `the server has its most connections (limits.connections = ${c.limits.connections})`,
  connections_per_ip: (c) => `too many connections from this address (limits.connectionsPerIp = ${c.limits.connectionsPerIp})`,
  connections_per_user: (c) => `too many connections for this user (limits.connectionsPerUser = ${c.limits.connectionsPerUser})`,
  sse_streams_per_ip: (c) => `too many SSE streams from this address (limits.sseStreamsPerIp = ${c.limits.sseStreamsPerIp})`,
  connect_rate: (c) => `connecting too fast from this address (limits.connectRate = ${c.limits.connectRate}/s)`,
};

/**
 * Connection limits of one node: open connections in total, per IP, per user and SSE streams per IP, and the rate
 * of new connections per IP (token bucket, burst twice the rate). Counts are kept in maps whose entries go when
 * they reach zero; idle rate buckets are pruned every minute, so the state is bounded by the open connections.
 */
export class Admission {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private readonly ssePerIp = new Map<string, number>();
  private readonly perUser = new Map<string, number>();
  private readonly rates = new Map<string, TokenBucket>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly config: Config) {
    this.timer = setInterval(() => this.prune(), 60_000);
    this.timer.unref();
  }

  /**
   * Before authentication: node, IP and rate limits. An admitted connection holds its slot from this moment, so
   * connections waiting on a slow authentication (a cold JWKS) cannot slip past the limits together.
   */
  reserve(ip: string, transport: string): RefusedBy | Reservation {
    const l = this.config.limits;
    if (l.connections > 0 && this.total >= l.connections) return 'connections';
    if (l.connectionsPerIp > 0 && (this.perIp.get(ip) ?? 0) >= l.connectionsPerIp) return 'connections_per_ip';
    if (transport === 'sse' && l.sseStreamsPerIp > 0 && (this.ssePerIp.get(ip) ?? 0) >= l.sseStreamsPerIp) return 'sse_streams_per_ip';
    if (l.connectRate > 0) {
      let bucket = this.rates.get(ip);
      if (!bucket) this.rates.set(ip, (bucket = new TokenBucket(l.connectRate, l.connectRate * 2)));
      if (!bucket.take()) return 'connect_rate';
    }
    this.total++;
    bump(this.perIp, ip, 1);
    if (transport === 'sse') bump(this.ssePerIp, ip, 1);
    return new Slot(this, ip, transport === 'sse');
  }

  /** The per-user limit of an admitted connection: false when the user has its most connections. */
  claimUser(userId: string): boolean {
    const max = this.config.limits.connectionsPerUser;
    if (max > 0 && (this.perUser.get(userId) ?? 0) >= max) return false;
    bump(this.perUser, userId, 1);
    return true;
  }

  /** Gives back what `reserve` (and `claimUser`) took. */
  releaseSlot(ip: string, sse: boolean, user: string | undefined): void {
    this.total--;
    bump(this.perIp, ip, -1);
    if (sse) bump(this.ssePerIp, ip, -1);
    if (user !== undefined) bump(this.perUser, user, -1);
  }

  message(by: RefusedBy): string {
    return MESSAGES[by](this.config);
  }

  private prune(): void {
    const now = performance.now();
    for (const [ip, b] of this.rates) if (b.full(now)) this.rates.delete(ip);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/**
 * One connection's reservation. `release` is a bound field so it can be a 'close' listener itself; the rest is on
 * the prototype (an object literal of two closures over five variables cost every connection ~0.2 KiB).
 */
class Slot implements Reservation {
  private user: string | undefined;
  private released = false;

  constructor(
    private readonly admission: Admission,
    private readonly ip: string,
    private readonly sse: boolean,
  ) {}

  claimUser(userId: string): RefusedBy | undefined {
    if (!this.admission.claimUser(userId)) return 'connections_per_user';
    this.user = userId;
    return undefined;
  }

  readonly release = (): void => {
    if (this.released) return;
    this.released = true;
    this.admission.releaseSlot(this.ip, this.sse, this.user);
  };
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
