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
export type EndpointAuthResult = AuthResult | AuthRefusal;

/** A refused connection, as an authenticator (or an admission limit) says; an endpoint may refuse it in band. */
export type AuthRefusal = Extract<AuthResult, { ok: false }> & { readonly inBand?: InBandRefusal };

/**
 * One WebSocket endpoint's own part: who connects and which session speaks its protocol. Everything else (readiness,
 * origin check, admission limits, handshake span, liveness, write timeout, the outbound socket, metrics) is the
 * WebSocket transport's, the same for every endpoint: the native one (`websocket.path`) and protocol adapters with
 * their own path and handshake (Pusher's `/app/{key}`, Centrifuge's `/connection/websocket`).
 */
export interface WsEndpoint<S extends WsSession = WsSession> {
  /** Label in logs (`endpoint`). */
  readonly name: string;
  /** Establishes the identity of an upgrade request (or refuses it with an HTTP status, or in band). */
  authenticate(req: IncomingMessage, url: URL, ctx?: AuthContext): Promise<EndpointAuthResult>;
  /** The session of an accepted connection; `conn.id` may be chosen here (Pusher's `socket_id`). */
  open(services: NodeServices, identity: Identity, sink: WsTransport, version: string, conn: ConnectionInfo): S;
  /**
   * Present when the client authenticates with its first frame after the upgrade (Centrifuge's `connect` command)
   * instead of with the upgrade request: the transport upgrades first, then hands this the first frame.
   */
  readonly firstFrame?: FirstFrameHandshake<S>;
  /**
   * A liveness ping in the protocol's own frames (Centrifuge's `{}`, answered by the client with `{}`). Absent:
   * WebSocket ping frames, answered by the client's WebSocket library.
   */
  ping?(session: S): void;
}

/** How an endpoint with an in-band handshake reads the client's first frame. */
export interface FirstFrameHandshake<S extends WsSession> {
  /** The close for a first frame that is no handshake, or for none within the handshake timeout. */
  readonly badHandshake: { readonly code: number; readonly reason: string };
  /** The handshake the first frame starts, or undefined when it is none. */
  read(frame: Buffer, url: URL): FirstFrame<S> | undefined;
}

/** One connection's in-band handshake. */
export interface FirstFrame<S extends WsSession> {
  /** The upgrade URL with the frame's credential (`token`, `data`), for the endpoint's `authenticate`. */
  readonly url: URL;
  /** What a refused client is told before the close: a frame (JSON text, optional), then the close code and reason. */
  refusal(auth: AuthRefusal): { readonly frame?: string; readonly code: number; readonly reason: string };
  /**
   * The accepted session's start: the handshake reply, then the commands that came in the first frame. The
   * connection's further frames are read once it resolves.
   */
  start(session: S): Promise<void>;
}

/** The native endpoint: the node's authenticator, the native session with the seed dialects. */
export function nativeEndpoint(authenticate: (req: IncomingMessage, url: URL, ctx?: AuthContext) => Promise<AuthResult>): WsEndpoint {
  return {
    name: 'native',
    authenticate,
    open: (services, identity, sink, version, conn) => new WsSession(services, identity, sink, version, conn),
  };
}
