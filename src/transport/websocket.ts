import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Disconnects, ErrorCode } from '../protocol/index.js';
import type { ErrorType } from '../observability/error-type.js';
import type { AuthContext, Identity } from '../auth/identity.js';
import type { Admission, Reservation } from './admission.js';
import type { ConnectionInfo } from '../session/session.js';
import type { WsSession } from '../session/ws-session.js';
import { nativeEndpoint, type AuthRefusal, type EndpointAuthResult, type FirstFrame, type FirstFrameHandshake, type InBandRefusal, type WsEndpoint } from './ws-endpoint.js';
import { refuseUpgrade } from '../http/responses.js';
import type { TransportHost } from './host.js';
import type { HandshakeTrace } from './telemetry.js';
import { WsConnectionSink } from './ws-socket-writer.js';

/**
 * Per-connection liveness state, checked by one timer for all connections (no timer per connection). A class with
 * `ping` on the prototype: a closure per connection for it cost ~0.1 KiB with its context.
 */
class Liveness {
  lastPingAt: number;
  lastPongAt: number;
  /** Since when the socket has had unsent bytes (0: none pending). */
  stalledSince = 0;

  constructor(
    readonly session: WsSession,
    readonly ws: WebSocket,
    readonly socket: Duplex,
    private readonly endpoint: WsEndpoint,
    now: number,
  ) {
    this.lastPingAt = now;
    this.lastPongAt = now;
  }

  /** Sends a liveness ping: the endpoint's own (WsEndpoint.ping), or a WebSocket ping frame. */
  ping(): void {
    if (this.endpoint.ping) this.endpoint.ping(this.session);
    else this.ws.ping();
  }
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
/** How long an endpoint with an in-band handshake waits for the client's first frame (ms). */
const FIRST_FRAME_TIMEOUT_MS = 10_000;
/** Frames a client may send after its handshake frame before it is answered (they wait for the session). */
const MAX_EARLY_FRAMES = 64;
const INTERNAL: AuthRefusal = { ok: false, status: 500, code: ErrorCode.Internal, message: 'internal error' };

/** One upgrade's state between the request and the session. */
interface Handshake {
  readonly ip: string;
  readonly route: string;
  readonly span: HandshakeTrace | undefined;
  readonly slot: Reservation;
  readonly endpoint: WsEndpoint;
}

/**
 * The WebSocket transport of every WebSocket endpoint (ws-endpoint.ts): upgrade, then hand frames to a WsSession. Outbound bytes go straight to the TCP socket
 * as pre-built frames (`ws` only sends control frames: ping, pong, close), so one publication's frame is built once.
 */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;
  private readonly live = new Set<Liveness>();
  /** Sockets of in-band handshakes not yet answered (bounded by the admission limits): ended on close(). */
  private readonly pending = new Set<WebSocket>();
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
      this.node.logger.warn({ event: 'origin_refused', transport: 'websocket', endpoint: endpoint.name, client_ip: ip, route, origin: String(req.headers.origin).slice(0, 200) }, 'connection refused');
      return refuse(403, 'forbidden_origin', 'this Origin may not open WebSockets here (websocket.allowedOrigins)', 'auth');
    }
    const slot = this.admission.reserve(ip, 'websocket');
    if (typeof slot === 'string') {
      this.node.limitHit(slot, undefined, { client_ip: ip, transport: 'websocket', endpoint: endpoint.name });
      return refuse(slot === 'connections' ? 503 : 429, 'limit_exceeded', this.admission.message(slot), 'business');
    }
    socket.on('close', slot.release); // 'close' comes once; `on` spares the wrapper `once` makes per connection
    const c: Handshake = { ip, route, span, slot, endpoint };
    const inBand = endpoint.firstFrame;
    // The client authenticates in its first frame (Centrifuge's `connect`): upgrade first, counted from now on.
    if (inBand) return this.wss.handleUpgrade(req, socket, head, (ws) => this.awaitFirstFrame(req, url, ws, socket, inBand, c));
    const refuseAndRelease = (r: AuthRefusal, type: ErrorType) => {
      // A protocol whose clients read refusals only inside a WebSocket (Pusher's 4001): the slot goes with the socket.
      if (r.inBand) return this.refuseInBand(req, socket, head, r.inBand, () => span?.refused(r.status, type, r.code));
      slot.release();
      refuse(r.status, r.code, r.message, type);
    };
    endpoint.authenticate(req, url, this.authContext(c)).then(
      (auth) => {
        if (socket.destroyed) {
          slot.release();
          span?.end();
          return;
        }
        const identity = this.admit(auth, c, refuseAndRelease);
        if (!identity) return;
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          const session = this.accept(ws, socket, identity, c);
          void session.autoSubscribe();
          this.accepted(session, span);
        });
      },
      (err: unknown) => {
        this.node.logger.error({ err }, 'authentication failed unexpectedly');
        refuseAndRelease(INTERNAL, 'connection');
      },
    );
  }

  /**
   * An endpoint whose client authenticates in its first frame: that frame within FIRST_FRAME_TIMEOUT_MS, read by
   * the endpoint, authenticated and admitted like an upgrade request, refused in the endpoint's own frames.
   * Frames the client sends meanwhile wait (reading pauses; the few already read are kept) for the session.
   */
  private awaitFirstFrame(req: IncomingMessage, url: URL, ws: WebSocket, socket: Duplex, inBand: FirstFrameHandshake<WsSession>, c: Handshake): void {
    const { span } = c;
    const bad = inBand.badHandshake;
    ws.on('error', ignoreSocketError);
    this.pending.add(ws);
    const timeout = setTimeout(() => ws.close(bad.code, bad.reason), FIRST_FRAME_TIMEOUT_MS);
    ws.once('close', () => {
      clearTimeout(timeout);
      this.pending.delete(ws);
    });
    let seen = false;
    const early: [Buffer, boolean][] = [];
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (seen) {
        // `ws` may still emit frames it had read before the pause: at most one TCP read's worth.
        if (early.push([data, isBinary]) > MAX_EARLY_FRAMES) ws.close(bad.code, bad.reason);
        return;
      }
      seen = true;
      clearTimeout(timeout);
      ws.pause();
      const first: FirstFrame<WsSession> | undefined = isBinary ? undefined : inBand.read(data, url);
      if (first === undefined) {
        span?.refused(400, 'protocol', 'bad_request');
        ws.resume(); // to read the client's close frame
        return void ws.close(bad.code, bad.reason);
      }
      const hs = first;
      const refuse = (r: AuthRefusal, type: ErrorType) => {
        span?.refused(r.status, type, r.code);
        const answer = hs.refusal(r);
        ws.resume(); // to read the client's close frame (`ws` otherwise waits 30 s for it)
        if (answer.frame !== undefined) ws.send(answer.frame);
        ws.close(answer.code, answer.reason);
      };
      c.endpoint.authenticate(req, hs.url, this.authContext(c)).then(
        (auth) => {
          if (ws.readyState !== ws.OPEN) return span?.end();
          const identity = this.admit(auth, c, refuse);
          if (!identity) return;
          this.pending.delete(ws);
          ws.off('message', onMessage);
          const session = this.accept(ws, socket, identity, c);
          this.accepted(session, span);
          hs.start(session).then(
            () => {
              for (const [frame, isBinary] of early) session.handleFrame(frame, isBinary);
              ws.resume();
            },
            (err: unknown) => {
              session.log.error({ err }, 'handshake failed unexpectedly');
              session.disconnect(Disconnects.InsufficientState); // the client reconnects
            },
          );
        },
        (err: unknown) => {
          this.node.logger.error({ err }, 'authentication failed unexpectedly');
          refuse(INTERNAL, 'connection');
        },
      );
    };
    ws.on('message', onMessage);
  }

  private authContext(c: Handshake): AuthContext {
    return { transport: 'websocket', ip: c.ip, ...(c.span ? { trace: c.span.context } : {}) };
  }

  /** The identity of an authenticated connection within the per-user limit; else refused (and undefined). */
  private admit(auth: EndpointAuthResult, c: Handshake, refuse: (r: AuthRefusal, type: ErrorType) => void): Identity | undefined {
    const { ip, route, slot, endpoint } = c;
    if (!auth.ok) {
      this.node.logger.warn({ event: 'auth_failed', transport: 'websocket', endpoint: endpoint.name, client_ip: ip, route, code: auth.code, reason: auth.message }, 'connection refused');
      refuse(auth, 'auth');
      return undefined;
    }
    const byUser = slot.claimUser(auth.identity.userId);
    if (byUser) {
      this.node.limitHit(byUser, undefined, { client_ip: ip, user_id: auth.identity.userId, transport: 'websocket', endpoint: endpoint.name });
      refuse({ ok: false, status: 429, code: ErrorCode.LimitExceeded, message: this.admission.message(byUser) }, 'business');
      return undefined;
    }
    return auth.identity;
  }

  /**
   * A refusal inside the WebSocket (InBandRefusal): the error frame, then the close. The admission slot is released
   * when the socket closes (handleUpgrade's 'close' listener); a peer that never answers the close is cut off by ws
   * after its close timeout (30 s).
   */
  private refuseInBand(req: IncomingMessage, socket: Duplex, head: Buffer, r: InBandRefusal, traced: () => void): void {
    traced();
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', ignoreSocketError);
      ws.send(r.frame);
      ws.close(r.closeCode, '');
    });
  }

  private accepted(session: WsSession, span: HandshakeTrace | undefined): void {
    if (!span) return;
    span.accepted({ 'http.response.status_code': 101, 'client.id': session.id, 'user.id': session.userId });
    span.end();
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

  private accept(ws: WebSocket, socket: Duplex, identity: Identity, c: Handshake): WsSession {
    const { endpoint } = c;
    const sink = new WsConnectionSink(socket, ws);
    const conn: ConnectionInfo = { ip: c.ip, route: c.route, ...(c.span ? { traceContext: c.span.context } : {}) };
    const session = endpoint.open(this.node.services, identity, sink, this.version, conn);
    const l = new Liveness(session, ws, socket, endpoint, Date.now());
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
    session.logInfo({ event: 'connect', endpoint: endpoint.name }, 'connected');
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
        l.ping();
      }
    }
  }

  connections(): number {
    return this.live.size;
  }

  close(): void {
    clearInterval(this.timer);
    for (const l of this.live) l.ws.terminate();
    for (const ws of this.pending) ws.terminate();
    this.wss.close();
  }
}
