import type { IncomingMessage } from 'node:http';
import type { AuthContext, AuthResult, Identity } from '../auth/identity.js';
import type { NodeServices } from '../session/services.js';
import type { ConnectionInfo } from '../session/session.js';
import { WsSession, type WsTransport } from '../session/ws-session.js';

/**
 * One WebSocket endpoint's own part: who connects and which session speaks its protocol. Everything else (readiness,
 * origin check, admission limits, handshake span, liveness, the outbound socket) is the WebSocket transport's, the
 * same for every endpoint: the native one (`websocket.path`) and protocol adapters with their own path and handshake
 * (Pusher's `/app/{key}`; Centrifuge's `/connection/websocket` can be one more).
 */
export interface WsEndpoint {
  /** Label in logs (`endpoint`). */
  readonly name: string;
  /** Establishes the identity of an upgrade request (or refuses it with an HTTP status). */
  authenticate(req: IncomingMessage, url: URL, ctx?: AuthContext): Promise<AuthResult>;
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
