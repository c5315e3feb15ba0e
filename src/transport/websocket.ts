import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SwitchboardNode } from '../node.js';
import { Disconnects } from '../protocol/index.js';
import { WsSession, type WsTransport } from '../session/ws-session.js';
import { refuseUpgrade, waitDrain } from './http-util.js';

/** Per-connection liveness state, checked by one timer for all connections (no timer per connection). */
interface Liveness {
  session: WsSession;
  ws: WebSocket;
  socket: Socket;
  lastPingAt: number;
  lastPongAt: number;
  /** Since when the socket has had unsent bytes (0: none pending). */
  stalledSince: number;
}

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

  constructor(
    private readonly node: SwitchboardNode,
    private readonly version: string,
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
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    if (!this.node.isReady()) return refuseUpgrade(socket, 503, 'unavailable', 'server is not ready (starting or draining)');
    const auth = this.node.authenticator.authenticate(req, url);
    if (!auth.ok) return refuseUpgrade(socket, auth.status, auth.code, auth.message);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, auth.identity));
  }

  private accept(ws: WebSocket, identity: { userId: string; info?: unknown }): void {
    const socket = (ws as unknown as { _socket: Socket })._socket;
    const sink: WsTransport = {
      write: (buf) => {
        if (!socket.destroyed) socket.write(buf);
      },
      get writableLength() {
        return socket.writableLength;
      },
      waitDrain: () => waitDrain(socket),
      close: (code, reason) => ws.close(code, reason),
    };
    const session = new WsSession(this.node, identity, sink, this.version);
    const now = Date.now();
    const l: Liveness = { session, ws, socket, lastPingAt: now, lastPongAt: now, stalledSince: 0 };
    this.live.add(l);
    this.node.hub.register(session);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      l.lastPongAt = Date.now();
      this.node.counters.messagesIn++;
      session.handleFrame(data, isBinary);
    });
    ws.on('pong', () => {
      l.lastPongAt = Date.now();
    });
    ws.on('error', (err) => this.node.logger.debug({ err, client: session.id }, 'websocket error'));
    ws.on('close', (code, reason) => {
      this.live.delete(l);
      session.cleanup();
      this.node.logger.debug({ client: session.id, user: session.userId, code, reason: reason.toString() }, 'websocket closed');
    });
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
