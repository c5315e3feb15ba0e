/**
 * The admin console's operators, as the server API sees them: a request without the API key may still be allowed
 * when it carries a signed-in operator's session cookie (src/admin/sessions.ts). The API then applies the same
 * checks as for the key, refuses a state-changing request whose CSRF header does not match the session, and logs
 * every such request with the operator's identity.
 */
import type { IncomingMessage } from 'node:http';

export interface Operator {
  /** The name the operator gave at sign-in (self-declared; the credential is what is checked). */
  readonly name: string;
  /** What the operator signed in with: the API key, `admin.secret`, or nothing (loopback caller, no credential configured). */
  readonly via: 'apikey' | 'secret' | 'local';
  /** The session's short id (not its cookie), to tell two sessions of one name apart in the logs. */
  readonly session: string;
  /** The client address at sign-in. */
  readonly ip: string;
}

export interface ApiOperators {
  /** The operator of the request's session cookie, and whether its CSRF header matches; undefined without a session. */
  identify(req: IncomingMessage): { readonly operator: Operator; readonly csrf: boolean } | undefined;
}
