import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import { ServerApi } from './api/api.js';
import { InsecureQueryAuthenticator, type Authenticator } from './auth/identity.js';
import { createJwtAuthenticator } from './auth/jwt.js';
import { isLoopbackAddress as isLoopback } from './core/loopback.js';
import { Admission } from './transport/admission.js';
import { createMemoryBroker } from './broker/memory.js';
import { createRedisBroker } from './broker/redis.js';
import type { Broker } from './broker/broker.js';
import { ConfigError, configSource, loadConfig, type Config } from './config/index.js';
import { optionProblem } from './config/errors.js';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { newNodeId } from './core/ids.js';
import { createLogger, type Logger } from './observability/logger.js';
import { DemoPage } from './demo/page.js';
import { SdkBundle } from './transport/sdk-bundle.js';
import { DemoProducer } from './demo/producer.js';
import { createTelemetry } from './observability/telemetry.js';
import { SwitchboardNode } from './node.js';
import type { Member, ServerPublication } from './protocol/index.js';
import { sendError, sendJson } from './http/responses.js';
import { SseTransport } from './transport/sse.js';
import { WebSocketTransport } from './transport/websocket.js';
import { createListener, type Listener } from './listener/create.js';

export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export interface SwitchboardOptions {
  /** A parsed config (from loadConfig), or options merged over the defaults (`{ port: 0, history: { size: 500 } }`). */
  config?: Config | Record<string, unknown>;
  /** Attach to this HTTP server instead of creating one; Switchboard then handles only its own paths. */
  server?: Server;
  logger?: Logger;
  /**
   * A broker instead of the one the config selects (memory, or Redis when `redis.url` is set): `createRedisBroker(...)`,
   * `createMemoryBroker(...)` or your own implementation of `Broker`.
   */
  broker?: Broker;
  /**
   * Where the standard OTEL_* variables (tracing exporter, sampler, resource, OTLP metrics) are read. Default:
   * `process.env`.
   */
  env?: Record<string, string | undefined>;
  /** Extra span processors (e.g. an in-memory exporter in tests); when given, tracing is on. */
  spanProcessors?: SpanProcessor[];
}

export interface Switchboard {
  readonly config: Config;
  /**
   * The server listening on config.port: the one given in the options, an http.Server, or with `tls.cert` an
   * https.Server (whose HTTP/2 connections are served by an internal HTTP/2 server, see docs/security.md).
   */
  readonly server: Server | HttpsServer;
  /** Starts the broker and, when Switchboard created the server, listens on config.host:config.port. */
  listen(): Promise<{ host: string; port: number }>;
  /** Graceful shutdown: readiness false, connections told to reconnect elsewhere, queues flushed, server closed. */
  shutdown(): Promise<void>;
  publish(channel: string, data: unknown, event?: string): Promise<ServerPublication>;
  sendToUser(user: string, data: unknown, event?: string): Promise<void>;
  disconnectUser(user: string): Promise<void>;
  presence(channel: string): Promise<Member[]>;
  history(channel: string, limit?: number): Promise<ServerPublication[]>;
}

/**
 * Builds a Switchboard node with its HTTP endpoints: WebSocket (`websocket.path`), SSE (`sse.path`), the server
 * API (`/api/*`), `/healthz` and `/readyz`.
 */
export function createSwitchboard(options: SwitchboardOptions = {}): Switchboard {
  const config = isConfig(options.config) ? options.config : loadConfig({ values: options.config ?? {} });
  const logger = options.logger ?? createLogger(config.logLevel);
  const ownServer = options.server === undefined;
  if (!ownServer && config.tls.cert) {
    throw new ConfigError([optionProblem('tls.cert', 'config', 'applies to the server Switchboard creates, not to the one given in options.server', 'configure TLS on your own server, or leave tls.cert empty')]);
  }
  // Plain HTTP, or HTTPS with HTTP/2 (tls.*, http2.*), with limits.handshakeTimeout against slow clients. Made
  // first: a certificate that does not load stops here, before a broker or exporter is created.
  const listener: Listener | undefined = options.server ? undefined : createListener(config, logger);
  const server: Server | HttpsServer = options.server ?? (listener as Listener).server;
  const broker = options.broker ?? createBroker(config, logger);
  const authenticator = createAuthenticator(config);
  const nodeId = newNodeId();
  let node: SwitchboardNode | undefined;
  const telemetry = createTelemetry({
    config,
    env: options.env ?? process.env,
    serviceVersion: VERSION,
    nodeId,
    spanProcessors: options.spanProcessors,
    gauges: () => node?.gauges(),
  });
  node = new SwitchboardNode(config, broker, logger, authenticator, telemetry, nodeId);
  const admission = new Admission(config);
  const ws = new WebSocketTransport(node, VERSION, admission);
  const sse = new SseTransport(node, admission);
  const api = new ServerApi(node);
  const sdkBundle = config.sdk.serve ? SdkBundle.load() : undefined;
  // The demo page takes `/` only on a server Switchboard owns (an embedding app keeps its own `/`).
  const demoPage = ownServer && config.demo.enabled
    ? new DemoPage(config, { insecure: authenticator.insecure, version: VERSION, logger, sendToUser: (u, e, d) => node.sendToUser(u, e, d) })
    : undefined;
  const producer = config.demo.producer ? new DemoProducer((c, e, d) => node.publish(c, e, d), config.demo.channel, config.demo.producerInterval, logger) : undefined;

  const route = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === config.sse.path) {
      sse.handle(req, res, url);
    } else if (path === config.metrics.path && telemetry.metricsHandler) {
      // Operational data: the same rule as the server API (its key, or loopback callers when there is none).
      if (!config.metrics.public && !api.authorized(req)) sendError(res, 401, 'unauthorized', 'metrics need the API key ("Authorization: Bearer <key>" or "X-API-Key: <key>")');
      else telemetry.metricsHandler(req, res);
    } else if (path.startsWith('/api/')) {
      void api.handle(req, res, url);
    } else if (sdkBundle && path === config.sdk.path) {
      sdkBundle.handle(req, res);
    } else if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const ready = node.isReady();
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : node.state === 'ready' ? 'broker_unavailable' : node.state });
    } else {
      return false;
    }
    return true;
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (!route(req, res) && ownServer) {
      if (demoPage?.handle(req, res, new URL(req.url ?? '/', 'http://localhost').pathname)) return;
      if (req.url === '/' || req.url === '/favicon.ico') sendJson(res, 200, { name: 'switchboard', version: VERSION, websocket: config.websocket.path, sse: config.sse.path, api: '/api/openapi.json' });
      else sendError(res, 404, 'not_found', `no route ${req.method} ${req.url?.split('?')[0]}`);
    }
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === config.websocket.path) return ws.handleUpgrade(req, socket, head, url);
    if (ownServer) socket.destroy();
  };
  if (listener) {
    listener.onRequest(onRequest);
    // Slow-header clients (slowloris) on upgrade, SSE and API requests are cut off after limits.handshakeTimeout
    // (set by createListener).
  } else {
    // Embedded: Switchboard's routes answer first; the app's own listeners see everything else.
    const appListeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!route(req, res)) for (const l of appListeners) l.call(server, req, res);
    });
  }
  if (listener) listener.onUpgrade(onUpgrade);
  else server.on('upgrade', onUpgrade);
  server.on('clientError', (err, socket) => {
    // Only the code: the error carries the raw request bytes, tokens and Authorization headers included.
    logger.debug({ code: (err as NodeJS.ErrnoException).code }, 'http client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  let started: Promise<void> | undefined;
  const start = () => (started ??= node.start().then(() => {
    producer?.start();
    if (authenticator.insecure) {
      logger.warn('INSECURE DEVELOPMENT MODE: no authentication configured; user ids are taken from the "user" query parameter. Do not expose this server.');
    }
  }));
  let stopping: Promise<void> | undefined;

  const sb: Switchboard = {
    config,
    server,
    async listen() {
      if (ownServer) assertSafeBinding(config, authenticator);
      await start();
      if (!ownServer) {
        const a = server.address() as AddressInfo | null;
        return { host: a?.address ?? config.host, port: a?.port ?? config.port };
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const a = server.address() as AddressInfo;
      const tls = listener?.certificate ? { protocols: listener.protocols, certificate: listener.certificate } : {};
      logger.info({ host: a.address, port: a.port, scheme: listener?.scheme ?? 'http', broker: broker.kind, version: VERSION, ...tls }, 'switchboard listening');
      return { host: a.address, port: a.port };
    },
    shutdown() {
      return (stopping ??= (async () => {
        logger.info('shutting down: draining connections');
        if (ownServer) server.close();
        producer?.stop();
        node.drain();
        const deadline = Date.now() + config.shutdown.timeout;
        while (ws.connections() + sse.connections() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        ws.close();
        sse.close();
        admission.close();
        listener?.closeAllConnections();
        await node.stop();
        logger.info('shutdown complete');
      })());
    },
    async publish(channel, data, event = 'message') {
      await start();
      return node.publish(channel, event, JSON.stringify(data));
    },
    async sendToUser(user, data, event = 'message') {
      await start();
      return node.sendToUser(user, event, JSON.stringify(data));
    },
    async disconnectUser(user) {
      await start();
      return node.disconnectUser(user);
    },
    async presence(channel) {
      await start();
      return broker.presence(channel);
    },
    async history(channel, limit) {
      await start();
      return (await broker.history(channel, limit === undefined ? {} : { limit, reverse: true })).publications;
    },
  };
  nodes.set(sb, node);
  return sb;
}

/** The node behind each Switchboard, for nodeOf. */
const nodes = new WeakMap<Switchboard, SwitchboardNode>();

/**
 * The internal node of a Switchboard (hub, telemetry, id), for this repository's tests and tools. Not exported from
 * the package (src/index.ts): the node's classes are internal and change without notice.
 */
export function nodeOf(sb: Switchboard): SwitchboardNode {
  const node = nodes.get(sb);
  if (!node) throw new Error('not a Switchboard made by createSwitchboard');
  return node;
}

/** The Redis broker when `redis.url` is set (or `broker: redis`), else the in-process memory broker. */
function createBroker(config: Config, logger: Logger): Broker {
  const history = { size: config.history.size, ttlMs: config.history.ttl };
  if (config.redis.url || config.broker === 'redis') {
    return createRedisBroker({
      url: config.redis.url,
      cluster: config.redis.cluster,
      healthCheckIntervalMs: config.redis.healthCheckInterval,
      commandTimeoutMs: config.redis.commandTimeout,
      prefix: config.redis.prefix,
      history,
      metaTtlMs: config.history.metaTtl,
      presenceTtlMs: config.redis.presenceTtl,
      // The broker logs pino-style (fields object, then message).
      logger: { warn: (...a: unknown[]) => logger.warn(...(a as [object, string])), error: (...a: unknown[]) => logger.error(...(a as [object, string])) },
    });
  }
  return createMemoryBroker({ history, metaTtlMs: config.history.metaTtl, maxChannels: config.history.maxChannels, maxBytes: historyMaxBytes(config) });
}

/** `history.maxBytes`, where 0 means a quarter of this process's V8 heap limit (`--max-old-space-size` moves it). */
export function historyMaxBytes(config: Config): number {
  return config.history.maxBytes || Math.floor(getHeapStatistics().heap_size_limit / 4);
}

/** JWT authentication when a key is configured (`jwt.secret`, `jwt.publicKey` or `jwt.jwksUrl`); else development mode. */
function createAuthenticator(config: Config): Authenticator {
  const j = config.jwt;
  if (!j.secret && !j.publicKey && !j.jwksUrl) return new InsecureQueryAuthenticator(config.client.anonymousUserPrefix);
  return createJwtAuthenticator({ ...j, allowAnonymous: config.client.allowAnonymous, anonymousPrefix: config.client.anonymousUserPrefix });
}

/**
 * Safe defaults: a server reachable from other machines must authenticate its clients and protect its API.
 * Beyond loopback it refuses to start without JWT auth and an API key, unless `insecure` says otherwise.
 */
function assertSafeBinding(config: Config, authenticator: Authenticator): void {
  if (isLoopback(config.host) || config.host === 'localhost' || config.insecure) return;
  const missing = [authenticator.insecure ? 'JWT authentication (jwt.secret, jwt.publicKey or jwt.jwksUrl)' : '', config.apiKey ? '' : 'an API key (apiKey)'].filter(Boolean);
  if (missing.length === 0) return;
  throw new ConfigError([
    optionProblem(
      'host',
      configSource(config, 'host'), // "flag --host", "env SWITCHBOARD_HOST", "file …": where the operator set it
      `listening on ${config.host} (beyond loopback) needs ${missing.join(' and ')}`,
      'set SWITCHBOARD_JWT_SECRET and SWITCHBOARD_API_KEY, or pass --insecure for a development server on a trusted network',
    ),
  ]);
}

function isConfig(c: unknown): c is Config {
  return typeof c === 'object' && c !== null && Object.isFrozen(c) && 'websocket' in c;
}
