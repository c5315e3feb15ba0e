import type { Disconnect } from '../protocol/index.js';
import { EncodedPublication } from '../delivery/encoded.js';
import type { ServerPublication } from '../protocol/index.js';
import type { DeliverySampler } from './sampler.js';
import type { ChannelSubscription, Subscriber } from './subscriber.js';

export type { ChannelSubscription, ConnectionView, Subscriber, WriteWatch } from './subscriber.js';
export type { DeliverySampler } from './sampler.js';

interface ChannelEntry {
  readonly subs: Set<ChannelSubscription>;
}

/**
 * The node-local index: connections by id and by user, subscriptions by channel. Fan-out touches only the
 * channel's own subscribers and encodes each publication once.
 */
export class Hub {
  private readonly clients = new Map<string, Subscriber>();
  /**
   * A user's connections: the one connection itself while it is the user's only one (most users: a Set per
   * connection was ~0.15 KiB of its idle memory), a Set from the second on.
   */
  private readonly byUser = new Map<string, Subscriber | Set<Subscriber>>();
  private readonly byTransport = new Map<string, number>();
  private readonly channels = new Map<string, ChannelEntry>();
  private subscriptionCount = 0;

  register(s: Subscriber): void {
    this.clients.set(s.id, s);
    const had = this.byUser.get(s.userId);
    if (had === undefined) this.byUser.set(s.userId, s);
    else if (had instanceof Set) had.add(s);
    else if (had !== s) this.byUser.set(s.userId, new Set([had, s]));
    this.byTransport.set(s.transport, (this.byTransport.get(s.transport) ?? 0) + 1);
  }

  /**
   * Removes the connection from the id and user indexes; false when it was not registered. Its channel
   * subscriptions are removed by the session.
   */
  unregister(s: Subscriber): boolean {
    if (!this.clients.delete(s.id)) return false;
    const had = this.byUser.get(s.userId);
    if (had === s) this.byUser.delete(s.userId);
    else if (had instanceof Set) {
      had.delete(s);
      if (had.size === 1) this.byUser.set(s.userId, had.values().next().value!);
    }
    this.byTransport.set(s.transport, (this.byTransport.get(s.transport) ?? 1) - 1);
    return true;
  }

  /** Adds a subscription; returns true when it is the channel's first on this node (the node must subscribe the broker). */
  addSubscription(channel: string, sub: ChannelSubscription): boolean {
    let entry = this.channels.get(channel);
    const first = entry === undefined;
    if (!entry) this.channels.set(channel, (entry = { subs: new Set() }));
    if (!entry.subs.has(sub)) {
      entry.subs.add(sub);
      this.subscriptionCount++;
    }
    return first;
  }

  /** Removes a subscription; returns true when the channel has no subscriber left on this node (it disappears). */
  removeSubscription(channel: string, sub: ChannelSubscription): boolean {
    const entry = this.channels.get(channel);
    if (!entry || !entry.subs.delete(sub)) return false;
    this.subscriptionCount--;
    if (entry.subs.size > 0) return false;
    this.channels.delete(channel);
    return true;
  }

  /**
   * Fans a publication out to this node's subscribers of its channel; returns how many. With a `sampler` whose
   * stride k > 0, every k-th recipient (from a random start), at most `sampler.max` of them (0: no limit), is reported
   * to it right after its delivery. Without one (tracing off) this is one loop of `deliver`.
   */
  publish(pub: ServerPublication, sampler?: DeliverySampler): number {
    const entry = this.channels.get(pub.channel);
    if (!entry) return 0;
    const enc = new EncodedPublication(pub);
    const stride = sampler === undefined ? 0 : sampler.stride;
    if (stride > 0) {
      let countdown = 1 + Math.floor(Math.random() * stride);
      let left = sampler!.max > 0 ? sampler!.max : Infinity;
      for (const sub of entry.subs) {
        sub.deliver(enc);
        if (--countdown === 0 && left > 0) {
          countdown = stride;
          left--;
          sampler!.sampled(sub.subscriber, enc.json.length);
        }
      }
    } else {
      for (const sub of entry.subs) sub.deliver(enc);
    }
    return entry.subs.size;
  }

  /** A join or leave in a channel, to its local subscribers except the member itself. */
  memberEvent(channel: string, event: 'join' | 'leave', json: string, exceptClient?: string): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    for (const sub of entry.subs) {
      if (sub.subscriber.id !== exceptClient) sub.subscriber.deliverMemberEvent(channel, event, json);
    }
  }

  /** Delivers to every local connection of a user; returns how many. */
  sendToUser(userId: string, event: string, json: string): number {
    const had = this.byUser.get(userId);
    if (had === undefined) return 0;
    if (!(had instanceof Set)) {
      had.deliverDirect(event, json);
      return 1;
    }
    for (const s of had) s.deliverDirect(event, json);
    return had.size;
  }

  /** Disconnects every local connection of a user; returns how many. */
  disconnectUser(userId: string, d: Disconnect): number {
    const list = this.connectionsOfUser(userId);
    for (const s of list) s.disconnect(d);
    return list.length;
  }

  /** Disconnects one local connection by id; false when it is not on this node. */
  disconnectClient(clientId: string, d: Disconnect): boolean {
    const s = this.clients.get(clientId);
    if (!s) return false;
    s.disconnect(d);
    return true;
  }

  /** The local connections of a user (a copy). */
  connectionsOfUser(userId: string): Subscriber[] {
    const had = this.byUser.get(userId);
    return had === undefined ? [] : had instanceof Set ? [...had] : [had];
  }

  /** Disconnects every local subscriber of a channel (each once, its other channels included); returns how many. */
  disconnectChannel(channel: string, d: Disconnect): number {
    const entry = this.channels.get(channel);
    if (!entry) return 0;
    const list = [...new Set([...entry.subs].map((s) => s.subscriber))];
    for (const s of list) s.disconnect(d);
    return list.length;
  }

  /** Local connections, all transports (the seeds' `clients.total`). */
  get connectionCount(): number {
    return this.clients.size;
  }

  /** Every local connection (for shutdown). */
  all(): Subscriber[] {
    return [...this.clients.values()];
  }

  userIds(): string[] {
    return [...this.byUser.keys()];
  }

  connectionsOf(userId: string): number {
    const had = this.byUser.get(userId);
    return had === undefined ? 0 : had instanceof Set ? had.size : 1;
  }

  channelList(): { channel: string; subscribers: number }[] {
    const out: { channel: string; subscribers: number }[] = [];
    for (const [channel, e] of this.channels) out.push({ channel, subscribers: e.subs.size });
    return out;
  }

  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subs.size ?? 0;
  }

  stats(): { connections: number; connectionsByTransport: Record<string, number>; users: number; channels: number; subscriptions: number } {
    return {
      connections: this.clients.size,
      connectionsByTransport: Object.fromEntries(this.byTransport),
      users: this.byUser.size,
      channels: this.channels.size,
      subscriptions: this.subscriptionCount,
    };
  }
}
