/** Data types the SDK hands to the app: what arrives, what commands return, what events carry. */
import type { KeyOp, Member, StreamPosition } from '../protocol/index.js';
import type { SwitchboardError } from './errors.js';

/**
 * Shared with the protocol (one declaration each): `KeyOp`, what a keyed-channel publication does to its key (`upsert`
 * sets it to `data`, `delete` removes it); `Member`, a connection in a channel's presence.
 */
export type { KeyOp, Member, StreamPosition };

/** A publication of a channel, parsed from a `publication` push (docs/protocol.md). */
export interface Publication<T = unknown> {
  readonly channel: string;
  /** Event name: `message` unless the publisher chose one. */
  readonly event: string;
  /** The published data, parsed from JSON. */
  readonly data: T;
  readonly epoch: string;
  readonly offset: number;
  /** When the server accepted it, ISO 8601 UTC. */
  readonly timestamp: string;
  /** The sender's W3C trace context, when it sent one or the server traces; continue the trace from it. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Keyed channels only (docs/keyed-channels.md): the key this publication sets or deletes, and how. */
  readonly key?: string;
  readonly op?: KeyOp;
}

/**
 * A message sent to this user (server API `POST /api/send`, or another client's `send`); it belongs to no channel and
 * has no position.
 */
export interface DirectMessage<T = unknown> {
  /** The sending user, when another client sent it; absent when the server's API did. */
  readonly from?: string;
  readonly event: string;
  readonly data: T;
  readonly timestamp: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** The subject of `join` / `leave`: a `Member` (a connection in a channel's presence) and its channel. */
export interface MemberEvent extends Member {
  readonly channel: string;
}

/** What `subscribed` reports: the subscription is live; `recovered` says whether nothing was lost. */
export interface SubscribedContext {
  readonly channel: string;
  /** True when the SDK resumed from a position and every missed publication follows (or none was missed). */
  readonly recovered: boolean;
  /** True when the SDK asked to resume (it had a position from an earlier connection). */
  readonly wasRecovering: boolean;
  /** How many missed publications are replayed right after this event. */
  readonly missed: number;
  /** The channel's newest position when the subscription went live. */
  readonly epoch: string;
  readonly offset: number;
  /** Keyed channels: a snapshot follows instead of a replay (`full`: the state is rebuilt from empty). */
  readonly snapshot?: 'full' | 'delta';
}

/**
 * A resume that could not be gap-free: publications were missed and will not be replayed. Reload the state this
 * channel feeds (from `history` or your backend). `reason`: `epoch_changed`, `too_old` or `future_position`.
 */
export interface RecoveryFailedContext {
  readonly channel: string;
  readonly reason: string;
  /** The position the SDK had. */
  readonly since: StreamPosition;
  /** The channel's position now: the SDK continues from here. */
  readonly epoch: string;
  readonly offset: number;
}

/** What `connected` reports (the server's `connected` push). */
export interface ConnectedContext {
  readonly client: string;
  readonly user: string;
  /** WebSocket only: the server's version, protocol, ping interval (s) and token expiry (Unix s). */
  readonly version?: string;
  readonly protocol?: number;
  readonly ping?: number;
  readonly expires?: number;
}

/**
 * A connection ended. `reconnect` says whether the SDK will connect again by itself (the server's code range:
 * 1000-1999 and 4000-4499 yes, 4500-4999 no; client-side codes are listed in `ClientCodes`).
 */
export interface DisconnectedContext {
  readonly code: number;
  readonly reason: string;
  readonly reconnect: boolean;
}

/** A connection attempt starts: `attempt` 0 is the first, later ones waited `delay` ms of backoff. */
export interface ConnectingContext {
  readonly attempt: number;
  readonly delay: number;
}

export interface ErrorContext {
  readonly error: SwitchboardError;
  /** The channel concerned, when there is one. */
  readonly channel?: string;
}

export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';
export type ClientState = 'disconnected' | 'connecting' | 'connected';

/** The result of a publish: the publication's stream position. */
export interface PublishResult {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
}

export interface PublishOptions {
  /** Event name (default `message`). */
  event?: string;
  /** Keyed channels: the key to set or delete (required there, refused elsewhere with `invalid_key`). */
  key?: string;
  /** Keyed channels: `upsert` (default; the key's value becomes `data`) or `delete` (`data` is ignored). */
  op?: KeyOp;
  /** Overrides the `traceContext` hook for this publication. */
  traceparent?: string;
  tracestate?: string;
  /**
   * Makes the publish safe to retry (after `outcome_unknown`, a timeout or a reconnect): sent again with the same key
   * to the same channel within the server's `publish.idempotencyWindow` (default 5 minutes), it publishes nothing and
   * resolves to the first publication's position. 1-128 printable ASCII characters, e.g. `crypto.randomUUID()`.
   */
  idempotencyKey?: string;
  /**
   * This connection does not receive the publication (the server's `exclude_self`); its subscription moves past it
   * without a `publication` event. Live delivery only: a resume after a reconnect may still replay it.
   */
  excludeSelf?: boolean;
}

export interface HistoryOptions {
  /** Only publications after this position. */
  since?: StreamPosition;
  /** Only publications before this position: pass a cut newest-first result's `next` to read on. */
  before?: StreamPosition;
  /** At most this many (server default and cap: `api.maxHistoryLimit`, 1000). */
  limit?: number;
  /** Newest first instead of oldest first. */
  reverse?: boolean;
}

export interface HistoryResult<T = unknown> {
  readonly publications: Publication<T>[];
  readonly epoch: string;
  readonly offset: number;
  /** Offset of the oldest publication the server still keeps. */
  readonly earliest: number;
  /**
   * Set when the server's reply bound (`client.maxReplyBytes`, 1 MiB) cut the result: the position of its last
   * publication. Ask again with `since` (oldest first) or `before` (newest first) set to it for the rest.
   */
  readonly next?: StreamPosition;
}

/** Events a subscription emits. */
export interface SubscriptionEvents {
  subscribing: { channel: string };
  subscribed: SubscribedContext;
  unsubscribed: { channel: string };
  publication: Publication;
  join: MemberEvent;
  leave: MemberEvent;
  recoveryFailed: RecoveryFailedContext;
  error: ErrorContext;
}

/**
 * A keyed subscription's map is current again after a (re)subscribe (the server's `caught_up`): it equals the
 * server's state as of `offset`, the subscription's position.
 * `kind`: `full` (rebuilt from empty: re-read the whole map; keys may have gone without a `change`), `delta` (every
 * key changed while away was applied, each with a `change`) or `replay` (every missed publication was applied).
 */
export interface SnapshotContext {
  readonly channel: string;
  readonly kind: 'full' | 'delta' | 'replay';
  /** Keys in the map. */
  readonly size: number;
  readonly epoch: string;
  readonly offset: number;
}

/** One key of a keyed subscription's map changed. `value` is undefined for a delete. */
export interface KeyChange<T = unknown> {
  readonly channel: string;
  readonly key: string;
  readonly op: KeyOp;
  readonly value: T | undefined;
  readonly offset: number;
}

/** Events a keyed subscription emits: those of every subscription, plus `snapshot` and `change`. */
export interface KeyedSubscriptionEvents<T = unknown> extends SubscriptionEvents {
  snapshot: SnapshotContext;
  change: KeyChange<T>;
}

/** Events a client emits: its own plus every subscription's, for apps that prefer one listener. */
export interface ClientEvents {
  connecting: ConnectingContext;
  connected: ConnectedContext;
  disconnected: DisconnectedContext;
  subscribed: SubscribedContext;
  publication: Publication;
  message: DirectMessage;
  join: MemberEvent;
  leave: MemberEvent;
  recoveryFailed: RecoveryFailedContext;
  error: ErrorContext;
}

/** W3C trace context to attach to a publish. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}
