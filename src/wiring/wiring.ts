/**
 * The one place that knows every concrete class: builds the broker, authenticator, telemetry, node, transports,
 * server API, SDK bundle, demo page and producer from the frozen config, puts the route table on the server, and
 * starts and drains them in order. `createSwitchboard` (src/server.ts) is a façade over it.
 */
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AdminConsole } from '../admin/console.js';
import { ServerApi } from '../api/api.js';
import { isLoopbackHost } from '../core/loopback.js';
import type { Broker } from '../broker/broker.js';
import { ConfigError, type Config } from '../config/index.js';
import { optionProblem } from '../config/errors.js';
import { newNodeId } from '../core/ids.js';
import { DemoPage } from '../demo/page.js';
import { DemoProducer } from '../demo/producer.js';
import { attachRoutes } from './attach.js';
import { accessLog } from '../http/access-log.js';
import { switchboardRoutes } from './routes.js';
import { createListener, type Listener } from '../listener/create.js';
import { SwitchboardNode } from '../node.js';
import { nodeGauges } from '../node/node-stats.js';
import { RegistryReporter } from '../node/registry-reporter.js';
import type { Logger } from '../observability/logger.js';
import type { MetricGauges } from '../observability/metrics.js';
import { createTelemetry } from '../observability/telemetry.js';
import { Admission } from '../transport/admission.js';
import { SdkBundle } from '../transport/sdk-bundle.js';
import { SseTransport } from '../transport/sse.js';
import { WebSocketTransport } from '../transport/websocket.js';
import { PusherEndpoint } from '../transport/pusher-endpoint.js';
import { PusherApi } from '../api/pusher-api.js';
import { pusherAppsOf } from '../auth/pusher-apps.js';
import { CentrifugeEndpoint } from '../transport/centrifuge-endpoint.js';
import { createWebhooks } from '../webhooks/webhooks.js';
import { createAuthenticator, createBroker, createProxyBackend } from './factories.js';
import { assertSafeBinding } from './safe-binding.js';

export interface WiringOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** The package version, reported by `/`, the WebSocket `connected` frame and the telemetry resource. */
  readonly version: string;
  /** The app's server to attach to (embedded); undefined: Switchboard creates and listens on its own. */
  readonly server?: Server;
  /** A broker instead of the one the config selects. */
  readonly broker?: Broker;
  /** Where the OTEL_* variables are read. */
  readonly env: Record<string, string | undefined>;
  /** Extra span processors (tests); when given, tracing is on. */
  readonly spanProcessors?: SpanProcessor[];
}

/** A wired Switchboard: its parts, and their start and drain in order. */
export interface Wiring {
  readonly server: Server | HttpsServer;
  readonly node: SwitchboardNode;
  /** Starts the broker, then the registry reports and the demo producer. Once; later calls share the first. */
  start(): Promise<void>;
  /** `start()`, then (own server only) listens on config.host:config.port; resolves with the address. */
  listen(): Promise<{ host: string; port: number }>;
  /** Once: readiness false, connections told to reconnect elsewhere, queues flushed, broker and telemetry stopped. */
  shutdown(): Promise<void>;
}

export function wire(options: WiringOptions): Wiring {
  const { config, logger, version } = options;
  const ownServer = options.server === undefined;
  if (!ownServer && config.tls.cert) {
    throw new ConfigError([optionProblem('tls.cert', 'config', 'applies to the server Switchboard creates, not to the one given in options.server', 'configure TLS on your own server, or leave tls.cert empty')]);
  }
  // Plain HTTP, or HTTPS with HTTP/2 (tls.*, http2.*), with limits.handshakeTimeout against slow clients. Made
  // first: a certificate that does not load stops here, before a broker or exporter is created.
  const listener: Listener | undefined = options.server ? undefined : createListener(config, logger);
  const server: Server | HttpsServer = options.server ?? (listener as Listener).server;
  const broker = options.broker ?? createBroker(config, logger);
  const nodeId = newNodeId();
  // Telemetry comes first (the node takes it); its gauges read the node once it exists.
  let gauges: (() => MetricGauges) | undefined;
  const telemetry = createTelemetry({
    config,
    env: options.env,
    serviceVersion: version,
    nodeId,
    spanProcessors: options.spanProcessors,
    gauges: () => gauges?.(),
  });
  // One HTTP client for every backend proxy: the connect proxy (an authenticator) and the channel proxies share its
  // bound on calls in flight (proxy.maxConcurrency).
  const proxyBackend = createProxyBackend(config, telemetry.counters);
  const authenticator = createAuthenticator(config, proxyBackend);
    // Webhooks listen to the node's events; on the Redis broker their queue is a shared Redis stream.
  const webhooks = createWebhooks(config, broker.kind === 'redis' && config.redis.url !== '', nodeId, telemetry.counters, logger);
  const n = new SwitchboardNode(config, broker, logger, authenticator, telemetry, nodeId, webhooks, proxyBackend);
  gauges = () => nodeGauges(n);
  const reporter = new RegistryReporter(n);
  const admission = new Admission(config);
  const ws = new WebSocketTransport(n, version, admission);
  const sse = new SseTransport(n, admission);
  // Centrifuge clients (docs/compat.md): an endpoint of the WebSocket transport, with the node's authenticator.
  const centrifuge = config.compat.centrifuge ? new CentrifugeEndpoint((req, url, ctx) => authenticator.authenticate(req, url, ctx)) : undefined;
  // The admin console: when asked for, or by default in development mode (no JWT auth) on a loopback host.
  const adminOn = config.admin.enabled || (ownServer && authenticator.insecure && isLoopbackHost(config.host));
  const admin = adminOn ? new AdminConsole(n, reporter, { version }) : undefined;
  const api = new ServerApi(n, reporter, admin);
  // Pusher Channels compatibility (docs/compat.md): the apps of pusher.appId/key/secret and pusher.apps, if any.
  const pusherApps = pusherAppsOf(config);
  const pusher = pusherApps.length > 0 ? { api: new PusherApi(n, reporter, pusherApps), endpoint: new PusherEndpoint(pusherApps) } : undefined;
  // The demo page takes `/` only on a server Switchboard owns (an embedding app keeps its own `/`).
  const demoPage = ownServer && config.demo.enabled
    ? new DemoPage(config, { insecure: authenticator.insecure, version, logger, sendToUser: (u, e, d) => n.sendToUser(u, e, d) })
    : undefined;
  const producer = config.demo.producer ? new DemoProducer((c, e, d) => n.pushData(c, e, d), config.demo.channel, config.demo.producerInterval, logger) : undefined;
  const routes = switchboardRoutes({
    config,
    ownServer,
    version,
    node: n,
    api,
    sse,
    ws,
    ...(pusher ? { pusher } : {}),
    centrifuge,
    metrics: telemetry.metricsHandler,
    observer: accessLog(logger, config.accessLog, (req) => n.clientAddress.of(req)),
    sdkBundle: config.sdk.serve ? SdkBundle.load() : undefined,
    demoPage,
    admin,
  });
  attachRoutes(server, listener, routes, logger);

  let started: Promise<void> | undefined;
  const start = () => (started ??= n.start().then(async () => {
    await webhooks?.start();
    reporter.start();
    producer?.start();
    if (authenticator.insecure) {
      logger.warn('INSECURE DEVELOPMENT MODE: no authentication configured; user ids are taken from the "user" query parameter. Do not expose this server.');
    }
  }));
  let stopping: Promise<void> | undefined;

  return {
    server,
    node: n,
    start,
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
      logger.info({ host: a.address, port: a.port, scheme: listener?.scheme ?? 'http', broker: broker.kind, version, ...tls }, 'switchboard listening');
      return { host: a.address, port: a.port };
    },
    shutdown() {
      return (stopping ??= (async () => {
        logger.info('shutting down: draining connections');
        if (ownServer) server.close();
        producer?.stop();
        admin?.close();
        n.drain();
        const deadline = Date.now() + config.shutdown.timeout;
        while (ws.connections() + sse.connections() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        ws.close();
        sse.close();
        admission.close();
        listener?.closeAllConnections();
        reporter.stop();
        // After the connections ended: their disconnects and vacated channels are queued (Redis: written) first.
        await webhooks?.stop();
        await n.stop();
        logger.info('shutdown complete');
      })());
    },
  };
}
