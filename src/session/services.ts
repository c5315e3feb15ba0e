import type { Broker } from '../broker/broker.js';
import type { Config } from '../config/index.js';
import type { ChannelSubscription, Hub } from '../hub/hub.js';
import type { Context } from '@opentelemetry/api';
import type { HistoryQuery, HistoryPage, StatePage, StateQuery } from '../broker/broker.js';
import type { KeyedWrite } from './keyed.js';
import type { Logger } from '../observability/logger.js';
import type { Telemetry } from '../observability/telemetry.js';
import type { Authenticator } from '../auth/identity.js';
import type { Namespaces } from '../core/namespaces.js';
import type { Member, ServerPublication, PublicationMeta } from '../protocol/index.js';
import type { FlushScheduler } from './flush.js';

/** Something with credentials that expire (a connection: its token, its subscription tokens). */
export interface Expiring {
  /** Ends what expired at `now` (ms since the Unix epoch); false when nothing of it can expire any more. */
  expire(now: number): boolean;
}

/** What a session needs from its node. The node implements it; sessions never construct collaborators. */
export interface NodeServices {
  readonly config: Config;
  readonly hub: Hub;
  readonly broker: Broker;
  readonly scheduler: FlushScheduler;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly namespaces: Namespaces;
  readonly authenticator: Authenticator;
  /** Counts a limit hit and logs it once per connection. */
  limitHit(limit: string, session?: { log: Logger; loggedLimits?: Set<string> }, fields?: Record<string, unknown>): void;
  /** Calls `s.expire(now)` about once a second while it answers true (a connection with something that expires). */
  watchExpiry(s: Expiring): void;
  unwatchExpiry(s: Expiring): void;
  /** Adds a local subscription and resolves once the node receives the channel's publications from the broker. */
  joinChannel(channel: string, sub: ChannelSubscription): Promise<void>;
  /** Removes a local subscription; the broker subscription goes when the channel's last local subscriber leaves. */
  leaveChannel(channel: string, sub: ChannelSubscription): void;
  /** Publishes; `write` (key and op) is required for keyed channels and refused for others. */
  publish(channel: string, event: string, data: string, meta?: PublicationMeta, parent?: Context, write?: KeyedWrite): Promise<ServerPublication>;
  /** Reads a page of a keyed channel's state through the broker, timed and counted. */
  keyedState(channel: string, query: StateQuery, parent?: Context): Promise<StatePage>;
  /** Reads history through the broker, timed and counted. */
  history(channel: string, query: HistoryQuery, parent?: Context): Promise<HistoryPage>;
  /** Reads presence through the broker, timed and counted. */
  presence(channel: string, parent?: Context): Promise<Member[]>;
  /** A direct message to every connection of `userId`; `from` names the sending user when a client sent it. */
  sendToUser(userId: string, event: string, data: string, meta?: PublicationMeta, from?: string): Promise<void>;
}
