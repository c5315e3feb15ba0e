import type { Authenticator } from './auth/identity.js';
import type { Broker, BrokerHandler, ControlMessage, HistoryQuery, HistoryPage, NodeRegistry, NodeReport, StatePage, StateQuery } from './broker/broker.js';
import { checkKeyedPublish, type KeyedWrite } from './session/keyed.js';

/** How often a node reports itself to the registry (ms); a report lives three times as long. */
const REPORT_INTERVAL_MS = 2000;
import type { Config } from './config/index.js';
import { ClientAddress } from './core/client-address.js';
import { newNodeId } from './core/ids.js';
import { Hub, type ChannelSubscription } from './hub/hub.js';
import { encodeCounts } from './hub/encoded.js';
import { ROOT_CONTEXT, SpanKind, trace, type Context } from '@opentelemetry/api';
import type { Logger } from './observability/logger.js';
import { inc } from './observability/counters.js';
import type { MetricGauges } from './observability/metrics.js';
import type { Telemetry } from './observability/telemetry.js';
import { extractContext, traceContextOf } from './observability/tracing.js';
import { markError } from './observability/spans.js';
import {
  Disconnects,
  ErrorCode,
  ReplyError,
  directMessageJson,
  memberEventJson,
  reconnects,
  type Member,
  type ServerPublication,
  type PublicationMeta,
} from './protocol/index.js';
import { FlushScheduler } from './session/flush.js';
import { Namespaces } from './core/namespaces.js';
import type { Expiring, NodeServices } from './session/services.js';

export type NodeState = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * One Switchboard node: owns the broker, the hub and the write scheduler, and connects them. Transports hand it
 * sessions; the HTTP API calls its operations.
 */
export class SwitchboardNode implements NodeServices, BrokerHandler {
  readonly hub = new Hub();
  readonly scheduler: FlushScheduler;
  readonly startedAt = Date.now();
  state: NodeState = 'starting';
  /** Broker subscriptions of this node, one per channel with local subscribers, shared while pending. */
  private readonly brokerSubs = new Map<string, Promise<void>>();
  readonly namespaces: Namespaces;
  /** Client addresses, read through trusted proxies (`proxy.trusted`). */
  readonly clientAddress: ClientAddress;
  /** When a refusal was last logged, per limit (refusal lines are sampled to one per second per limit). */
  private readonly refusalLogged = new Map<string, number>();
  /** Connections with credentials or subscriptions that expire, checked once a second. */
  private readonly expiring = new Set<Expiring>();
  private readonly expiryTimer: NodeJS.Timeout;
  private reportTimer: NodeJS.Timeout | undefined;
  /** Every k-th recipient of a publication gets a write span (k = 1 / tracing.writeSampleRate); 0: none. */
  private readonly writeSampleStride: number;

  constructor(
    readonly config: Config,
    readonly broker: Broker,
    readonly logger: Logger,
    readonly authenticator: Authenticator,
    readonly telemetry: Telemetry,
    readonly id: string = newNodeId(),
  ) {
    const h = telemetry.histograms.publishToWrite;
    this.scheduler = new FlushScheduler(config.delivery.maxWriteDelay, (acceptedAt) => h.record((Date.now() - acceptedAt) / 1000));
    const rate = telemetry.tracing ? telemetry.writeSampleRate : 0;
    this.writeSampleStride = rate > 0 ? Math.max(1, Math.round(1 / rate)) : 0;
    this.namespaces = new Namespaces(config);
    this.clientAddress = new ClientAddress(config.proxy.trusted);
    this.expiryTimer = setInterval(() => this.expire(), 1000);
    this.expiryTimer.unref();
  }

  /** Counts a limit hit; logs it once per connection (when there is one) so a flood does not flood the logs. */
  limitHit(limit: string, session?: { log: Logger; loggedLimits?: Set<string> }, fields: Record<string, unknown> = {}): void {
    inc(this.counters.limitsHit, limit);
    if (!session) {
      // Refused connections have no connection to log once for: at most one line per limit per second, so a client
      // hammering an endpoint cannot flood the log (the metric still counts every hit).
      const now = Date.now();
      if (now - (this.refusalLogged.get(limit) ?? 0) < 1000) return;
      this.refusalLogged.set(limit, now);
      this.logger.warn({ event: 'rate_limited', limit, ...fields }, 'limit reached');
      return;
    }
    const seen = (session.loggedLimits ??= new Set());
    if (seen.has(limit)) return;
    seen.add(limit);
    session.log.warn({ event: 'rate_limited', limit, ...fields }, 'limit reached');
  }

  /** Checks `s` once a second until its `expire` says nothing of it expires any more (JWT `exp`, subscription tokens). */
  watchExpiry(s: Expiring): void {
    this.expiring.add(s);
  }

  unwatchExpiry(s: Expiring): void {
    this.expiring.delete(s);
  }

  /** Ends what expired, allowing the same clock skew as the token check (jwt.clockTolerance). */
  private expire(): void {
    const now = Date.now() - this.config.jwt.clockTolerance;
    for (const s of this.expiring) if (!s.expire(now)) this.expiring.delete(s);
  }

  get counters() {
    return this.telemetry.counters;
  }

  async start(): Promise<void> {
    await this.broker.start(this);
    this.state = 'ready';
    const registry = this.registry;
    if (registry) {
      const report = () => {
        registry.reportNode(this.report(), REPORT_INTERVAL_MS * 3).catch((err: unknown) => this.logger.debug({ err }, 'node report failed'));
      };
      report();
      this.reportTimer = setInterval(report, REPORT_INTERVAL_MS);
      this.reportTimer.unref();
    }
  }

  /** The broker's registry of live nodes, when it has one (Redis): aggregated online users and stats. */
  get registry(): NodeRegistry | undefined {
    const b = this.broker as Broker & Partial<NodeRegistry>;
    return b.reportNode && b.nodes ? (b as Broker & NodeRegistry) : undefined;
  }

  /** This node's users and stats, as reported to the others. */
  report(): NodeReport {
    const users: Record<string, number> = {};
    for (const u of this.hub.userIds()) users[u] = this.hub.connectionsOf(u);
    return { id: this.id, users, stats: this.stats(), ...this.reportedChannels() };
  }

  /** This node's channels with local subscriber counts, bounded by `redis.reportChannels` (the busiest kept). */
  private reportedChannels(): { channels: Record<string, number>; channelsTruncated: boolean } {
    const cap = this.config.redis.reportChannels;
    let list = this.hub.channelList();
    const channelsTruncated = list.length > cap;
    if (channelsTruncated) list = list.sort((a, b) => b.subscribers - a.subscribers).slice(0, cap);
    const channels: Record<string, number> = {};
    for (const c of list) channels[c.channel] = c.subscribers;
    return { channels, channelsTruncated };
  }

  isReady(): boolean {
    return this.state === 'ready' && this.broker.isReady();
  }

  // --- NodeServices -------------------------------------------------------------------------------------------

  joinChannel(channel: string, sub: ChannelSubscription): Promise<void> {
    if (this.hub.addSubscription(channel, sub)) {
      const p = this.broker.subscribe(channel);
      this.brokerSubs.set(channel, p);
      p.catch((err: unknown) => {
        this.logger.error({ err, channel }, 'broker subscribe failed');
        if (this.brokerSubs.get(channel) === p) this.brokerSubs.delete(channel);
      });
      return p;
    }
    return this.brokerSubs.get(channel) ?? Promise.resolve();
  }

  leaveChannel(channel: string, sub: ChannelSubscription): void {
    if (!this.hub.removeSubscription(channel, sub)) return;
    this.brokerSubs.delete(channel);
    this.broker.unsubscribe(channel).catch((err: unknown) => this.logger.warn({ err, channel }, 'broker unsubscribe failed'));
  }

  /**
   * Publishes through the broker. With tracing on, an `event_stream.publish` producer span (child of `parent`)
   * wraps it, and its context travels with the publication so every recipient can continue the trace; with tracing
   * off, a caller's own trace context is passed through unchanged.
   */
  async publish(channel: string, event: string, data: string, meta?: PublicationMeta, parent?: Context, write?: KeyedWrite): Promise<ServerPublication> {
    const rules = this.namespaces.rules(channel);
    if (!rules) throw new ReplyError(ErrorCode.UnknownNamespace, `channel "${channel}" is in a namespace this server does not declare (namespaces)`);
    const keyed = checkKeyedPublish(this.config, rules, channel, write);
    const req = { channel, event, data: write?.op === 'delete' ? 'null' : data, meta, history: rules.history, ...keyed };
    if (!this.telemetry.tracing) return this.timed('publish', this.broker.publish(req)).then(this.countPublication);
    const span = this.telemetry.tracer.startSpan(
      'event_stream.publish',
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'switchboard',
          'messaging.operation.type': 'publish',
          'messaging.operation.name': 'publish',
          'messaging.destination.name': channel,
          'messaging.message.body.size': Buffer.byteLength(data),
          'message.type': event,
          'message.size': Buffer.byteLength(data),
        },
      },
      parent ?? (meta?.traceparent ? extractContext(meta.traceparent, meta.tracestate) : ROOT_CONTEXT),
    );
    try {
      const pub = await this.timed('publish', this.broker.publish({ ...req, meta: { ...meta, ...traceContextOf(span) } }));
      span.setAttribute('messaging.message.id', `${pub.epoch}:${pub.offset}`);
      return this.countPublication(pub);
    } catch (err) {
      markError(span, 'connection', 'broker_publish_failed');
      throw err;
    } finally {
      span.end();
    }
  }

  /** History through the broker, timed; a `history.read` span under `parent` when tracing. */
  history(channel: string, query: HistoryQuery, parent?: Context): Promise<HistoryPage> {
    return this.traced('history.read', channel, parent, () => this.timed('history', this.broker.history(channel, query)), (h) => h.publications.length);
  }

  /** A page of a keyed channel's state through the broker, timed; a `state.read` span under `parent` when tracing. */
  keyedState(channel: string, query: StateQuery, parent?: Context): Promise<StatePage> {
    return this.traced('state.read', channel, parent, () => this.timed('state', this.broker.state(channel, query)), (p) => p.publications.length);
  }

  /** Presence through the broker, timed; a `presence.get` span under `parent` when tracing. */
  presence(channel: string, parent?: Context): Promise<Member[]> {
    return this.traced('presence.get', channel, parent, () => this.timed('presence', this.broker.presence(channel)), (m) => m.length);
  }

  private async traced<T>(name: string, channel: string, parent: Context | undefined, run: () => Promise<T>, count: (v: T) => number): Promise<T> {
    if (!parent || !this.telemetry.tracing) return run();
    const span = this.telemetry.tracer.startSpan(name, { attributes: { 'messaging.destination.name': channel } }, parent);
    try {
      const v = await run();
      span.setAttribute('result.count', count(v));
      return v;
    } catch (err) {
      markError(span, 'connection', 'broker_failed');
      throw err;
    } finally {
      span.end();
    }
  }

  private readonly countPublication = (pub: ServerPublication): ServerPublication => {
    this.counters.publications++;
    return pub;
  };

  /** Times a broker operation and counts its failures. */
  timed<T>(operation: string, p: Promise<T>): Promise<T> {
    const start = performance.now();
    return p.then(
      (v) => {
        this.telemetry.histograms.brokerDuration.record((performance.now() - start) / 1000, { operation });
        return v;
      },
      (err: unknown) => {
        inc(this.counters.brokerErrors, operation);
        throw err;
      },
    );
  }

  sendToUser(user: string, event: string, data: string, meta?: PublicationMeta, from?: string): Promise<void> {
    return this.broker.publishControl({ kind: 'user-message', user, event, data, time: Date.now(), ...(meta ? { meta } : {}), ...(from !== undefined ? { from } : {}) });
  }

  disconnectUser(user: string, code = Disconnects.ForceDisconnect.code, reason = Disconnects.ForceDisconnect.reason): Promise<void> {
    return this.broker.publishControl({ kind: 'disconnect-user', user, code, reason });
  }

  // --- BrokerHandler ------------------------------------------------------------------------------------------

  onPublication(pub: ServerPublication): void {
    const tel = this.telemetry;
    if (!tel.tracing || pub.meta?.traceparent === undefined) {
      const n = this.hub.publish(pub);
      this.counted(pub, n);
      return;
    }
    const span = tel.tracer.startSpan(
      'hub.broadcast',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'switchboard',
          'messaging.operation.type': 'process',
          'messaging.destination.name': pub.channel,
          'messaging.message.id': `${pub.epoch}:${pub.offset}`,
          'message.type': pub.event,
          'message.size': Buffer.byteLength(pub.data),
          'clients.count': this.hub.subscriberCount(pub.channel),
        },
      },
      extractContext(pub.meta.traceparent, pub.meta.tracestate),
    );
    const dropsBefore = this.counters.drops;
    const parent = trace.setSpan(ROOT_CONTEXT, span);
    const n = this.hub.publish(pub, this.writeSampleStride, (subscriber, size) => {
      const w = tel.tracer.startSpan(
        subscriber.transport === 'sse' ? 'sse.send_message' : 'websocket.write_message',
        // Two attributes only: a write span is the one span whose count scales with recipients.
        { attributes: { 'client.id': subscriber.id, 'message.size': size } },
        parent,
      );
      subscriber.traceWrite(w);
    }, tel.maxWriteSpans);
    const dropped = this.counters.drops - dropsBefore;
    span.setAttributes({ delivered: n - dropped, dropped });
    span.end();
    this.counted(pub, n);
  }

  private counted(pub: ServerPublication, recipients: number): void {
    if (recipients === 0) return;
    this.counters.deliveries += recipients;
    this.telemetry.histograms.fanoutSize.record(recipients);
    this.scheduler.noteWritten(pub.time);
  }

  onJoin(channel: string, member: Member): void {
    this.hub.memberEvent(channel, 'join', memberEventJson('join', channel, member), member.client);
  }

  onLeave(channel: string, member: Member): void {
    this.hub.memberEvent(channel, 'leave', memberEventJson('leave', channel, member), member.client);
  }

  onGap(channel: string): void {
    const n = this.hub.disconnectChannel(channel, Disconnects.InsufficientState);
    // debug: the broker logs one line per recovery, whatever the number of channels.
    this.logger.debug({ event: 'publication_gap', channel, subscribers: n }, 'publications missed while reconnecting to the broker; disconnecting the channel\'s subscribers so they resume');
  }

  onControl(msg: ControlMessage): void {
    if (msg.kind === 'user-message') {
      this.hub.sendToUser(msg.user, msg.event, directMessageJson(msg));
    } else if (msg.kind === 'disconnect-user') {
      this.hub.disconnectUser(msg.user, { code: msg.code, reason: msg.reason, reconnect: reconnects(msg.code) });
    }
  }

  // --- Lifecycle ----------------------------------------------------------------------------------------------

  /** Ends every connection with the shutdown code (clients reconnect elsewhere) and flushes what is queued. */
  drain(): void {
    this.state = 'draining';
    for (const s of this.hub.all()) s.disconnect(Disconnects.Shutdown);
    this.scheduler.flushNow();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearInterval(this.expiryTimer);
    if (this.reportTimer) clearInterval(this.reportTimer);
    await this.broker.close();
    await this.telemetry.shutdown();
  }

  /** Gauges read by the metrics exporter on each collection. */
  gauges(): MetricGauges {
    const h = this.hub.stats();
    const b = (this.broker as { stats?: () => { channels: number; publications: number; bytes?: number; evictedPublications?: number } }).stats?.();
    const { subscriberReplacements: replaced, commandReplacements } = this.broker as { subscriberReplacements?: unknown; commandReplacements?: unknown };
    return {
      connectionsByTransport: h.connectionsByTransport,
      channels: h.channels,
      subscriptions: h.subscriptions,
      users: h.users,
      ...(b ? { historyChannels: b.channels, historyPublications: b.publications, historyBytes: b.bytes, historyEvictions: b.evictedPublications } : {}),
      brokerSubscriberReplacements: typeof replaced === 'number' ? replaced : 0, // 0: the memory broker has no connection to replace
      brokerCommandReplacements: typeof commandReplacements === 'number' ? commandReplacements : 0,
      encodings: encodeCounts,
      ready: this.isReady(),
    };
  }

  stats(): Record<string, unknown> {
    return {
      node: this.id,
      state: this.state,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      broker: this.broker.kind,
      ...this.hub.stats(),
      messagesIn: this.counters.messagesReceived,
      publications: this.counters.publications,
      deliveries: this.counters.deliveries,
      drops: this.counters.drops,
      slowDisconnects: this.counters.slowDisconnects,
      writeRounds: this.scheduler.rounds,
      delayedWriteRounds: this.scheduler.delayedRounds,
    };
  }
}
