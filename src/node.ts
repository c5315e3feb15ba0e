import type { Authenticator } from './auth/identity.js';
import { ProxyBackend } from './auth/proxy/backend.js';
import { ChannelProxies } from './auth/proxy/channel-proxies.js';
import type { Broker } from './broker/broker.js';
import type { Config } from './config/index.js';
import { ClientAddress } from './core/client-address.js';
import { newNodeId } from './core/ids.js';
import type { TraceContext } from './core/trace-context.js';
import { Hub, type ChannelSubscription, type Subscriber } from './hub/hub.js';
import { NodeChannels } from './node/channels.js';
import { ConnectionQueries, type NodeConnections } from './node/connection-query.js';
import { publishRequest } from './node/publish-request.js';
import { noNodeEvents, type NodeEvents } from './node/events.js';
import type { Logger } from './observability/logger.js';
import { LimitLog, type LimitLogged } from './observability/limit-log.js';
import type { Telemetry } from './observability/telemetry.js';
import { createTracingPorts } from './observability/tracing-ports.js';
import { BrokerEvents } from './node/broker-events.js';
import { BrokerCalls } from './node/broker-calls.js';
import { Disconnects, unknownNamespace, type Member, type ServerPublication, type PublicationMeta } from './protocol/index.js';
import { FlushScheduler } from './delivery/flush.js';
import { Namespaces } from './core/namespaces.js';
import type { ConnectionTelemetry } from './session/connection-telemetry.js';
import { ExpiryWatch, type Expiring } from './session/expiry.js';
import type { KeyedWrite, NodeServices } from './session/services.js';
import type { Session } from './session/session.js';
import type { TransportHost } from './transport/host.js';
import type { TransportTelemetry } from './transport/telemetry.js';

export type NodeState = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * One Switchboard node: owns the broker, the hub and the write scheduler, and connects them. Transports hand it
 * sessions; the HTTP API calls its operations.
 */
export class SwitchboardNode extends BrokerCalls implements NodeServices, TransportHost {
  readonly hub = new Hub();
  readonly scheduler: FlushScheduler;
  readonly startedAt = Date.now();
  state: NodeState = 'starting';
  readonly namespaces: Namespaces;
  /** Client addresses, read through trusted proxies (`proxy.trusted`). */
  readonly clientAddress: ClientAddress;
  /** Limit hits: counted, and logged once per connection or once per second per limit. */
  private readonly limits: LimitLog;
  /** Connections with credentials or subscriptions that expire, checked once a second. */
  private readonly expiry: ExpiryWatch;
  /** Spans at connection lifecycle edges, for sessions (no-op when tracing is off). */
  readonly connectionTelemetry: ConnectionTelemetry;
  /** The subscribe, publish and rpc proxies (docs/proxy.md). */
  readonly proxies: ChannelProxies;
  /** Handshake spans, for transports (no-op when tracing is off). */
  readonly transportTelemetry: TransportTelemetry;
  /** The broker's handler: fan-out, member events, gaps, control messages (src/node/broker-events.ts). */
  readonly events: BrokerEvents;
  /** A user's connections on every node (operator reads), over the broker's control channel. */
  private readonly connectionQueries: ConnectionQueries;
  /** Broker subscriptions following local ones; channel, member and publication reports (src/node/channels.ts). */
  private readonly channels: NodeChannels;

  constructor(
    readonly config: Config,
    broker: Broker,
    readonly logger: Logger,
    readonly authenticator: Authenticator,
    telemetry: Telemetry,
    readonly id: string = newNodeId(),
    /** Where lifecycle events go (webhooks); nowhere by default. */
    private readonly lifecycle: NodeEvents = noNodeEvents,
    proxyBackend: ProxyBackend = new ProxyBackend(config.proxy),
  ) {
    let hubCount = (): number => 0;
    const tracing = createTracingPorts(telemetry, () => hubCount());
    // Spans per publication and per traced read (no-op when tracing is off).
    super(broker, telemetry, tracing.publish);
    this.proxies = new ChannelProxies(proxyBackend, config.proxy.cacheMaxBytes);
    const h = telemetry.histograms.publishToWrite;
    this.scheduler = new FlushScheduler(config.delivery.maxWriteDelay, (acceptedAt) => h.record((Date.now() - acceptedAt) / 1000));
    // `clients.total` on connection spans: this node's connections at that moment (the hub exists only after super()).
    hubCount = () => this.hub.connectionCount;
    this.connectionTelemetry = tracing.connections;
    this.transportTelemetry = tracing.handshakes;
    this.namespaces = new Namespaces(config);
    this.clientAddress = new ClientAddress(config.proxy.trusted);
    this.limits = new LimitLog(telemetry.counters, logger);
    this.expiry = new ExpiryWatch(config.jwt.clockTolerance);
    this.connectionQueries = new ConnectionQueries(id, (m) => broker.publishControl(m), (u) => this.hub.connectionsOfUser(u).map((s) => s.view()));
    this.channels = new NodeChannels(this.hub, broker, lifecycle, logger);
    this.events = new BrokerEvents(this.hub, this.publishTracing, telemetry, this.scheduler, logger, (m) => this.connectionQueries.onControl(m));
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
    this.lifecycle.clientConnected(session);
  }

  changeUser(s: Subscriber, change: () => void): void {
    this.hub.unregister(s);
    change();
    this.hub.register(s);
  }

  detach(s: Subscriber & Expiring): void {
    if (this.hub.unregister(s)) this.lifecycle.clientDisconnected(s);
    this.expiry.unwatch(s);
  }

  async start(): Promise<void> {
    await this.broker.start(this.events);
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
    return this.channels.join(channel, sub);
  }

  leaveChannel(channel: string, sub: ChannelSubscription): void {
    this.channels.leave(channel, sub);
  }

  /**
   * Publishes through the broker. With tracing on, an `event_stream.publish` producer span (child of `parent`)
   * wraps it, and its context travels with the publication so every recipient can continue the trace; with tracing
   * off, a caller's own trace context is passed through unchanged.
   */
  publish(channel: string, event: string, data: string, meta?: PublicationMeta, parent?: TraceContext, write?: KeyedWrite, idempotencyKey?: string): Promise<ServerPublication> {
    // Not an async function, which would wrap the broker's promise in one more, settled turns later: a refusal
    // thrown here is returned as a rejection all the same.
    try {
      const rules = this.namespaces.rules(channel);
      if (!rules) throw unknownNamespace(channel);
      const req = publishRequest(this.config, rules, channel, event, data, meta, write, idempotencyKey);
      const p = this.publishTracing.publish(req, data, parent, this.brokerPublish).then(this.countPublication);
      return rules.webhookPublications ? p.then(this.channels.reportPublication) : p;
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Presence add and remove are reported to the lifecycle port when the session asks, whatever the broker answers. */
  override addPresence(channel: string, member: Member): Promise<void> {
    this.channels.memberAdded(channel, member);
    return super.addPresence(channel, member);
  }

  override removePresence(channel: string, clientId: string): Promise<void> {
    this.channels.memberGone(channel, clientId);
    return super.removePresence(channel, clientId);
  }

  /** The demo producer's publish: a root `stream.push_data` span per tick (as seed 002 has), one trace per sample. */
  pushData(channel: string, event: string, data: string): Promise<ServerPublication> {
    return this.publishTracing.pushData(channel, event, (parent) => this.publish(channel, event, data, undefined, parent));
  }

  /** The user's connections on every node (node/connection-query.ts); late nodes are listed in `missing`. */
  userConnections(user: string): Promise<{ nodes: NodeConnections[]; missing: string[] }> {
    return this.connectionQueries.ofUser(user, this.broker.registry);
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
