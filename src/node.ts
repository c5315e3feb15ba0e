import type { Authenticator } from './auth/identity.js';
import type { Broker, BrokerHandler, ControlMessage } from './broker/broker.js';
import type { Config } from './config/index.js';
import { newNodeId } from './core/ids.js';
import { Hub, type ChannelSubscription } from './hub/hub.js';
import type { Logger } from './observability/logger.js';
import {
  Disconnects,
  directMessageJson,
  memberEventJson,
  type Member,
  type Publication,
  type PublicationMeta,
} from './protocol/index.js';
import { FlushScheduler } from './session/flush.js';
import type { NodeServices } from './session/services.js';

export type NodeState = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * One Switchboard node: owns the broker, the hub and the write scheduler, and connects them. Transports hand it
 * sessions; the HTTP API calls its operations.
 */
export class SwitchboardNode implements NodeServices, BrokerHandler {
  readonly id = newNodeId();
  readonly hub = new Hub();
  readonly scheduler: FlushScheduler;
  readonly startedAt = Date.now();
  state: NodeState = 'starting';
  /** Broker subscriptions of this node, one per channel with local subscribers, shared while pending. */
  private readonly brokerSubs = new Map<string, Promise<void>>();
  readonly counters = { messagesIn: 0, publishes: 0, slowDisconnects: 0 };

  constructor(
    readonly config: Config,
    readonly broker: Broker,
    readonly logger: Logger,
    readonly authenticator: Authenticator,
  ) {
    this.scheduler = new FlushScheduler(config.delivery.maxWriteDelay);
  }

  async start(): Promise<void> {
    await this.broker.start(this);
    this.state = 'ready';
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

  publish(channel: string, event: string, data: string, meta?: PublicationMeta): Promise<Publication> {
    this.counters.publishes++;
    const h = this.config.history;
    return this.broker.publish({ channel, event, data, meta, history: { size: h.size, ttlMs: h.ttl } });
  }

  sendToUser(user: string, event: string, data: string, meta?: PublicationMeta): Promise<void> {
    return this.broker.publishControl({ kind: 'user-message', user, event, data, time: Date.now(), ...(meta ? { meta } : {}) });
  }

  disconnectUser(user: string, code = Disconnects.ForceDisconnect.code, reason = Disconnects.ForceDisconnect.reason): Promise<void> {
    return this.broker.publishControl({ kind: 'disconnect-user', user, code, reason });
  }

  // --- BrokerHandler ------------------------------------------------------------------------------------------

  onPublication(pub: Publication): void {
    this.hub.publish(pub);
  }

  onJoin(channel: string, member: Member): void {
    this.hub.memberEvent(channel, 'join', memberEventJson('join', channel, member), member.client);
  }

  onLeave(channel: string, member: Member): void {
    this.hub.memberEvent(channel, 'leave', memberEventJson('leave', channel, member), member.client);
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
    await this.broker.close();
  }

  stats(): Record<string, unknown> {
    return {
      node: this.id,
      state: this.state,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      broker: this.broker.kind,
      ...this.hub.stats(),
      messagesIn: this.counters.messagesIn,
      publications: this.counters.publishes,
      publicationsDelivered: this.hub.counters.publicationsIn,
      messagesOut: this.hub.counters.deliveries,
      writeRounds: this.scheduler.rounds,
      delayedWriteRounds: this.scheduler.delayedRounds,
    };
  }
}
