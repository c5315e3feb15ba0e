import type { IncomingMessage } from 'node:http';
import { randomInt } from 'node:crypto';
import type { PusherAppConfig } from '../auth/pusher-apps.js';
import { PusherSession, pusherIdentity } from '../session/pusher-session.js';
import type { EndpointAuthResult, WsEndpoint } from './ws-endpoint.js';

/** Path prefix of Pusher WebSocket connections: `/app/{key}` (pusher-js, Laravel Echo, the mobile SDKs). */
export const PUSHER_WS_PREFIX = '/app/';

/** Protocol versions whose frames we speak: 7 (pusher-js 7 and 8) and 5-6, whose frames are the same for us. */
const VERSIONS = new Set(['5', '6', '7']);

/**
 * Pusher's handshake refusals (protocol 7): sent as `pusher:error` inside the WebSocket, then the close code, which
 * pusher-js reads (4000-4099: do not reconnect).
 */
export const PusherHandshakeCodes = {
  /** No app has this key. */
  AppDoesNotExist: 4001,
  /** A `protocol` version we do not speak. */
  UnsupportedProtocol: 4007,
} as const;

function inBand(status: number, code: 'not_found' | 'bad_request', closeCode: number, message: string): EndpointAuthResult {
  const frame = JSON.stringify({ event: 'pusher:error', data: { code: closeCode, message } });
  return { ok: false, status, code, message, inBand: { frame, closeCode } };
}

/**
 * The Pusher Channels endpoint of every app (`pusher.appId`, `pusher.apps`), found by the key in the path. A
 * connection is accepted with no credential (Pusher's model: the key is public; private and presence channels need
 * the app's signature per channel); its user is `pusher-{socket_id}`, so per-user limits count each connection
 * alone. `socket_id` is `{node}.{n}`, digits as Pusher's libraries check, unique across nodes with a random 9-digit
 * node part. An unknown key is refused as Pusher does: `pusher:error` 4001 in the WebSocket, then close 4001.
 */
export class PusherEndpoint implements WsEndpoint {
  readonly name = 'pusher';
  private readonly nodePart = randomInt(100_000_000, 1_000_000_000);
  private counter = 0;
  private readonly byKey: ReadonlyMap<string, PusherAppConfig>;

  constructor(apps: readonly PusherAppConfig[]) {
    this.byKey = new Map(apps.map((a) => [a.key, a]));
  }

  async authenticate(_req: IncomingMessage, url: URL): Promise<EndpointAuthResult> {
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice(PUSHER_WS_PREFIX.length));
    } catch {
      key = '';
    }
    const app = this.byKey.get(key);
    // The key is not echoed: it is up to 128 characters of whatever the client sent.
    if (app === undefined) return inBand(404, 'not_found', PusherHandshakeCodes.AppDoesNotExist, 'Application does not exist: no Pusher app with this key here (pusher.key, pusher.apps)');
    const protocol = url.searchParams.get('protocol') ?? '7';
    if (!VERSIONS.has(protocol)) return inBand(400, 'bad_request', PusherHandshakeCodes.UnsupportedProtocol, `Unsupported protocol version: ${protocol.slice(0, 16)} (5 to 7 are supported)`);
    return { ok: true, identity: pusherIdentity(`pusher-${this.nodePart}.${++this.counter}`, app) };
  }

  open(...[services, identity, sink, version, conn]: Parameters<WsEndpoint['open']>): PusherSession {
    // The socket id is the one the identity was made with (authenticate), so a user and its socket agree.
    return new PusherSession(services, identity, sink, version, { ...conn, id: identity.userId.slice('pusher-'.length) });
  }
}
