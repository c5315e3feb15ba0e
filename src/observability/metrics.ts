import type { BatchObservableResult, Meter, Observable, ObservableCounter } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parsePositiveInt } from '../core/positive-int.js';
import type { Counters } from './counters.js';
import { resourceAttributesFromEnv } from './tracing.js';
import { registerProcessMetrics } from './process-metrics.js';

/**
 * Metrics: one OpenTelemetry MeterProvider whose instruments are read by two readers, the Prometheus exporter
 * (pulled at `GET /metrics`) and, when configured, an OTLP push reader. We use OTel's Prometheus exporter rather
 * than prom-client so that one set of instruments feeds both: no second registry, no names kept in sync by hand.
 *
 * Counters and gauges are observable instruments read by one batch callback on each collection (scrape or push):
 * the hot path only bumps plain integers in `Counters` (docs/operations.md has the full table of names).
 */

export interface MetricGauges {
  /** Open connections by transport (`websocket`, `sse`). */
  connectionsByTransport: Record<string, number>;
  /** Channels with at least one local subscriber. */
  channels: number;
  /** Local channel subscriptions (one per connection per channel). */
  subscriptions: number;
  /** Distinct users with at least one local connection. */
  users: number;
  /** Channels with a history stream in the broker (memory broker: this process). */
  historyChannels?: number;
  /** Publications kept in history across channels. */
  historyPublications?: number;
  /** Memory broker: bytes counted against `history.maxBytes` (kept history plus keyed state). */
  historyBytes?: number;
  /** Memory broker: publications evicted from history by `history.maxBytes`, since start. */
  historyEvictions?: number;
  /** Redis broker: subscriber connections replaced after failing the health check, since start. */
  brokerSubscriberReplacements?: number;
  /** Redis broker: command connections replaced after failing the health check or missing a deadline, since start. */
  brokerCommandReplacements?: number;
  /** Redis broker: missed PINGs or deadlines on connections still reading replies (slow, kept), by `command`/`subscriber`. */
  brokerSlow?: { command: number; subscriber: number };
  /** Publication encodings built in this process since start, by format (`json`, `wsFrame`, `sseHead`, `sseEvent`). */
  encodings?: Readonly<Record<string, number>>;
  /** Node started and broker available (what `/readyz` answers). */
  ready: boolean;
}

export interface MetricSources {
  counters: Counters;
  /** Current gauges, read on collection. */
  gauges(): MetricGauges;
}

export interface MetricsRuntime {
  /** The meter for the histograms (`createHistograms(meter)` in telemetry.ts). Never the global one. */
  meter: Meter;
  /** Serves `GET /metrics` (and HEAD) in the Prometheus text format; other methods get 405. */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /** Stops the OTLP reader (after a last push) and the event-loop sampler. Idempotent. */
  shutdown(): Promise<void>;
}

export interface MetricsOptions {
  /** Environment for the OTEL_* variables (normally `process.env`). */
  env: Record<string, string | undefined>;
  serviceName: string;
  serviceVersion: string;
  /** Becomes the resource's `service.instance.id`. */
  nodeId: string;
  /** The node's counters and gauges; undefined until the node exists (then only `switchboard.ready` 0 is reported). */
  sources: () => MetricSources | undefined;
}

/** Same instrumentation scope as telemetry.ts (not imported from there: telemetry builds on this module). */
const SCOPE = 'switchboard';
/**
 * Label values always reported (0 until counted), so dashboards and alerts find a series before the first event:
 * the transports, and the broker operation every node performs.
 */
const KNOWN_TRANSPORTS = ['websocket', 'sse'];
const SEEDED_BROKER_OPERATION = 'publish';
/** OTel default push interval (`OTEL_METRIC_EXPORT_INTERVAL`) and export timeout (`OTEL_METRIC_EXPORT_TIMEOUT`), ms. */
const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
/** Prometheus text exposition format 0.0.4 (the exporter itself sends a bare `text/plain`). */
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function createMetrics(opts: MetricsOptions): MetricsRuntime {
  const env = opts.env;
  const prometheus = new PrometheusExporter({
    preventServerStart: true,
    // One scope only: an `otel_scope_name` label on every series would add bytes, not information.
    withoutScopeInfo: true,
  });
  const readers: MetricReader[] = [prometheus];
  const otlp = otlpReader(env);
  if (otlp) readers.push(otlp);

  const provider = new MeterProvider({ resource: resourceFromAttributes(resourceAttributesFromEnv(opts.env, opts)), readers });
  // Never registered globally: several servers may run in one process (tests, embedders), each with its own.
  const meter = provider.getMeter(SCOPE);
  registerSwitchboardMetrics(meter, opts.sources);
  const processMetrics = registerProcessMetrics(meter);

  let stopping: Promise<void> | undefined;
  return {
    meter,
    handler(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
        return;
      }
      // The exporter sets its headers synchronously and ends the response after an asynchronous collection.
      prometheus.getMetricsRequestHandler(req, res);
      res.setHeader('content-type', PROMETHEUS_CONTENT_TYPE);
      res.setHeader('cache-control', 'no-store');
    },
    shutdown() {
      return (stopping ??= (async () => {
        processMetrics.stop();
        await provider.shutdown();
      })());
    },
  };
}

// --- Switchboard instruments --------------------------------------------------------------------------------------

function registerSwitchboardMetrics(meter: Meter, sources: () => MetricSources | undefined): void {
  const counter = (name: string, description: string, unit: string) => meter.createObservableCounter(name, { description, unit });
  const gauge = (name: string, description: string, unit: string) => meter.createObservableUpDownCounter(name, { description, unit });

  // Names from the first dashboards (WebSocket only), kept so they go on working.
  const wsActive = gauge('ws.connections.active', 'Open WebSocket connections (same as switchboard.connections.active{transport="websocket"})', '{connection}');
  const wsActiveAlias = gauge('websocket.active_connections', 'Open WebSocket connections (alias of ws.connections.active)', '{connection}');
  const wsSent = counter('ws.messages.sent', 'WebSocket frames queued to clients', '{message}');
  const wsReceived = counter('ws.messages.received', 'WebSocket frames received from clients', '{message}');
  // Seed 002's names for the same two counts: read from the same integers on collection, no second count per frame.
  const wsSentAlias = counter('websocket.messages.sent', 'WebSocket frames queued to clients (alias of ws.messages.sent)', '{message}');
  const wsReceivedAlias = counter('websocket.messages.received', 'WebSocket frames received from clients (alias of ws.messages.received)', '{message}');

  const active = gauge('switchboard.connections.active', 'Open client connections, by transport', '{connection}');
  const connects = counter('switchboard.connections', 'Client connections accepted, by transport', '{connection}');
  const disconnects = counter('switchboard.disconnections', 'Client connections ended, by transport and close code', '{connection}');
  const sent = counter('switchboard.messages.sent', 'Messages (WebSocket frames, SSE events) queued to clients, by transport', '{message}');
  const bytesSent = counter('switchboard.bytes.sent', 'Bytes queued to clients, by transport', 'By');
  const received = counter('switchboard.messages.received', 'Messages received from clients, by transport (WebSocket only)', '{message}');
  const bytesReceived = counter('switchboard.bytes.received', 'Bytes received from clients, by transport (WebSocket only)', 'By');
  const commands = counter('switchboard.commands', 'Client commands handled, by method and outcome (ok or an error code)', '{command}');
  const publications = counter('switchboard.publications', 'Publications accepted by this node (server API, clients, library)', '{publication}');
  const publishReplays = counter('switchboard.publish.replays', 'Idempotent publishes answered with the first position of their key (a retry within publish.idempotencyWindow: nothing published)', '{publication}');
  const deliveries = counter('switchboard.deliveries', 'Publications delivered to local subscribers (one per recipient)', '{delivery}');
  const encodings = counter('switchboard.publication.encodings', 'Publication encodings built, by format: one per publication and format however many local recipients (this process)', '{encoding}');
  const drops = counter('switchboard.drops', 'Messages dropped because a connection queue was full', '{message}');
  const slowDisconnects = counter('switchboard.slow_disconnects', 'Connections ended as slow consumers (outbound queue over client.queueMaxBytes)', '{connection}');
  const recoveries = counter('switchboard.recoveries', 'Subscribe-with-resume outcomes: recovered, or failed by reason', '{recovery}');
  const brokerErrors = counter('switchboard.broker.errors', 'Broker operations that failed, by operation', '{error}');
  const limitsHit = counter('switchboard.limits.hit', 'Limit hits, by limit (connections_per_ip, command_rate, subscriptions, ...)', '{hit}');
  const proxyCalls = counter('switchboard.proxy.calls', 'Calls to the application backend (docs/proxy.md), by kind (connect, subscribe, publish, rpc) and outcome (ok, refused, or an error code such as backend_timeout)', '{call}');
  const apiRequests = counter('switchboard.api.requests', 'Server API requests, by method, route and status code', '{request}');
  const channels = gauge('switchboard.channels', 'Channels with local subscribers', '{channel}');
  const subscriptions = gauge('switchboard.subscriptions', 'Local channel subscriptions', '{subscription}');
  const users = gauge('switchboard.users', 'Distinct users connected to this node', '{user}');
  const historyPublications = gauge('switchboard.history.publications', 'Publications kept in channel history (memory broker: this process)', '{publication}');
  const historyBytes = gauge('switchboard.history.bytes', 'Bytes of retained history and keyed state counted against history.maxBytes (memory broker: this process)', 'By');
  const historyEvictions = counter('switchboard.history.evictions', 'Publications evicted from history, oldest first across channels, because retained history reached history.maxBytes (memory broker)', '{publication}');
  const historyChannels = gauge('switchboard.history.channels', 'Channels with a history stream (memory broker: this process)', '{channel}');
  const subscriberReplacements = counter('switchboard.broker.subscriber_replacements', 'Redis subscriber connections replaced after failing the health check (redis.healthCheckInterval) or missing a deadline (redis.commandTimeout): publications missed meanwhile are read back from history, or subscribers resume', '{connection}');
  const commandReplacements = counter('switchboard.broker.command_replacements', 'Redis command connections replaced after failing the health check (redis.healthCheckInterval) or missing a deadline (redis.commandTimeout)', '{connection}');
  const slowMisses = counter('switchboard.broker.slow_misses', 'Health-check PINGs or deadlines missed on a Redis connection that was still reading replies (slow, not frozen): the connection is kept, by connection (command, subscriber)', '{miss}');
  const webhookEvents = counter('switchboard.webhook.events', 'Webhook events queued by this node', '{event}');
  const webhookDropped = counter('switchboard.webhook.events.dropped', 'Webhook events dropped because the queue was full (webhooks.maxQueue)', '{event}');
  const webhookDelivered = counter('switchboard.webhook.events.delivered', 'Webhook events delivered by this node (once per URL)', '{event}');
  const webhookFailures = counter('switchboard.webhook.request.failures', 'Webhook requests that failed (error status, no connection, or webhooks.timeout)', '{request}');
  const webhookRetries = counter('switchboard.webhook.request.retries', 'Webhook requests that retried a failed one', '{request}');
  const webhookDepth = gauge('switchboard.webhook.queue.depth', 'Webhook events waiting for delivery (Redis broker: the shared stream, plus what this node has not written to it yet)', '{event}');
  const ready = meter.createObservableGauge('switchboard.ready', { description: '1 when the node is ready (started, broker available), else 0', unit: '1' });

  const observables: Observable[] = [
    wsActive, wsActiveAlias, wsSent, wsReceived, wsSentAlias, wsReceivedAlias, active, connects, disconnects, sent, bytesSent, received, bytesReceived, commands,
    publications, publishReplays, deliveries, encodings, drops, slowDisconnects, recoveries, brokerErrors, limitsHit, proxyCalls, apiRequests, channels, subscriptions, users,
    historyPublications, historyBytes, historyEvictions, historyChannels, subscriberReplacements, commandReplacements, slowMisses, ready,
    webhookEvents, webhookDropped, webhookDelivered, webhookFailures, webhookRetries, webhookDepth,
  ];

  meter.addBatchObservableCallback((r: BatchObservableResult) => {
    const src = sources();
    if (!src) {
      r.observe(ready, 0);
      return;
    }
    const c = src.counters;
    const g = src.gauges();

    const ws = g.connectionsByTransport.websocket ?? 0;
    r.observe(wsActive, ws);
    r.observe(wsActiveAlias, ws);
    const wsFramesSent = c.sent.get('websocket')?.messages ?? 0;
    r.observe(wsSent, wsFramesSent);
    r.observe(wsSentAlias, wsFramesSent);
    r.observe(wsReceived, c.messagesReceived);
    r.observe(wsReceivedAlias, c.messagesReceived);

    for (const t of KNOWN_TRANSPORTS) {
      if (!(t in g.connectionsByTransport)) r.observe(active, 0, { transport: t });
    }
    for (const [t, n] of Object.entries(g.connectionsByTransport)) r.observe(active, n, { transport: t });
    observeByTransport(r, connects, c.connects, (n) => n);
    for (const [key, n] of c.disconnects) {
      const [transport, code] = split2(key);
      r.observe(disconnects, n, { transport, code });
    }
    observeByTransport(r, sent, c.sent, (s) => s.messages);
    observeByTransport(r, bytesSent, c.sent, (s) => s.bytes);
    r.observe(received, c.messagesReceived, { transport: 'websocket' });
    r.observe(bytesReceived, c.bytesReceived, { transport: 'websocket' });
    for (const [key, n] of c.commands) {
      const [method, outcome] = split2(key);
      r.observe(commands, n, { method, outcome });
    }
    r.observe(publications, c.publications);
    r.observe(publishReplays, c.publishReplays);
    r.observe(deliveries, c.deliveries);
    if (g.encodings) for (const [format, v] of Object.entries(g.encodings)) r.observe(encodings, v, { format });
    r.observe(drops, c.drops);
    r.observe(slowDisconnects, c.slowDisconnects);
    r.observe(recoveries, c.recoveriesSucceeded, { outcome: 'recovered' });
    for (const [reason, n] of c.recoveriesFailed) r.observe(recoveries, n, { outcome: 'failed', reason });
    if (!c.brokerErrors.has(SEEDED_BROKER_OPERATION)) r.observe(brokerErrors, 0, { operation: SEEDED_BROKER_OPERATION });
    for (const [operation, n] of c.brokerErrors) r.observe(brokerErrors, n, { operation });
    if (!c.limitsHit.has('command_rate')) r.observe(limitsHit, 0, { limit: 'command_rate' });
    for (const [limit, n] of c.limitsHit) r.observe(limitsHit, n, { limit });
    // Seeded like the two above, so dashboards and alerts find the family before the first backend call.
    if (c.proxyCalls.size === 0) r.observe(proxyCalls, 0, { kind: 'connect', outcome: 'ok' });
    for (const [key, n] of c.proxyCalls) {
      const [kind, outcome] = split2(key);
      r.observe(proxyCalls, n, { kind, outcome });
    }
    for (const [key, n] of c.apiRequests) {
      // `METHOD /route|status`; the attribute names match the histogram switchboard.api.request.duration.
      const [methodRoute, status] = split2(key);
      const sp = methodRoute.indexOf(' ');
      r.observe(apiRequests, n, {
        'http.request.method': sp < 0 ? methodRoute : methodRoute.slice(0, sp),
        'http.route': sp < 0 ? '' : methodRoute.slice(sp + 1),
        'http.response.status_code': status,
      });
    }

    r.observe(channels, g.channels);
    r.observe(subscriptions, g.subscriptions);
    r.observe(users, g.users);
    if (g.historyPublications !== undefined) r.observe(historyPublications, g.historyPublications);
    if (g.historyChannels !== undefined) r.observe(historyChannels, g.historyChannels);
    if (g.historyBytes !== undefined) r.observe(historyBytes, g.historyBytes);
    if (g.historyEvictions !== undefined) r.observe(historyEvictions, g.historyEvictions);
    if (g.brokerSubscriberReplacements !== undefined) r.observe(subscriberReplacements, g.brokerSubscriberReplacements);
    if (g.brokerCommandReplacements !== undefined) r.observe(commandReplacements, g.brokerCommandReplacements);
    if (g.brokerSlow !== undefined) {
      r.observe(slowMisses, g.brokerSlow.command, { connection: 'command' });
      r.observe(slowMisses, g.brokerSlow.subscriber, { connection: 'subscriber' });
    }
    r.observe(ready, g.ready ? 1 : 0);
    r.observe(webhookEvents, c.webhookEvents);
    r.observe(webhookDropped, c.webhookDropped);
    r.observe(webhookDelivered, c.webhookDelivered);
    r.observe(webhookFailures, c.webhookFailures);
    r.observe(webhookRetries, c.webhookRetries);
    r.observe(webhookDepth, c.webhookQueueDepth);
  }, observables);
}

/** One series per transport in `map`, plus a 0 for each known transport not counted yet. */
function observeByTransport<V>(r: BatchObservableResult, instrument: ObservableCounter, map: ReadonlyMap<string, V>, value: (v: V) => number): void {
  for (const t of KNOWN_TRANSPORTS) if (!map.has(t)) r.observe(instrument, 0, { transport: t });
  for (const [transport, v] of map) r.observe(instrument, value(v), { transport });
}

/** `a|b` → [a, b]; the split is at the last `|` (the first part may be a route; codes and outcomes never hold one). */
function split2(key: string): [string, string] {
  const i = key.lastIndexOf('|');
  return i < 0 ? [key, ''] : [key.slice(0, i), key.slice(i + 1)];
}

// --- Resource and OTLP push ---------------------------------------------------------------------------------------

/**
 * An OTLP/HTTP (JSON bodies) push reader when asked for: `OTEL_METRICS_EXPORTER` lists `otlp`, or (when that variable is unset) an
 * OTLP endpoint is configured. `OTEL_METRICS_EXPORTER=prometheus` or `none` turns push off even with an endpoint set
 * (the endpoint may be there for traces). `OTEL_SDK_DISABLED=true` turns it off too; `/metrics` stays governed by
 * `metrics.enabled`. Headers, compression and TLS come from the standard OTEL_EXPORTER_OTLP_* variables, which the
 * exporter reads itself.
 */
function otlpReader(env: Record<string, string | undefined>): MetricReader | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const list = env.OTEL_METRICS_EXPORTER?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const metricsEndpoint = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim();
  const baseEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const wanted = list && list.length > 0 ? list.includes('otlp') : Boolean(metricsEndpoint || baseEndpoint);
  if (!wanted) return undefined;
  // The signal-specific endpoint is used as is; the base one gets the metrics path appended (OTLP/HTTP spec).
  const url = metricsEndpoint || (baseEndpoint ? `${baseEndpoint.replace(/\/+$/, '')}/v1/metrics` : undefined);
  const interval = parsePositiveInt(env.OTEL_METRIC_EXPORT_INTERVAL) ?? DEFAULT_EXPORT_INTERVAL_MS;
  const timeout = Math.min(parsePositiveInt(env.OTEL_METRIC_EXPORT_TIMEOUT) ?? DEFAULT_EXPORT_TIMEOUT_MS, interval);
  return new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter(url ? { url } : {}),
    exportIntervalMillis: interval,
    exportTimeoutMillis: timeout,
  });
}

