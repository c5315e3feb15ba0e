import type { Config } from '../config/index.js';
import type { ChannelSubscription, Subscriber } from '../hub/hub.js';
import type { HistoryQuery, HistoryPage, StatePage, StateQuery } from '../broker/broker.js';
import type { TraceContext } from '../core/trace-context.js';
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';
import type { LimitLogged } from '../observability/limit-log.js';
import type { Authenticator } from '../auth/identity.js';
import type { ChannelProxies } from '../auth/proxy/channel-proxies.js';
import type { Namespaces } from '../core/namespaces.js';
import type { KeyOp, Member, ServerPublication, PublicationMeta } from '../protocol/index.js';
import type { ConnectionTelemetry } from './connection-telemetry.js';
import type { Expiring } from './expiry.js';
import type { FlushScheduler } from '../delivery/flush.js';

export type { Expiring } from './expiry.js';

/** The key and op of a publication to a keyed channel. */
export interface KeyedWrite {
  readonly key: string;
  readonly op: KeyOp;
}

/**
 * What a session needs from its node, and nothing more: no broker, hub or tracer. The node implements it; sessions
 * never construct collaborators. Broker operations go through the node, so each is timed and traced once.
 */
export interface NodeServices {
  readonly config: Config;
  readonly scheduler: FlushScheduler;
  readonly logger: Logger;
  /** Plain counters (metrics read them on scrape). */
  readonly counters: Counters;
  /** Spans at a connection's lifecycle edges (no-op when tracing is off). */
  readonly connectionTelemetry: ConnectionTelemetry;
  readonly namespaces: Namespaces;
  readonly authenticator: Authenticator;
  /** The backend's say on subscriptions, publications and rpc (docs/proxy.md), asked by permissions.ts. */
  readonly proxies: ChannelProxies;
  /** Counts a limit hit and logs it once per connection. */
  limitHit(limit: string, session?: LimitLogged, fields?: Record<string, unknown>): void;
  /** Calls `s.expire(now)` about once a second while it answers true (a connection with something that expires). */
  watchExpiry(s: Expiring): void;
  /**
   * The end of a connection's registration: it leaves the node's indexes (hub, expiry watch). The node registered
   * it when its transport accepted it (`attach`); a session calls this once, from its cleanup.
   */
  detach(s: Subscriber & Expiring): void;
  /**
   * A connection becomes another user (a Pusher sign-in): it leaves the user index, `change` sets its user, and it
   * joins the index again, so messages and disconnects for that user reach it on every node.
   */
  changeUser(s: Subscriber, change: () => void): void;
  /** This node's local subscribers of a channel (for the namespace's maxSubscribers). */
  subscriberCount(channel: string): number;
  /** Adds a local subscription and resolves once the node receives the channel's publications from the broker. */
  joinChannel(channel: string, sub: ChannelSubscription): Promise<void>;
  /** Removes a local subscription; the broker subscription goes when the channel's last local subscriber leaves. */
  leaveChannel(channel: string, sub: ChannelSubscription): void;
  /** Publishes; `write` (key and op) is required for keyed channels and refused for others. */
  /** `idempotencyKey`: a retry within `publish.idempotencyWindow` publishes nothing and answers the first position. */
  publish(channel: string, event: string, data: string, meta?: PublicationMeta, parent?: TraceContext, write?: KeyedWrite, idempotencyKey?: string): Promise<ServerPublication>;
  /** Reads a page of a keyed channel's state through the broker, timed and counted. */
  keyedState(channel: string, query: StateQuery, parent?: TraceContext): Promise<StatePage>;
  /** Reads history through the broker, timed and counted. */
  history(channel: string, query: HistoryQuery, parent?: TraceContext): Promise<HistoryPage>;
  /** Reads presence through the broker, timed and counted. */
  presence(channel: string, parent?: TraceContext): Promise<Member[]>;
  /** Adds a member to a channel's presence, timed. */
  addPresence(channel: string, member: Member): Promise<void>;
  /** Removes a connection from a channel's presence, timed. */
  removePresence(channel: string, clientId: string): Promise<void>;
  /** Announces a member's join to the channel's subscribers on every node, timed. */
  publishJoin(channel: string, member: Member): Promise<void>;
  /** Announces a member's leave, timed. */
  publishLeave(channel: string, member: Member): Promise<void>;
  /**
   * A direct message to every connection of `userId`; `from` names the sending user when a client sent it. Traced
   * like a publish: a `notification.send` span under `parent` whose context the message carries.
   */
  sendToUser(userId: string, event: string, data: string, meta?: PublicationMeta, from?: string, parent?: TraceContext): Promise<void>;
}
