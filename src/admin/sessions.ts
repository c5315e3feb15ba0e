/**
 * Signed-in admin console sessions, in memory on the node that signed the operator in (a console talks to one
 * node; behind a load balancer, pin `/admin` and `/api` of a console to one node or sign in again). The cookie holds a
 * random 256-bit token; the table is keyed by its SHA-256, so a heap dump shows no usable cookie. Bounded by
 * `admin.maxSessions` (the oldest session ends when a new one would exceed it) and `admin.sessionTtl`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Operator } from '../api/operators.js';

export interface AdminSession {
  readonly operator: Operator;
  /** The CSRF token the console sends back in `X-CSRF-Token` with every state-changing request. */
  readonly csrf: string;
  readonly expiresAt: number;
}

export class AdminSessions {
  /** By digest of the cookie token, oldest first (Map order is insertion order). */
  private readonly sessions = new Map<string, AdminSession>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** A new session for `operator`: returns the cookie token (never stored) and the session. */
  create(operator: Omit<Operator, 'session'>, now = Date.now()): { token: string; session: AdminSession } {
    this.sweep(now);
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value as string);
    const token = randomBytes(32).toString('base64url');
    const key = digest(token);
    const session: AdminSession = { operator: { ...operator, session: key.slice(0, 8) }, csrf: randomBytes(24).toString('base64url'), expiresAt: now + this.ttlMs };
    this.sessions.set(key, session);
    return { token, session };
  }

  /** The live session of a cookie token, or undefined (unknown, or expired: then forgotten). */
  get(token: string | undefined, now = Date.now()): AdminSession | undefined {
    if (!token) return undefined;
    const key = digest(token);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.sessions.delete(key);
      return undefined;
    }
    return s;
  }

  delete(token: string | undefined): void {
    if (token) this.sessions.delete(digest(token));
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Forgets expired sessions (on each sign-in: the table never holds more than `max` anyway). */
  private sweep(now: number): void {
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
  }
}

/** Constant-time comparison of a header value with the session's CSRF token. */
export function csrfMatches(session: AdminSession, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const a = Buffer.from(header);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
