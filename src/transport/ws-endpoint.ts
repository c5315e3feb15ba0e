import type { IncomingMessage } from 'node:http';
import type { AuthContext, AuthResult, Identity } from '../auth/identity.js';
import type { NodeServices } from '../session/services.js';
import type { ConnectionInfo } from '../session/session.js';
import { WsSession, type WsTransport } from '../session/ws-session.js';

/**
 * A refusal that a protocol's clients read only inside a WebSocket (Pusher's 4001 "app does not exist"): the
 * upgrade completes, `frame` is sent as a text frame, and the socket is closed with `closeCode`. No session is
 * made; the admission slot is held until the socket closes. `status` and `code` are for logs and the span.
 */
export interface InBandRefusal {
  readonly frame: string;
  readonly closeCode: number;
}

/** What an endpoint's authenticate answers: an AuthResult, whose refusal may be sent in band. */
export type EndpointAuthResult = AuthResult | (Extract<AuthResult, { ok: false }> & { readonly inBand?: InBandRefusal });

/**
 * One WebSocket endpoint's own part: who connects and which session speaks its protocol. Everything else (readiness,
 * origin check, admission limits, handshake span, liveness, the outbound socket) is the WebSocket transport's, the
 * same for every endpoint: the native one (`websocket.path`) and protocol adapters with their own path and handshake
 * (Pusher's `/app/{key}`; Centrifuge's `/connection/websocket` can be one more).
 */
export interface WsEndpoint {
  /** Label in logs (`endpoint`). */
  readonly name: string;
  /** Establishes the identity of an upgrade request (or refuses it with an HTTP status, or in band). */
  authenticate(req: IncomingMessage, url: URL, ctx?: AuthContext): Promise<EndpointAuthResult>;
  /** The session of an accepted connection; `conn.id` may be chosen here (Pusher's `socket_id`). */
  open(services: NodeServices, identity: Identity, sink: WsTransport, version: string, conn: ConnectionInfo): WsSession;
}

/** The native endpoint: the node's authenticator, the native session with the seed dialects. */
export function nativeEndpoint(authenticate: (req: IncomingMessage, url: URL, ctx?: AuthContext) => Promise<AuthResult>): WsEndpoint {
  return {
    name: 'native',
    authenticate,
    open: (services, identity, sink, version, conn) => new WsSession(services, identity, sink, version, conn),
  };
}
