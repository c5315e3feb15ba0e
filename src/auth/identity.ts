import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';

/** Who is connecting. JWT authentication (a later issue) implements the same interface. */
export interface Identity {
  readonly userId: string;
  /** Shown in presence. */
  readonly info?: unknown;
}

export type AuthResult = { ok: true; identity: Identity } | { ok: false; status: number; code: string; message: string };

export interface Authenticator {
  /** True when the server authenticates nobody (development mode). */
  readonly insecure: boolean;
  authenticate(req: IncomingMessage, url: URL): AuthResult;
}

const USER_PATTERN = /^[A-Za-z0-9_\-.:@]{1,128}$/;

/**
 * Development mode: the user id comes from the `user` query parameter, else an anonymous id. Anyone can claim any
 * user id, so the server logs loudly that it runs this way.
 */
export class InsecureQueryAuthenticator implements Authenticator {
  readonly insecure = true;
  constructor(private readonly anonymousPrefix: string) {}

  authenticate(_req: IncomingMessage, url: URL): AuthResult {
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
