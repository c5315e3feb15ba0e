import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { ConfigError, type Config } from '../config/index.js';
import { optionProblem } from '../config/errors.js';
import type { Logger } from '../observability/logger.js';
import { CertificateReloader, readKeyPairSync, type KeyPair } from './certificates.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The server Switchboard listens with, and what it needs to route, reload and close it. */
export interface Listener {
  /** An http.Server, or with `tls.cert` an https.Server (HTTP/2 connections are handed on by ALPN, see below). */
  readonly server: Server | HttpsServer;
  readonly scheme: 'http' | 'https';
  /** Application protocols offered: `http/1.1`, plus `h2` with TLS and `http2.enabled`. */
  readonly protocols: readonly string[];
  /** The certificate in use (subject, fingerprint, expiry), with TLS. */
  readonly certificate?: KeyPair['info'];
  /** Polls the certificate files (with TLS and `tls.reloadInterval` > 0). */
  readonly reloader?: CertificateReloader;
  onRequest(handler: RequestHandler): void;
  onUpgrade(handler: UpgradeHandler): void;
  /** After the drain: every HTTP/1.1 connection and HTTP/2 session is destroyed, the reload poll stopped. */
  closeAllConnections(): void;
}

/**
 * Builds the listening server from the config: plain HTTP/1.1, or HTTPS with HTTP/2 (`tls.*`, `http2.*`).
 *
 * With HTTP/2 the https.Server still accepts every connection and does the TLS handshake; a connection whose ALPN
 * chose `h2` is then given to an HTTP/2 server object (which never listens itself) instead of the HTTP/1.1
 * parser. So HTTP/1.1 clients and WebSocket upgrades keep the https.Server's own protections (headersTimeout,
 * requestTimeout, keep-alive timeout), which `http2.createSecureServer({ allowHTTP1 })` does not apply to its
 * HTTP/1.1 connections in Node 20.
 */
export function createListener(config: Config, logger: Logger): Listener {
  const httpOptions = {
    headersTimeout: config.limits.handshakeTimeout,
    requestTimeout: Math.max(config.limits.handshakeTimeout, 60_000),
    // How often Node enforces headersTimeout (default 30 s, fixed at creation).
    connectionsCheckingInterval: Math.max(100, Math.min(config.limits.handshakeTimeout / 2, 30_000)),
  };
  if (!config.tls.cert) {
    const server = createHttpServer(httpOptions);
    return {
      server,
      scheme: 'http',
      protocols: ['http/1.1'],
      onRequest: (h) => server.on('request', h),
      onUpgrade: (h) => server.on('upgrade', h),
      closeAllConnections: () => server.closeAllConnections(),
    };
  }

  let pair: KeyPair;
  try {
    pair = readKeyPairSync(config.tls.cert, config.tls.key);
  } catch (err) {
    const what = err instanceof Error ? err.message : String(err);
    const option = what.startsWith('tls.key') ? 'tls.key' : 'tls.cert';
    throw new ConfigError([optionProblem(option, 'config', what.replace(/^tls\.(cert|key) /, ''), 'give PEM files readable by the server, the key being the certificate\'s')]);
  }
  const h2 = config.http2.enabled;
  const protocols = h2 ? ['h2', 'http/1.1'] : ['http/1.1'];
  const server = createHttpsServer({
    ...httpOptions,
    cert: pair.cert,
    key: pair.key,
    ALPNProtocols: protocols,
    // A client that connects and never finishes the handshake is dropped after this long (Node's default: 120 s).
    handshakeTimeout: config.limits.handshakeTimeout,
  });
  // A failed or timed-out handshake: drop the socket. Without this, https.Server hands it to the 'clientError'
  // listener, whose HTTP 400 cannot be sent before the handshake, and the socket would stay open.
  server.prependListener('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    logger.debug({ code: err.code }, 'tls handshake failed');
    socket.destroy();
  });
  const sessions = h2 ? handOverH2(server, config, logger) : undefined;
  const reloader = config.tls.reloadInterval > 0
    ? new CertificateReloader(config.tls.cert, config.tls.key, (p) => server.setSecureContext({ cert: p.cert, key: p.key }), logger)
    : undefined;
  reloader?.start(config.tls.reloadInterval);
  return {
    server,
    scheme: 'https',
    protocols,
    certificate: pair.info,
    reloader,
    onRequest: (h) => {
      server.on('request', h);
      // The compatibility API's request and response have the members Switchboard's handlers use (method, url,
      // headers, socket.remoteAddress, writeHead, end, 'close'); the SSE writer checks for `stream` itself.
      sessions?.server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => h(req as unknown as IncomingMessage, res as unknown as ServerResponse));
    },
    onUpgrade: (h) => server.on('upgrade', h),
    closeAllConnections: () => {
      reloader?.stop();
      server.closeAllConnections();
      for (const s of sessions?.open ?? []) s.destroy();
    },
  };
}

/**
 * Routes the https.Server's connections by ALPN: `h2` to an HTTP/2 server object, the rest to the HTTP/1.1 parser
 * (the listener https.Server registered for 'secureConnection'). Returns the HTTP/2 server and its open sessions.
 */
function handOverH2(server: HttpsServer, config: Config, logger: Logger): { server: Http2Server; open: Set<ServerHttp2Session> } {
  const h2 = createH2Server({
    settings: { maxConcurrentStreams: config.http2.maxConcurrentStreams },
    // Never WebSocket over HTTP/2 (RFC 8441): browsers then open an HTTP/1.1 connection for it.
    // maxSessionMemory stays at Node's default (10 MB per connection), a bound of its own.
  });
  const open = new Set<ServerHttp2Session>();
  h2.on('session', (session: ServerHttp2Session) => {
    open.add(session);
    session.once('close', () => open.delete(session));
    session.on('error', (err: NodeJS.ErrnoException) => logger.debug({ code: err.code }, 'http2 session error'));
    let streams = 0;
    session.on('stream', (stream) => {
      streams++;
      stream.once('close', () => streams--);
    });
    // Idle: no stream and no frame for http2.idleTimeout; SSE heartbeats keep a session with streams active.
    if (config.http2.idleTimeout > 0) session.setTimeout(config.http2.idleTimeout, () => streams === 0 && session.close());
  });
  const [http1] = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  if (!http1) throw new Error('https.Server has no secureConnection listener');
  server.removeListener('secureConnection', http1);
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket as Socket);
    else http1.call(server, socket);
  });
  return { server: h2, open };
}
