import type { Authenticator } from './auth/identity.js';
import type { Broker } from './broker/broker.js';
import { checkKeyedPublish, type KeyedWrite } from './session/keyed.js';
import type { Config } from './config/index.js';
import { ClientAddress } from './core/client-address.js';
import { newNodeId } from './core/ids.js';
import type { TraceContext } from './core/trace-context.js';
import { Hub, type ChannelSubscription, type Subscriber } from './hub/hub.js';
import type { Logger } from './observability/logger.js';
import { LimitLog, type LimitLogged } from './observability/limit-log.js';
import type { Telemetry } from './observability/telemetry.js';
import { createTracingPorts } from './observability/tracing-ports.js';
import { BrokerEvents } from './node/broker-events.js';
import { BrokerCalls } from './node/broker-calls.js';
import {
  Disconnects,
  ErrorCode,
  ReplyError,
  type ServerPublication,
  type PublicationMeta,
} from './protocol/index.js';
import { FlushScheduler } from './delivery/flush.js';
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
export class SwitchboardNode extends BrokerCalls implements NodeServices, TransportHost {
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
  /** Spans at connection lifecycle edges, for sessions (no-op when tracing is off). */
  readonly connectionTelemetry: ConnectionTelemetry;
  /** Handshake spans, for transports (no-op when tracing is off). */
  readonly transportTelemetry: TransportTelemetry;
  /** The broker's handler: fan-out, member events, gaps, control messages (src/node/broker-events.ts). */
  readonly events: BrokerEvents;

  constructor(
    readonly config: Config,
    broker: Broker,
    readonly logger: Logger,
    readonly authenticator: Authenticator,
    telemetry: Telemetry,
    readonly id: string = newNodeId(),
  ) {
    const tracing = createTracingPorts(telemetry);
    // Spans per publication and per traced read (no-op when tracing is off).
    super(broker, telemetry, tracing.publish);
    const h = telemetry.histograms.publishToWrite;
    this.scheduler = new FlushScheduler(config.delivery.maxWriteDelay, (acceptedAt) => h.record((Date.now() - acceptedAt) / 1000));
    this.connectionTelemetry = tracing.connections;
    this.transportTelemetry = tracing.handshakes;
    this.namespaces = new Namespaces(config);
    this.clientAddress = new ClientAddress(config.proxy.trusted);
    this.limits = new LimitLog(telemetry.counters, logger);
    this.expiry = new ExpiryWatch(config.jwt.clockTolerance);
    this.events = new BrokerEvents(this.hub, this.publishTracing, telemetry, this.scheduler, logger);
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

  changeUser(s: Subscriber, change: () => void): void {
    this.hub.unregister(s);
    change();
    this.hub.register(s);
  }

  detach(s: Subscriber & Expiring): void {
    this.hub.unregister(s);
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

  sendToUser(user: string, event: string, data: string, meta?: PublicationMeta, from?: string): Promise<void> {
    return this.broker.publishControl({ kind: 'user-message', user, event, data, time: Date.now(), ...(meta ? { meta } : {}), ...(from !== undefined ? { from } : {}) });
  }

  disconnectUser(user: string, code = Disconnects.ForceDisconnect.code, reason = Disconnects.ForceDisconnect.reason): Promise<void> {
    return this.broker.publishControl({ kind: 'disconnect-user', user, code, reason });
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
