/**
 * The connect proxy (`proxy.connect.url`, docs/proxy.md): a connection that brings no JWT is described to the
 * application's backend (allow-listed headers and cookies, the `data` query parameter), which answers who it is, or
 * refuses. Apps with cookie sessions need no tokens. When JWT authentication is configured too, a connection that
 * carries a token is verified by it, and token refresh and subscription tokens keep working.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode, httpStatusOf, ReplyError } from '../../protocol/index.js';
import { isValidChannel } from '../../protocol/names.js';
import { USER_PATTERN, type AuthContext, type AuthResult, type Authenticator, type Identity, type SubscriptionGrant } from '../identity.js';
import { extractToken, readCookie } from '../token.js';
import type { ProxyBackend } from './backend.js';

export interface ConnectProxyOptions {
  readonly url: string;
  /** Header names forwarded (`proxy.connect.headers`), any case. */
  readonly headers: readonly string[];
  /** Cookie names forwarded (`proxy.connect.cookies`). */
  readonly cookies: readonly string[];
  /** The JWT cookie name (`jwt.cookie`), to tell whether a connection brings a token for `jwt`. */
  readonly jwtCookie: string;
}

/** Longest `data` query parameter, characters (4 KiB). */
const MAX_DATA = 4096;
/** Largest `info`, serialized, bytes (4 KiB, as the JWT claim): it travels in every presence reply. */
const MAX_INFO_BYTES = 4096;
/** Most channels a connect answer may list (as the JWT claim). */
const MAX_CHANNELS = 128;

/** A refused upgrade or SSE request: the status the error table gives the code (docs/protocol.md), else 403. */
const refused = (e: ReplyError): AuthResult => ({ ok: false, status: httpStatusOf(e.code, 403), code: e.code, message: e.message });

export class ConnectProxyAuthenticator implements Authenticator {
  readonly insecure = false;
  private readonly headerNames: readonly string[];

  constructor(
    private readonly opts: ConnectProxyOptions,
    private readonly backend: ProxyBackend,
    /** JWT authentication, when configured beside the proxy. */
    private readonly jwt?: Authenticator,
  ) {
    this.headerNames = opts.headers.map((h) => h.toLowerCase());
    if (jwt?.refresh) this.refresh = (token) => jwt.refresh!(token);
    if (jwt?.verifySubscription) this.verifySubscription = (t, u, c) => jwt.verifySubscription!(t, u, c);
  }

  refresh?: (token: string) => Promise<AuthResult>;
  verifySubscription?: (token: string, userId: string, channel: string) => Promise<SubscriptionGrant | undefined>;

  async authenticate(req: IncomingMessage, url: URL, ctx?: AuthContext): Promise<AuthResult> {
    if (this.jwt && extractToken(req, url, this.opts.jwtCookie) !== undefined) return this.jwt.authenticate(req, url, ctx);
    let data: unknown = null;
    const raw = url.searchParams.get('data');
    if (raw !== null) {
      if (raw.length > MAX_DATA) return refused(new ReplyError(ErrorCode.BadRequest, `data must be at most ${MAX_DATA} characters`));
      try {
        data = JSON.parse(raw);
      } catch {
        return refused(new ReplyError(ErrorCode.BadRequest, 'data must be JSON text'));
      }
    }
    const headers: Record<string, string> = {};
    for (const name of this.headerNames) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    const cookies: Record<string, string> = {};
    for (const name of this.opts.cookies) {
      const v = readCookie(req.headers.cookie, name);
      if (v !== undefined) cookies[name] = v;
    }
    const body = { transport: ctx?.transport ?? 'websocket', ip: ctx?.ip ?? req.socket.remoteAddress ?? '', headers, cookies, data };
    try {
      const answer = await this.backend.call('connect', this.opts.url, body, ctx?.trace);
      if (!answer.ok) return refused(answer.error);
      return { ok: true, identity: identityOf(answer.result) };
    } catch (err) {
      if (err instanceof ReplyError) return refused(err);
      throw err;
    }
  }
}

function invalid(why: string): ReplyError {
  return new ReplyError(ErrorCode.BackendInvalid, `the connect proxy's result ${why}`);
}

/**
 * The identity a connect answer's `result` gives: `user`, optional `info`, `channels`, `expires` (Unix seconds), and
 * `data` for the client (its size bounded by proxy.maxResponseSize, as the whole answer).
 */
function identityOf(r: Readonly<Record<string, unknown>>): Identity {
  const { user, info, channels, expires, data } = r;
  if (typeof user !== 'string' || !USER_PATTERN.test(user)) throw invalid('needs "user": 1-128 characters of letters, digits and _-.:@');
  if (info !== undefined && Buffer.byteLength(JSON.stringify(info)) > MAX_INFO_BYTES) throw invalid(`has an "info" over ${MAX_INFO_BYTES} bytes`);
  if (channels !== undefined && (!Array.isArray(channels) || channels.length > MAX_CHANNELS || !channels.every((c) => isValidChannel(c)))) {
    throw invalid(`has "channels" that is not a list of at most ${MAX_CHANNELS} channel names`);
  }
  if (expires !== undefined && (typeof expires !== 'number' || !Number.isFinite(expires) || expires <= 0)) throw invalid('has "expires" that is not Unix seconds');
  if (typeof expires === 'number' && expires * 1000 <= Date.now()) throw new ReplyError(ErrorCode.TokenExpired, 'the session the backend described has expired');
  return {
    userId: user,
    ...(info !== undefined ? { info } : {}),
    ...(channels !== undefined ? { channels: channels as string[] } : {}),
    ...(expires !== undefined ? { expiresAt: expires * 1000 } : {}),
    ...(data !== undefined ? { data } : {}),
  };
}
