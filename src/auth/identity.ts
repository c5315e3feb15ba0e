import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { TraceContext } from '../core/trace-context.js';
import type { ErrorCode } from '../protocol/errors.js';

/** Who is connecting, as established by an Authenticator. */
export interface Identity {
  readonly userId: string;
  /** Shown in presence (JWT claim `info`). */
  readonly info?: unknown;
  /** A connection without credentials (JWT auth on and `client.allowAnonymous`). */
  readonly anonymous?: boolean;
  /** When the credentials expire, ms since the Unix epoch (JWT `exp`); the connection must refresh before. */
  readonly expiresAt?: number;
  /** Channels the token grants (JWT claim `channels`): subscribed automatically, and allowed in `token` namespaces. */
  readonly channels?: readonly string[];
  /** Data for the client from the connect proxy's result (`data`): the Centrifuge `connect` reply carries it. */
  readonly data?: unknown;
}

/** What a subscription token grants: the channel until `expiresAt` (ms since the Unix epoch; the token's `exp`). */
export interface SubscriptionGrant {
  readonly expiresAt?: number;
}

/** A refusal carries one of the error table's codes (src/protocol/errors.ts) and the HTTP status to answer with. */
export type AuthResult = { ok: true; identity: Identity } | { ok: false; status: number; code: ErrorCode; message: string };

/** Where a connection comes from, for authenticators that ask someone else (the connect proxy). */
export interface AuthContext {
  /** `websocket` or `sse`. */
  readonly transport: string;
  /** The client's address (through trusted proxies). */
  readonly ip: string;
  /** The handshake's span, when tracing: its `traceparent` travels with the call. */
  readonly trace?: TraceContext;
}

export interface Authenticator {
  /** True when the server authenticates nobody (development mode). */
  readonly insecure: boolean;
  /** Establishes the identity of a WebSocket upgrade or SSE request. */
  authenticate(req: IncomingMessage, url: URL, ctx?: AuthContext): Promise<AuthResult>;
  /**
   * Verifies a fresh connection token sent by an open WebSocket (the `refresh` command). Undefined when the
   * authenticator has no tokens.
   */
  refresh?(token: string): Promise<AuthResult>;
  /**
   * Verifies a subscription token (JWT with `sub` = the user and `channel` = the channel) for a channel in a
   * `token` namespace: the grant it gives, or undefined when it is not valid for them.
   */
  verifySubscription?(token: string, userId: string, channel: string): Promise<SubscriptionGrant | undefined>;
}

export const USER_PATTERN = /^[A-Za-z0-9_\-.:@]{1,128}$/;

/**
 * Development mode: the user id comes from the `user` query parameter, else an anonymous id. Anyone can claim any
 * user id, so the server logs loudly that it runs this way.
 */
export class InsecureQueryAuthenticator implements Authenticator {
  readonly insecure = true;
  constructor(private readonly anonymousPrefix: string) {}

  async authenticate(_req: IncomingMessage, url: URL): Promise<AuthResult> {
    const user = url.searchParams.get('user');
    if (user === null || user === '') {
      return { ok: true, identity: { userId: this.anonymousPrefix + randomBytes(6).toString('hex') } };
    }
    if (!USER_PATTERN.test(user)) {
      return { ok: false, status: 400, code: 'bad_request', message: 'user must be 1-128 characters of letters, digits and _-.:@' };
    }
    return { ok: true, identity: { userId: user } };
  }
}
