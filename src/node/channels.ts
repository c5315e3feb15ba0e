/**
 * What the node does when a local subscription or a presence member comes and goes: the broker subscription of a
 * channel follows its local subscribers (one per channel, shared while pending), and the lifecycle port
 * (node/events.ts: webhooks) hears of a channel's first and last local subscriber, of members added and removed,
 * and of the publications of namespaces that report them. Subscribe, presence and publish only: never per delivery.
 */
import { isReplay, type Broker } from '../broker/broker.js';
import type { ChannelSubscription, Hub } from '../hub/hub.js';
import type { Logger } from '../observability/logger.js';
import type { Member, ServerPublication } from '../protocol/index.js';
import { noNodeEvents, type NodeEvents } from './events.js';

export class NodeChannels {
  /** Broker subscriptions of this node, one per channel with local subscribers, shared while pending. */
  private readonly brokerSubs = new Map<string, Promise<void>>();
  /**
   * Presence members by `channel client` while someone listens to lifecycle events, so a removal (which names only
   * the connection) can say whose it was. Bounded like presence itself: connections × client.maxSubscriptions.
   */
  private readonly members = new Map<string, Member>();

  constructor(
    private readonly hub: Hub,
    private readonly broker: Broker,
    private readonly lifecycle: NodeEvents,
    private readonly logger: Logger,
  ) {}

  /** Adds a local subscription; resolves once the broker delivers the channel's publications to this node. */
  join(channel: string, sub: ChannelSubscription): Promise<void> {
    if (this.hub.addSubscription(channel, sub)) {
      this.lifecycle.localChannel(channel, true);
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

  /** Removes a local subscription; the channel's last one takes the broker subscription with it. */
  leave(channel: string, sub: ChannelSubscription): void {
    // A member leaves before its channel can be vacated (the session removes presence after this call).
    this.memberGone(channel, sub.subscriber.id);
    if (!this.hub.removeSubscription(channel, sub)) return;
    this.lifecycle.localChannel(channel, false);
    this.brokerSubs.delete(channel);
    this.broker.unsubscribe(channel).catch((err: unknown) => this.logger.warn({ err, channel }, 'broker unsubscribe failed'));
  }

  /**
   * Reported when the session adds the member (not when the broker answers), so a leave that comes before the
   * answer is still reported after the arrival and before the channel is vacated.
   */
  memberAdded(channel: string, member: Member): void {
    if (this.lifecycle === noNodeEvents) return;
    const key = channel + ' ' + member.client;
    if (this.members.has(key)) return;
    this.members.set(key, member);
    this.lifecycle.memberAdded(channel, member);
  }

  /** Reports the member's removal if it was reported added (once), at once, whatever the broker answers. */
  memberGone(channel: string, clientId: string): void {
    if (this.members.size === 0) return;
    const key = channel + ' ' + clientId;
    const member = this.members.get(key);
    if (!member) return;
    this.members.delete(key);
    this.lifecycle.memberRemoved(channel, member);
  }

  /** Reports an accepted publication (made once: the publish path allocates no closure for it). */
  readonly reportPublication = (pub: ServerPublication): ServerPublication => {
    // A replay of an idempotent publish published nothing: nothing to report.
    if (!isReplay(pub)) this.lifecycle.published(pub);
    return pub;
  };
}
