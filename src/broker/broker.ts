import { ErrorCode, ReplyError, type KeyOp, type Member, type ServerPublication, type PublicationMeta, type StreamPosition, type ConnectionSnapshot } from '../protocol/index.js';

export type { ConnectionSnapshot };
export { NO_STREAM_EPOCH } from '../protocol/index.js';

export type { KeyOp, Member, ServerPublication, PublicationMeta, StreamPosition };

/** History bounds of one channel. `size: 0` keeps no history (positions are still assigned). */
export interface HistoryBounds {
  /** Most publications kept per channel. */
  readonly size: number;
  /** Publications older than this many milliseconds are dropped. */
  readonly ttlMs: number;
}

export interface PublishRequest {
  readonly channel: string;
  readonly event: string;
  /** JSON text of the data. */
  readonly data: string;
  readonly meta?: PublicationMeta;
  /** Overrides the broker's default history bounds for this channel (namespaces set these). */
  readonly history?: HistoryBounds;
  /**
   * Keyed channels (docs/keyed-channels.md): the key this publication sets or deletes, its op, and the channel's
   * keyed bounds. All three or none. The channel's latest-per-key state changes in the same atomic step as the publish.
   */
  readonly key?: string;
  readonly op?: KeyOp;
  readonly keyed?: KeyedOptions;
  /**
   * Idempotent publish (docs/api.md): a publish of the same channel with the same key within `windowMs` of the first
   * one publishes nothing and answers the first one's position (a `replay`, see `isReplay`). Checked and remembered
   * in the same atomic step as the publish, so two concurrent submits publish once, on every node of the broker.
   */
  readonly idempotency?: IdempotencyOptions;
}

export interface IdempotencyOptions {
  /** The caller's key, 1-128 characters (protocol/fields.ts `idempotencyKeyProblem`); scoped to the channel. */
  readonly key: string;
  /** How long the key is remembered, in ms (`publish.idempotencyWindow`, default 5 minutes). */
  readonly windowMs: number;
}

/**
 * Answers of `publish` that are replays of an earlier publication with the same idempotency key: nothing was
 * published, the position is the earlier one's. Kept aside (not a field) so every ServerPublication keeps one shape.
 */
const replays = new WeakSet<ServerPublication>();

/** Marks a broker's answer as a replay (brokers call it; the node reads `isReplay`). */
export function replayOf(pub: ServerPublication): ServerPublication {
  replays.add(pub);
  return pub;
}

/** True when this publish answer published nothing (an idempotency key seen within its window). */
export function isReplay(pub: ServerPublication): boolean {
  return replays.has(pub);
}

/** Bounds of a keyed channel's latest-per-key state. */
export interface KeyedOptions {
  /** Most keys (live and tombstones) per channel; a new key past it is refused with `limit_exceeded`. */
  readonly maxKeys: number;
  /** A deleted key's tombstone is kept this many ms, then dropped (and `complete` moves past it). */
  readonly tombstoneTtlMs: number;
}

/** A page of a keyed channel's state: its compacted log, read from a position. */
export interface StateQuery {
  /** Entries whose offset is greater than this (0: from the start). The caller checks the epoch of the answer. */
  readonly after: number;
  /** At most this many entries (>= 1). */
  readonly limit: number;
}

export interface StatePage {
  /**
   * The latest publication of each key changed after `after` (upserts and unexpired tombstones), in offset order,
   * at most `limit`. A key changed while a reader pages moves to a higher offset and comes again on a later page.
   */
  readonly publications: ServerPublication[];
  /** The channel's top position when the page was read. A page shorter than `limit` holds the state up to it. */
  readonly top: StreamPosition;
  /**
   * Every tombstone of a delete at an offset above this one is still kept. A reader at a position below it may have
   * missed a delete: it must drop its state and read from 0.
   */
  readonly complete: number;
}

export interface HistoryQuery {
  /** Return only publications after this position (offset > since.offset), when `since.epoch` is current. */
  readonly since?: StreamPosition;
  /** At most this many publications (0: none, only the positions). Default: all that match. */
  readonly limit?: number;
  /** Newest first. With `since`, the newest `limit` after it. */
  readonly reverse?: boolean;
  /**
   * Create the channel's stream state (epoch) when it has none: set only by a subscriber's read, whose node
   * subscription then keeps the stream (bounded by `client.maxSubscriptions` per connection). Every other read creates
   * nothing and answers an empty channel at epoch NO_STREAM_EPOCH.
   */
  readonly open?: boolean;
}

export interface HistoryPage {
  readonly publications: ServerPublication[];
  /** Newest position of the channel: the offset of its last publication (0 when none) in the current epoch. */
  readonly top: StreamPosition;
  /** Offset of the oldest publication still kept; `top.offset + 1` when none is kept. */
  readonly earliest: number;
}

/** Messages between nodes that are not channel publications. */
export type ControlMessage =
  | {
      readonly kind: 'user-message';
      readonly user: string;
      readonly event: string;
      readonly data: string;
      readonly time: number;
      readonly meta?: PublicationMeta;
      /** The sending user, when a client sent it. */
      readonly from?: string;
    }
  | { readonly kind: 'disconnect-user'; readonly user: string; readonly code: number; readonly reason: string }
  /** One connection, by id, on whichever node holds it (the admin console, `POST /api/disconnect` with `client`). */
  | { readonly kind: 'disconnect-client'; readonly client: string; readonly code: number; readonly reason: string }
  /** A node asks `nodes` for a user's connections; each answers with a `connections-reply` to `from`. */
  | { readonly kind: 'connections-query'; readonly id: string; readonly from: string; readonly nodes: readonly string[]; readonly user: string }
  | { readonly kind: 'connections-reply'; readonly id: string; readonly to: string; readonly node: string; readonly connections: readonly ConnectionSnapshot[] };


/**
 * What a broker reports back to its node. Called synchronously from the broker's event source; implementations
 * must not throw. Publications of one channel arrive in offset order.
 */
export interface BrokerHandler {
  onPublication(pub: ServerPublication): void;
  onJoin(channel: string, member: Member): void;
  onLeave(channel: string, member: Member): void;
  onControl(msg: ControlMessage): void;
  /**
   * The broker knows it missed publications of a subscribed channel that it cannot deliver (while its connection to
   * the others was being re-established they were published, and history no longer holds them, or holds too many to
   * replay). The channel's subscribers must resume from history (4004). Missed publications it can replay arrive
   * through `onPublication` instead, in offset order.
   */
  onGap(channel: string): void;
}

/**
 * Publish/subscribe between nodes, channel history with stream positions, and presence.
 * A broker never imports the hub or the node: it only calls its handler.
 */
export interface Broker {
  /** `memory` or `redis`. */
  readonly kind: string;
  /** Starts delivering events to `handler`. Called once. */
  start(handler: BrokerHandler): Promise<void>;
  /** Stops delivery and releases resources. */
  close(): Promise<void>;
  /** False while the broker cannot serve (e.g. Redis unreachable). */
  isReady(): boolean;

  /**
   * Assigns the next offset in the channel (and the epoch), appends to history, and delivers the publication to
   * every node subscribed to the channel (this one included, through `onPublication`).
   */
  publish(req: PublishRequest): Promise<ServerPublication>;
  /** This node wants the channel's publications. Idempotent. */
  subscribe(channel: string): Promise<void>;
  /** This node no longer wants the channel's publications. Idempotent. */
  unsubscribe(channel: string): Promise<void>;
  /**
   * Reads the channel's history and positions. A channel without stream state reads as empty at epoch
   * NO_STREAM_EPOCH, offset 0, earliest 1, and nothing is created, unless `query.open` (a subscriber's read).
   */
  history(channel: string, query?: HistoryQuery): Promise<HistoryPage>;
  /**
   * Reads a page of a keyed channel's latest-per-key state (for a channel never published with keys: empty pages).
   * Creates nothing: a channel without stream state reads as empty at epoch NO_STREAM_EPOCH.
   */
  state(channel: string, query: StateQuery): Promise<StatePage>;

  /** Adds or refreshes a presence entry. */
  addPresence(channel: string, member: Member): Promise<void>;
  removePresence(channel: string, clientId: string): Promise<void>;
  presence(channel: string): Promise<Member[]>;
  /** Tells every node's members of the channel that someone joined or left. */
  publishJoin(channel: string, member: Member): Promise<void>;
  publishLeave(channel: string, member: Member): Promise<void>;
  /** Sends a control message to every node (this one included). */
  publishControl(msg: ControlMessage): Promise<void>;

  // Optional capabilities: the node uses them when present and copes without them.

  /**
   * The registry of live nodes, for a broker shared by several nodes (Redis). Absent: this node is alone, and the
   * API's `online`, `channels` and `stats` answer for it only.
   */
  readonly registry?: NodeRegistry;
  /** Counts read by the metrics exporter on each scrape and by tests; O(1). Absent: no broker gauges. */
  stats?(): BrokerStats;
}

/** What a broker counts about itself (every field optional: a broker reports what it has). */
export interface BrokerStats {
  /** Channels with stream state kept in this process (memory broker). */
  readonly channels?: number;
  /** Publications kept in history across channels, in this process. */
  readonly publications?: number;
  /** Bytes counted against `history.maxBytes` (kept history plus keyed state). */
  readonly bytes?: number;
  /** Publications evicted from history by `history.maxBytes`, since start. */
  readonly evictedPublications?: number;
  /** Subscriber connections replaced (failed health check or missed deadline), since start (Redis). */
  readonly subscriberReplacements?: number;
  /** Command connections replaced (failed health check or missed deadline), since start (Redis). */
  readonly commandReplacements?: number;
  /** Missed health-check PINGs or deadlines on a subscriber connection still reading (slow, kept), since start (Redis). */
  readonly subscriberSlow?: number;
  /** The same on the command connection (Redis). */
  readonly commandSlow?: number;
}

/** What a node tells the others about itself (node registry): its users, channels and stats. */
export interface NodeReport {
  readonly id: string;
  /** Connections per user on this node. */
  readonly users: Record<string, number>;
  readonly stats: Record<string, unknown>;
  /** Local subscribers per channel, at most `redis.reportChannels` channels (those with the most subscribers). */
  readonly channels?: Record<string, number>;
  /** True when this node has more channels than it listed in `channels`. */
  readonly channelsTruncated?: boolean;
}

/**
 * A broker shared by several nodes may keep a registry of live nodes (`Broker.registry`): each reports itself
 * periodically, and reports of a node that stopped reporting (it died) vanish after `ttlMs`.
 */
export interface NodeRegistry {
  reportNode(report: NodeReport, ttlMs: number): Promise<void>;
  /** The live nodes' latest reports (this one included). */
  nodes(): Promise<NodeReport[]>;
}

/** Thrown when a broker operation cannot be done now (e.g. Redis is down); maps to `unavailable`. */
export class BrokerUnavailableError extends Error {
  override readonly name: string = 'BrokerUnavailableError';
}

/**
 * A write was sent to the broker but no answer came: its deadline (`redis.commandTimeout`) passed, or the connection
 * was lost before the reply. It may or may not have taken effect (a publication may have been stored and delivered);
 * maps to `outcome_unknown`. A subclass of BrokerUnavailableError, so code that only knows "unavailable" still copes.
 */
export class BrokerOutcomeUnknownError extends BrokerUnavailableError {
  override readonly name: string = 'BrokerOutcomeUnknownError';
}

/** The reply error a client gets for a broker failure, or undefined when `err` is not one (API and WebSocket share it). */
export function brokerReplyError(err: unknown): ReplyError | undefined {
  if (err instanceof BrokerOutcomeUnknownError) {
    return new ReplyError(ErrorCode.OutcomeUnknown, 'the broker did not answer in time; the operation may or may not have taken effect');
  }
  if (err instanceof BrokerUnavailableError) return new ReplyError(ErrorCode.Unavailable, 'broker unavailable; retry later');
  return undefined;
}
