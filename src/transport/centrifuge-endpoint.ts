import type { IncomingMessage } from 'node:http';
import type { AuthContext, AuthResult } from '../auth/identity.js';
import { CentrifugeSession, type CentrifugeConnect } from '../session/centrifuge-session.js';
import { centrifugeCode } from '../session/dialects/centrifuge.js';
import type { FirstFrame, WsEndpoint } from './ws-endpoint.js';

/** Where Centrifuge clients connect (`centrifuge-js`' default endpoint path). */
export const CENTRIFUGE_PATH = '/connection/websocket';

/** Centrifuge's close for a connection that did not start with a `connect` command: 3501 bad request, no reconnect. */
const BAD_REQUEST = { code: 3501, reason: 'bad request' } as const;

/**
 * The Centrifuge client protocol endpoint (docs/compat.md "Migrating from Centrifugo"). The client authenticates
 * after the upgrade, with its first command `{"id", "connect": {"token", "data", "subs"}}`: the token goes to the
 * node's authenticator as the native `?token=` would (anonymous when there is none and `client.allowAnonymous`),
 * `data` to the connect proxy as the native `?data=` would. The WebSocket transport does everything else as for the
 * native endpoint (admission limits from the upgrade on, spans, metrics, write timeout); liveness is Centrifuge's:
 * the server sends `{}` every `websocket.pingInterval`, the client answers `{}`.
 */
export class CentrifugeEndpoint implements WsEndpoint<CentrifugeSession> {
  readonly name = 'centrifuge';

  constructor(private readonly authenticator: (req: IncomingMessage, url: URL, ctx?: AuthContext) => Promise<AuthResult>) {}

  authenticate(req: IncomingMessage, url: URL, ctx?: AuthContext): Promise<AuthResult> {
    return this.authenticator(req, url, ctx);
  }

  open(...[services, identity, sink, version, conn]: Parameters<WsEndpoint['open']>): CentrifugeSession {
    return new CentrifugeSession(services, identity, sink, version, conn);
  }

  ping(session: CentrifugeSession): void {
    session.ping();
  }

  readonly firstFrame = {
    badHandshake: BAD_REQUEST,
    read: (frame: Buffer, url: URL): FirstFrame<CentrifugeSession> | undefined => {
      const connect = parseConnect(frame);
      return connect && handshake(connect, url);
    },
  };
}

/** The `connect` command of a first frame (later newline-separated commands kept for the session); else undefined. */
function parseConnect(frame: Buffer): CentrifugeConnect | undefined {
  const lines = frame.toString('utf8').split('\n').filter((l) => l.trim() !== '');
  try {
    const cmd = JSON.parse(lines[0] ?? '') as { id?: unknown; connect?: unknown };
    const c = cmd.connect as Record<string, unknown> | null | undefined;
    if (typeof cmd.id !== 'number' || typeof c !== 'object' || c === null || Array.isArray(c)) return undefined;
    const subs = typeof c.subs === 'object' && c.subs !== null && !Array.isArray(c.subs) ? (c.subs as CentrifugeConnect['subs']) : {};
    return { id: cmd.id, token: typeof c.token === 'string' ? c.token : '', data: c.data, subs, rest: lines.slice(1) };
  } catch {
    return undefined;
  }
}

function handshake(connect: CentrifugeConnect, url: URL): FirstFrame<CentrifugeSession> {
  // The credential as the native endpoint reads it: `?token=` for JWT authentication, `?data=` for the connect proxy.
  const authUrl = new URL(url.href);
  authUrl.searchParams.delete('token');
  authUrl.searchParams.delete('data');
  if (connect.token !== '') authUrl.searchParams.set('token', connect.token);
  if (connect.data !== undefined) authUrl.searchParams.set('data', JSON.stringify(connect.data));
  return {
    url: authUrl,
    refusal: (auth) => {
      // 109 makes the client fetch a new token and reconnect; `temporary` makes it retry; anything else stops it.
      const temporary = auth.status >= 500 || auth.status === 429;
      const code = centrifugeCode(auth.code, temporary ? 100 : 101); // token_expired: 109
      const error = { code, message: `${auth.code}: ${auth.message}`, ...(temporary ? { temporary: true } : {}) };
      const frame = JSON.stringify({ id: connect.id, error });
      if (temporary || code === 109) return { frame, code: 3000, reason: 'connection closed' };
      return code === 107 ? { frame, ...BAD_REQUEST } : { frame, code: 3500, reason: 'invalid token' };
    },
    start: (session) => session.handshake(connect),
  };
}
