import type { Authenticator } from './auth/identity.js';
import { ProxyBackend } from './auth/proxy/backend.js';
import { ChannelProxies } from './auth/proxy/channel-proxies.js';
import type { Broker, BrokerHandler, ControlMessage, HistoryQuery, HistoryPage, PublishRequest, StatePage, StateQuery } from './broker/broker.js';
import { checkKeyedPublish, type KeyedWrite } from './session/keyed.js';
import type { Config } from './config/index.js';
import { ClientAddress } from './core/client-address.js';
import { newNodeId } from './core/ids.js';
import type { TraceContext } from './core/trace-context.js';
import { Hub, type ChannelSubscription, type Subscriber } from './hub/hub.js';
import type { Logger } from './observability/logger.js';
import { inc } from './observability/counters.js';
import { LimitLog, type LimitLogged } from './observability/limit-log.js';
import type { PublishTracing } from './observability/publish-tracing.js';
import type { Telemetry } from './observability/telemetry.js';
import { createTracingPorts } from './observability/tracing-ports.js';
import {
  Disconnects,
  ErrorCode,
  ReplyError,
  directMessageJson,
  memberEventJson,
  type Member,
  type ServerPublication,
  type PublicationMeta,
} from './protocol/index.js';
import { FlushScheduler } from './session/flush.js';
import { Namespaces } from './core/namespaces.js';
import type { ConnectionTelemetry } from './session/connection-telemetry.js';
import { ExpiryWatch, type Expiring } from './session/expiry.js';
import type { NodeServices } from './session/services.js';
import type { Session } from './session/session.js';
import type { TransportHost } from './transport/host.js';
import type { TransportTelemetry } from './transport/telemetry.js';

export type NodeState = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * One Switchboard node: owns the broker, the hub and the write scheduler, and connects them. Transports hand it
 * sessions; the HTTP API calls its operations.
 */
export class SwitchboardNode implements NodeServices, TransportHost, BrokerHandler {
  readonly hub = new Hub();
  readonly scheduler: FlushScheduler;
  readonly startedAt = Date.now();
  state: NodeState = 'starting';
  /** Broker subscriptions of this node, one per channel with local subscribers, shared while pending. */
  private readonly brokerSubs = new Map<string, Promise<void>>();
  readonly namespaces: Namespaces;
  /** Client addresses, read through trusted proxies (`proxy.trusted`). */
  readonly clientAddress: ClientAddress;
  /** Limit hits: counted, and logged once per connection or once per second per limit. */
  private readonly limits: LimitLog;
  /** Connections with credentials or subscriptions that expire, checked once a second. */
  private readonly expiry: ExpiryWatch;
  /** Spans per publication (no-op when tracing is off). */
  private readonly publishTracing: PublishTracing;
  /** Spans at connection lifecycle edges, for sessions (no-op when tracing is off). */
  readonly connectionTelemetry: ConnectionTelemetry;
  /** The subscribe, publish and rpc proxies (docs/proxy.md). */
  readonly proxies: ChannelProxies;
  /** Handshake spans, for transports (no-op when tracing is off). */
  readonly transportTelemetry: TransportTelemetry;

  constructor(
    readonly config: Config,
    readonly broker: Broker,
    readonly logger: Logger,
    readonly authenticator: Authenticator,
    readonly telemetry: Telemetry,
    readonly id: string = newNodeId(),
    proxyBackend: ProxyBackend = new ProxyBackend(config.proxy),
  ) {
    this.proxies = new ChannelProxies(proxyBackend, config.proxy.cacheMaxBytes);
    const h = telemetry.histograms.publishToWrite;
    this.scheduler = new FlushScheduler(config.delivery.maxWriteDelay, (acceptedAt) => h.record((Date.now() - acceptedAt) / 1000));
    const tracing = createTracingPorts(telemetry);
    this.publishTracing = tracing.publish;
    this.connectionTelemetry = tracing.connections;
    this.transportTelemetry = tracing.handshakes;
    this.namespaces = new Namespaces(config);
    this.clientAddress = new ClientAddress(config.proxy.trusted);
    this.limits = new LimitLog(telemetry.counters, logger);
    this.expiry = new ExpiryWatch(config.jwt.clockTolerance);
  }

  /** Counts a limit hit; logs it once per connection (when there is one) so a flood does not flood the logs. */
  limitHit(limit: string, session?: LimitLogged, fields?: Record<string, unknown>): void {
    this.limits.hit(limit, session, fields);
  }

  /** Checks `s` once a second until its `expire` says nothing of it expires any more (JWT `exp`, subscription tokens). */
  watchExpiry(s: Expiring): void {
    this.expiry.watch(s);
  }

  // --- Connection lifecycle: the node alone registers a connection (attach, called by its transport once the
  // handshake succeeded) and unregisters it (detach, called by the session's cleanup when it ends). ---------------

  /** What a transport hands the sessions it makes. */
  get services(): NodeServices {
    return this;
  }

  attach(session: Session): void {
    this.hub.register(session);
    this.connectionTelemetry.connected(session);
  }

  detach(s: Subscriber & Expiring): void {
    this.hub.unregister(s);
    this.expiry.unwatch(s);
  }

  get counters() {
    return this.telemetry.counters;
  }

  async start(): Promise<void> {
    await this.broker.start(this);
    this.state = 'ready';
  }

  isReady(): boolean {
    return this.state === 'ready' && this.broker.isReady();
  }

  // --- NodeServices -------------------------------------------------------------------------------------------

  subscriberCount(channel: string): number {
    return this.hub.subscriberCount(channel);
  }

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
  async publish(channel: string, event: string, data: string, meta?: PublicationMeta, parent?: TraceContext, write?: KeyedWrite): Promise<ServerPublication> {
    const rules = this.namespaces.rules(channel);
    if (!rules) throw new ReplyError(ErrorCode.UnknownNamespace, `channel "${channel}" is in a namespace this server does not declare (namespaces)`);
    const keyed = checkKeyedPublish(this.config, rules, channel, write);
    const req = { channel, event, data: write?.op === 'delete' ? 'null' : data, meta, history: rules.history, ...keyed };
    return this.publishTracing.publish(req, data, parent, this.brokerPublish).then(this.countPublication);
  }

  /** The broker publish, timed (made once: the publish path allocates no closure for it). */
  private readonly brokerPublish = (req: PublishRequest): Promise<ServerPublication> => this.timed('publish', this.broker.publish(req));

  /** History through the broker, timed; a `history.read` span under `parent` when tracing. */
  history(channel: string, query: HistoryQuery, parent?: TraceContext): Promise<HistoryPage> {
    return this.publishTracing.read('history.read', channel, parent, () => this.timed('history', this.broker.history(channel, query)), (h) => h.publications.length);
  }

  /** A page of a keyed channel's state through the broker, timed; a `state.read` span under `parent` when tracing. */
  keyedState(channel: string, query: StateQuery, parent?: TraceContext): Promise<StatePage> {
    return this.publishTracing.read('state.read', channel, parent, () => this.timed('state', this.broker.state(channel, query)), (p) => p.publications.length);
  }

  /** Presence through the broker, timed; a `presence.get` span under `parent` when tracing. */
  presence(channel: string, parent?: TraceContext): Promise<Member[]> {
    return this.publishTracing.read('presence.get', channel, parent, () => this.timed('presence', this.broker.presence(channel)), (m) => m.length);
  }

  addPresence(channel: string, member: Member): Promise<void> {
    return this.timed('presence_add', this.broker.addPresence(channel, member));
  }

  removePresence(channel: string, clientId: string): Promise<void> {
    return this.timed('presence_remove', this.broker.removePresence(channel, clientId));
  }

  publishJoin(channel: string, member: Member): Promise<void> {
    return this.timed('join', this.broker.publishJoin(channel, member));
  }

  publishLeave(channel: string, member: Member): Promise<void> {
    return this.timed('leave', this.broker.publishLeave(channel, member));
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
    // Tracing off: straight to the hub's fan-out loop. On: a `hub.broadcast` span and sampled write spans.
    this.counted(pub, this.publishTracing.broadcast(pub, this.hub));
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
      this.hub.disconnectUser(msg.user, { code: msg.code, reason: msg.reason, reconnect: msg.code < 4500 });
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
    this.expiry.stop();
    await this.broker.close();
    await this.telemetry.shutdown();
  }
}
