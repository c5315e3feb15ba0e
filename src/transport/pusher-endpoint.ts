import type { IncomingMessage } from 'node:http';
import { randomInt } from 'node:crypto';
import type { AuthResult } from '../auth/identity.js';
import type { PusherApp } from '../auth/pusher-signature.js';
import { PusherSession } from '../session/pusher-session.js';
import type { WsEndpoint } from './ws-endpoint.js';

/** Path prefix of Pusher WebSocket connections: `/app/{key}` (pusher-js, Laravel Echo, the mobile SDKs). */
export const PUSHER_WS_PREFIX = '/app/';

/** Protocol versions whose frames we speak: 7 (pusher-js 7 and 8) and 5-6, whose frames are the same for us. */
const VERSIONS = new Set(['5', '6', '7']);

/**
 * The Pusher Channels endpoint for one app. A connection is accepted for the app's key with no credential (Pusher's
 * model: the key is public; private and presence channels need the app's signature per channel); its user is
 * `pusher-{socket_id}`, so per-user limits count each connection alone. `socket_id` is `{node}.{n}`, digits as
 * Pusher's libraries check, unique across nodes with a random 9-digit node part.
 */
export class PusherEndpoint implements WsEndpoint {
  readonly name = 'pusher';
  private readonly nodePart = randomInt(100_000_000, 1_000_000_000);
  private counter = 0;

  constructor(private readonly app: PusherApp) {}

  async authenticate(_req: IncomingMessage, url: URL): Promise<AuthResult> {
    const key = decodeURIComponent(url.pathname.slice(PUSHER_WS_PREFIX.length));
    if (key !== this.app.key) return { ok: false, status: 404, code: 'not_found', message: 'no Pusher app with this key here (pusher.key)' };
    const protocol = url.searchParams.get('protocol') ?? '7';
    if (!VERSIONS.has(protocol)) return { ok: false, status: 400, code: 'bad_request', message: `Pusher protocol ${protocol} is not supported (5 to 7 are)` };
    return { ok: true, identity: { userId: `pusher-${this.nodePart}.${++this.counter}` } };
  }

  open(...[services, identity, sink, version, conn]: Parameters<WsEndpoint['open']>): PusherSession {
    // The socket id is the one the identity was made with (authenticate), so a user and its socket agree.
    return new PusherSession(services, identity, sink, version, { ...conn, id: identity.userId.slice('pusher-'.length) });
  }
}
