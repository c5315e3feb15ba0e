import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Disconnects } from '../protocol/index.js';
import type { AuthResult } from '../auth/identity.js';
import { CentrifugeSession } from '../session/centrifuge-session.js';
import type { Admission, Reservation } from './admission.js';
import type { TransportHost } from './host.js';
import type { HandshakeTrace } from './telemetry.js';
import { WsConnectionSink } from './ws-socket-writer.js';

/** Where Centrifuge clients connect (`centrifuge-js`' default endpoint path). */
export const CENTRIFUGE_PATH = '/connection/websocket';

/** How long an opened socket may take to send its `connect` command (ms), like the upgrade of the native endpoint. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How often liveness is checked (ms); pings go out per connection when its own interval is due. */
const TICK_MS = 1000;

/** Per-connection liveness, checked by one timer for all connections (no timer per connection). */
interface Liveness {
  session: CentrifugeSession;
  ws: WebSocket;
  lastPingAt: number;
  /** When the client last sent anything (its `{}` pong included). */
  lastSeenAt: number;
}

function ignoreSocketError(): void {}

/**
 * The Centrifuge client protocol endpoint (docs/compat.md "From Centrifugo"). Unlike the native endpoint, the
 * client authenticates after the upgrade, with its first command `{"id", "connect": {"token"}}`: the token goes to
 * the same authenticator as the native `?token=` (anonymous when there is none and `client.allowAnonymous`), and
 * the connection counts against the same admission limits from the upgrade on. Then a CentrifugeSession runs every
 * command through the native dispatch. Liveness is Centrifuge's: the server sends `{}` every
 * `websocket.pingInterval`, the client answers `{}`; silence past `websocket.pongTimeout` after a ping is stale.
 */
export class CentrifugeTransport {
  private readonly wss: WebSocketServer;
  private readonly live = new Set<Liveness>();
  /** Sockets opened but not yet past `connect` (at most the admission limits' worth): ended on close(). */
  private readonly pending = new Set<WebSocket>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly node: TransportHost,
    private readonly version: string,
    private readonly admission: Admission,
    /** The native endpoint's Origin rule (websocket.allowedOrigins), shared so both endpoints agree. */
    private readonly originAllowed: (req: IncomingMessage) => boolean,
  ) {
    const cfg = node.config.websocket;
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: cfg.perMessageDeflate, maxPayload: cfg.maxMessageSize * 2 });
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    socket.on('error', ignoreSocketError);
    const ip = this.node.clientAddress.of(req);
    const span = this.node.transportTelemetry.upgrade(req, ip, url.pathname);
    const refuse = (status: number, code: string, message: string) => {
      span?.refused(status, status === 403 ? 'auth' : 'connection', code);
      socket.end(`HTTP/1.1 ${status} ${code}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${message}\n`);
    };
    if (!this.node.isReady()) return refuse(503, 'unavailable', 'server is not ready (starting or draining)');
    if (!this.originAllowed(req)) return refuse(403, 'forbidden_origin', 'this Origin may not open WebSockets here (websocket.allowedOrigins)');
    const slot = this.admission.reserve(ip, 'websocket');
    if (typeof slot === 'string') {
      this.node.limitHit(slot, undefined, { client_ip: ip, transport: 'centrifuge' });
      return refuse(slot === 'connections' ? 503 : 429, 'limit_exceeded', this.admission.message(slot));
    }
    socket.once('close', slot.release);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.awaitConnect(req, url, ws, socket, { ip, span, slot }));
  }

  /** The first frame must be a `connect` command; its token is authenticated like the native endpoint's. */
  private awaitConnect(req: IncomingMessage, url: URL, ws: WebSocket, socket: Duplex, c: { ip: string; span: HandshakeTrace | undefined; slot: Reservation }): void {
    ws.on('error', ignoreSocketError);
    this.pending.add(ws);
    ws.once('close', () => {
      clearTimeout(timeout);
      this.pending.delete(ws);
    });
    const timeout = setTimeout(() => ws.close(3501, 'bad request'), CONNECT_TIMEOUT_MS);
    ws.once('message', (data: Buffer) => {
      clearTimeout(timeout);
      ws.pause(); // frames after `connect` wait for the session (or the refusal)
      const lines = data.toString('utf8').split('\n').filter((l) => l.trim() !== '');
      let id = 0;
      let token = '';
      try {
        const cmd = JSON.parse(lines[0] ?? '') as { id?: unknown; connect?: { token?: unknown } };
        if (typeof cmd.id !== 'number' || typeof cmd.connect !== 'object' || cmd.connect === null) throw new Error('not a connect');
        id = cmd.id;
        if (typeof cmd.connect.token === 'string') token = cmd.connect.token;
      } catch {
        c.span?.refused(400, 'protocol', 'bad_request');
        ws.resume(); // to read the client's close frame
        return ws.close(3501, 'bad request');
      }
      const authUrl = new URL(url.href);
      authUrl.searchParams.delete('token');
      if (token !== '') authUrl.searchParams.set('token', token);
      this.node.authenticator.authenticate(req, authUrl, { transport: 'websocket', ip: c.ip, ...(c.span ? { trace: c.span.context } : {}) }).then(
        (auth) => this.afterAuth(ws, socket, id, auth, lines.slice(1), c),
        (err: unknown) => {
          this.node.logger.error({ err }, 'authentication failed unexpectedly');
          this.refuseConnect(ws, id, 100, 'internal error', true, c.span);
        },
      );
    });
  }

  private afterAuth(ws: WebSocket, socket: Duplex, id: number, auth: AuthResult, rest: string[], c: { ip: string; span: HandshakeTrace | undefined; slot: Reservation }): void {
    if (ws.readyState !== ws.OPEN) return c.span?.end();
    if (!auth.ok) {
      this.node.logger.warn({ event: 'auth_failed', transport: 'centrifuge', client_ip: c.ip, code: auth.code, reason: auth.message }, 'connection refused');
      // 109 makes the client fetch a new token and reconnect; 101 stops it; `temporary` makes it retry.
      if (auth.code === 'token_expired') return this.refuseConnect(ws, id, 109, 'token expired', false, c.span);
      return this.refuseConnect(ws, id, auth.status >= 500 ? 108 : 101, auth.message, auth.status >= 500, c.span);
    }
    const byUser = c.slot.claimUser(auth.identity.userId);
    if (byUser) {
      this.node.limitHit(byUser, undefined, { client_ip: c.ip, user_id: auth.identity.userId, transport: 'centrifuge' });
      return this.refuseConnect(ws, id, 106, this.admission.message(byUser), true, c.span);
    }
    this.pending.delete(ws);
    const session = this.accept(ws, socket, auth.identity, { ip: c.ip, route: CENTRIFUGE_PATH, traceContext: c.span?.context });
    session.connected(id, this.version, this.node.config.websocket.pingInterval);
    for (const line of rest) session.handleFrame(Buffer.from(line, 'utf8'), false);
    ws.resume();
    if (c.span) {
      c.span.accepted({ 'http.response.status_code': 101, 'client.id': session.id, 'user.id': session.userId });
      c.span.end();
    }
  }

  /** A connect error reply, then the close: the client decides from the error code whether to try again. */
  private refuseConnect(ws: WebSocket, id: number, code: number, message: string, temporary: boolean, span: HandshakeTrace | undefined): void {
    span?.refused(code === 100 || code === 108 ? 503 : 401, code === 100 || code === 108 ? 'connection' : 'auth', String(code));
    ws.resume(); // to read the client's close frame (`ws` otherwise waits 30 s for it)
    ws.send(JSON.stringify({ id, error: { code, message, ...(temporary ? { temporary: true } : {}) } }));
    ws.close(temporary || code === 109 ? 3000 : 3500, temporary || code === 109 ? 'connection closed' : 'invalid token');
  }

  private accept(ws: WebSocket, socket: Duplex, identity: { userId: string; info?: unknown }, conn: { ip: string; route: string; traceContext?: HandshakeTrace['context'] | undefined }): CentrifugeSession {
    const sink = new WsConnectionSink(socket, ws);
    const session = new CentrifugeSession(this.node.services, identity, sink, this.version, { ip: conn.ip, route: conn.route, ...(conn.traceContext ? { traceContext: conn.traceContext } : {}) });
    const now = Date.now();
    const l: Liveness = { session, ws, lastPingAt: now, lastSeenAt: now };
    this.live.add(l);
    this.node.attach(session);
    const counters = this.node.counters;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      l.lastSeenAt = Date.now();
      counters.messagesReceived++;
      counters.bytesReceived += data.length;
      session.handleFrame(data, isBinary);
    });
    ws.on('close', (code, reason) => {
      this.live.delete(l);
      session.cleanup(code, reason.toString());
    });
    session.logInfo({ event: 'connect', protocol: 'centrifuge' }, 'connected');
    return session;
  }

  private tick(): void {
    const cfg = this.node.config.websocket;
    if (cfg.pingInterval <= 0) return;
    const now = Date.now();
    for (const l of this.live) {
      if (l.session.closed) continue;
      if (l.lastPingAt > l.lastSeenAt && now - l.lastPingAt > cfg.pongTimeout) {
        l.session.disconnect(Disconnects.Stale);
        l.ws.terminate();
        continue;
      }
      if (now - l.lastPingAt >= cfg.pingInterval) {
        l.lastPingAt = now;
        l.session.ping();
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
