import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Server as HttpsServer } from 'node:https';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NEW_TRACE } from './core/trace-context.js';
import { checkedPresence, latestHistory, validChannel } from './api/channel-reads.js';
import type { Broker } from './broker/broker.js';
import { loadConfig, type Config } from './config/index.js';
import { createLogger, type Logger } from './observability/logger.js';
import type { SwitchboardNode } from './node.js';
import { clientIdProblem, ReplyError, withExclude, type Member, type ServerPublication } from './protocol/index.js';
import { wire } from './wiring/wiring.js';

/** The package version (package.json), reported by `/`, the WebSocket `connected` frame and the telemetry resource. */
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

/**
 * A running Switchboard, for an app that embeds it. The methods start the broker on first use, so they work before
 * `listen()` too; they go through the node like the server API does (same checks, errors, timing and spans).
 */
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
  /**
   * Like `POST /api/publish`: resolves with the stored publication (its `epoch` and `offset`). `exclude`: a connection
   * id not to deliver to (it gets a `skip` push instead); a bad one throws a `ReplyError` `bad_request`.
   */
  publish(channel: string, data: unknown, event?: string, options?: SwitchboardPublishOptions): Promise<ServerPublication>;
  /** Like `POST /api/send`. */
  sendToUser(user: string, data: unknown, event?: string): Promise<void>;
  /** Like `POST /api/disconnect` with its default code (4502, no reconnect). */
  disconnectUser(user: string): Promise<void>;
  /**
   * The channel's members, like `GET /api/presence`; throws a `ReplyError` with the API's code: `invalid_channel`,
   * `unknown_namespace`, or `feature_disabled` when presence is off for the channel.
   */
  presence(channel: string): Promise<Member[]>;
  /**
   * The channel's kept publications, always oldest first. With `limit`, the newest `limit` of them (still oldest
   * first: the last one is the newest). Throws a `ReplyError` `invalid_channel` for a bad name.
   */
  history(channel: string, limit?: number): Promise<ServerPublication[]>;
}

/** Options of `Switchboard.publish`. */
export interface SwitchboardPublishOptions {
  /** A connection id (`GET /api/connections` `client`) that does not receive the publication, as API `exclude`. */
  exclude?: string;
}

/**
 * Builds a Switchboard node with its HTTP endpoints: WebSocket (`websocket.path`), SSE (`sse.path`), the server
 * API (`/api/*`), `/healthz` and `/readyz` (every path: src/wiring/routes.ts).
 */
export function createSwitchboard(options: SwitchboardOptions = {}): Switchboard {
  const config = isConfig(options.config) ? options.config : loadConfig({ values: options.config ?? {} });
  const logger = options.logger ?? createLogger(config.logLevel);
  const w = wire({ ...options, config, logger, version: VERSION, env: options.env ?? process.env });
  const node = w.node;
  // Calls from the app carry no trace context: with tracing on, their spans start a trace, like a publish does.
  const ctx = () => (node.telemetry.tracing ? NEW_TRACE : undefined);
  const sb: Switchboard = {
    config,
    server: w.server,
    listen: () => w.listen(),
    shutdown: () => w.shutdown(),
    async publish(channel, data, event = 'message', options = {}) {
      const { exclude } = options;
      const problem = exclude === undefined ? undefined : clientIdProblem(exclude);
      if (problem) throw new ReplyError(problem.code, `exclude: ${problem.message}`);
      await w.start();
      return node.publish(channel, event, JSON.stringify(data), withExclude(undefined, exclude));
    },
    async sendToUser(user, data, event = 'message') {
      await w.start();
      return node.sendToUser(user, event, JSON.stringify(data));
    },
    async disconnectUser(user) {
      await w.start();
      return node.disconnectUser(user);
    },
    async presence(channel) {
      await w.start();
      return checkedPresence(node, validChannel(node, channel), ctx());
    },
    async history(channel, limit) {
      await w.start();
      return latestHistory(node, validChannel(node, channel), limit, ctx());
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

function isConfig(c: unknown): c is Config {
  return typeof c === 'object' && c !== null && Object.isFrozen(c) && 'websocket' in c;
}
