import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Disconnects } from '../protocol/index.js';
import type { ErrorType } from '../observability/error-type.js';
import type { AuthResult } from '../auth/identity.js';
import type { Admission, Reservation } from './admission.js';
import type { ConnectionInfo } from '../session/session.js';
import type { WsSession } from '../session/ws-session.js';
import { nativeEndpoint, type WsEndpoint } from './ws-endpoint.js';
import { refuseUpgrade } from '../http/responses.js';
import type { TransportHost } from './host.js';
import type { HandshakeTrace } from './telemetry.js';
import { WsConnectionSink } from './ws-socket-writer.js';

/** Per-connection liveness state, checked by one timer for all connections (no timer per connection). */
interface Liveness {
  session: WsSession;
  ws: WebSocket;
  socket: Duplex;
  lastPingAt: number;
  lastPongAt: number;
  /** Since when the socket has had unsent bytes (0: none pending). */
  stalledSince: number;
}

/** `scheme://host[:port]` with the scheme and host lower-cased and a default port left out; undefined when unreadable. */
function normalOrigin(text: string): string | undefined {
  try {
    const u = new URL(text);
    return u.host === '' ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

function ignoreSocketError(): void {}

/** How often liveness is checked (ms). Pings go out per connection when its own interval is due. */
const TICK_MS = 1000;

/**
 * The WebSocket endpoint: upgrade, then hand frames to a WsSession. Outbound bytes go straight to the TCP socket
 * as pre-built frames (`ws` only sends control frames: ping, pong, close), so one publication's frame is built once.
 */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;
  private readonly live = new Set<Liveness>();
  private readonly timer: NodeJS.Timeout;
  /** The native endpoint (`websocket.path`); others (Pusher's) are passed to handleUpgrade by their route. */
  private readonly native: WsEndpoint;

  constructor(
    private readonly node: TransportHost,
    private readonly version: string,
    private readonly admission: Admission,
  ) {
    const cfg = node.config.websocket;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: cfg.perMessageDeflate,
      // Frames up to twice the message limit are read and answered with `message_too_large`; beyond that the
      // peer is abusing the protocol and `ws` closes with 1009.
      maxPayload: cfg.maxMessageSize * 2,
    });
    this.native = nativeEndpoint((req, url, ctx) => node.authenticator.authenticate(req, url, ctx));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** An upgrade request to `endpoint` (default the native one): every endpoint passes the same checks and limits. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, endpoint: WsEndpoint = this.native): void {
    // Between the upgrade event and `ws` taking the socket over (authentication is async), or while a refusal is
    // written, the raw socket has no 'error' listener: a peer's reset there would be an uncaught error that ends the
    // process. A socket error only ends that socket (its 'close' releases the admission slot).
    socket.on('error', ignoreSocketError);
    const ip = this.node.clientAddress.of(req);
    const route = url.pathname;
    const span = this.node.transportTelemetry.upgrade(req, ip, route);
    const refuse = (status: number, code: string, message: string, type: ErrorType) => {
      span?.refused(status, type, code);
      refuseUpgrade(socket, status, code, message);
    };
    if (!this.node.isReady()) return refuse(503, 'unavailable', 'server is not ready (starting or draining)', 'connection');
    if (!this.originAllowed(req)) {
      this.node.logger.warn({ event: 'origin_refused', transport: 'websocket', client_ip: ip, route, origin: String(req.headers.origin).slice(0, 200) }, 'connection refused');
      return refuse(403, 'forbidden_origin', 'this Origin may not open WebSockets here (websocket.allowedOrigins)', 'auth');
    }
    const slot = this.admission.reserve(ip, 'websocket');
    if (typeof slot === 'string') {
      this.node.limitHit(slot, undefined, { client_ip: ip, transport: 'websocket' });
      return refuse(slot === 'connections' ? 503 : 429, 'limit_exceeded', this.admission.message(slot), 'business');
    }
    const refuseAndRelease = (status: number, code: string, message: string, type: ErrorType) => {
      slot.release();
      refuse(status, code, message, type);
    };
    socket.once('close', slot.release);
    endpoint.authenticate(req, url, { transport: 'websocket', ip, ...(span ? { trace: span.context } : {}) }).then(
      (auth) => this.afterAuth(req, socket, head, auth, { ip, route, span, refuse: refuseAndRelease, slot, endpoint }),
      (err: unknown) => {
        this.node.logger.error({ err }, 'authentication failed unexpectedly');
        refuseAndRelease(500, 'internal', 'internal error', 'connection');
      },
    );
  }

  private afterAuth(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    auth: AuthResult,
    c: { ip: string; route: string; span: HandshakeTrace | undefined; refuse: (status: number, code: string, message: string, type: ErrorType) => void; slot: Reservation; endpoint: WsEndpoint },
  ): void {
    const { ip, route, span, refuse, slot, endpoint } = c;
    if (socket.destroyed) {
      slot.release();
      span?.end();
      return;
    }
    if (!auth.ok) {
      this.node.logger.warn({ event: 'auth_failed', transport: 'websocket', client_ip: ip, route, code: auth.code, reason: auth.message }, 'connection refused');
      return refuse(auth.status, auth.code, auth.message, 'auth');
    }
    const byUser = slot.claimUser(auth.identity.userId);
    if (byUser) {
      this.node.limitHit(byUser, undefined, { client_ip: ip, user_id: auth.identity.userId, transport: 'websocket' });
      return refuse(429, 'limit_exceeded', this.admission.message(byUser), 'business');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = this.accept(ws, socket, auth.identity, { ip, route, traceContext: span?.context }, endpoint);
      void session.autoSubscribe();
      if (span) {
        span.accepted({ 'http.response.status_code': 101, 'client.id': session.id, 'user.id': session.userId });
        span.end();
      }
    });
  }

  /**
   * Cross-site WebSocket hijacking protection: a browser page may open a WebSocket only from the server's own
   * origin or one in `websocket.allowedOrigins`. Requests without Origin (non-browser clients) pass; development
   * mode allows any origin. The Centrifuge endpoint uses the same rule.
   */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined || this.node.authenticator.insecure) return true;
    const allowed = this.node.config.websocket.allowedOrigins;
    if (allowed.includes('*')) return true;
    const o = normalOrigin(origin);
    if (o === undefined) return false;
    // Scheme, host and port must all match: `https://host` is not the origin of a plain-HTTP server on `host`.
    return allowed.some((a) => normalOrigin(a) === o) || o === normalOrigin(`${this.schemeOf(req)}://${req.headers.host ?? ''}`);
  }

  /** `https` on a TLS socket, or as a trusted proxy says (`X-Forwarded-Proto`, `proxy.trusted`); else `http`. */
  private schemeOf(req: IncomingMessage): 'http' | 'https' {
    if ((req.socket as Socket & { encrypted?: boolean }).encrypted) return 'https';
    if (this.node.clientAddress.viaTrustedProxy(req)) {
      const proto = String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim().toLowerCase();
      if (proto === 'https' || proto === 'wss') return 'https';
    }
    return 'http';
  }

  private accept(ws: WebSocket, socket: Duplex, identity: { userId: string; info?: unknown }, conn: ConnectionInfo, endpoint: WsEndpoint): WsSession {
    const sink = new WsConnectionSink(socket, ws);
    const session = endpoint.open(this.node.services, identity, sink, this.version, conn);
    const now = Date.now();
    const l: Liveness = { session, ws, socket, lastPingAt: now, lastPongAt: now, stalledSince: 0 };
    this.live.add(l);
    this.node.attach(session);
    const counters = this.node.counters;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      l.lastPongAt = Date.now();
      counters.messagesReceived++;
      counters.bytesReceived += data.length;
      session.handleFrame(data, isBinary);
    });
    ws.on('pong', () => {
      l.lastPongAt = Date.now();
    });
    ws.on('error', (err) => {
      session.log.debug({ err }, 'websocket error');
      // A frame that could not be read (invalid UTF-8, bad opcode, oversized): ws closes the connection after it.
      this.node.transportTelemetry.readError(session.traceContext, session.id, (err as NodeJS.ErrnoException).code ?? 'read_error');
    });
    ws.on('close', (code, reason) => {
      this.live.delete(l);
      session.cleanup(code, reason.toString());
    });
    session.logInfo({ event: 'connect' }, 'connected');
    return session;
  }

  /** Sends due pings, closes connections whose pong is overdue or whose writes stalled past the write timeout. */
  private tick(): void {
    const cfg = this.node.config.websocket;
    const now = Date.now();
    for (const l of this.live) {
      if (l.session.closed) continue;
      if (l.socket.writableLength > 0) {
        if (l.stalledSince === 0) l.stalledSince = now;
        else if (now - l.stalledSince > cfg.writeTimeout) {
          l.session.disconnect(Disconnects.WriteError);
          l.ws.terminate();
          continue;
        }
      } else {
        l.stalledSince = 0;
      }
      if (cfg.pingInterval <= 0) continue;
      if (l.lastPingAt > l.lastPongAt && now - l.lastPingAt > cfg.pongTimeout) {
        l.session.disconnect(Disconnects.Stale);
        l.ws.terminate();
        continue;
      }
      if (now - l.lastPingAt >= cfg.pingInterval && l.lastPongAt >= l.lastPingAt) {
        l.lastPingAt = now;
        l.ws.ping();
      }
    }
  }

  connections(): number {
    return this.live.size;
  }

  close(): void {
    clearInterval(this.timer);
    for (const l of this.live) l.ws.terminate();
    this.wss.close();
  }
}
