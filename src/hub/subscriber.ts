import type { ConnectionSnapshot, Disconnect } from '../protocol/index.js';
import type { EncodedPublication } from '../delivery/encoded.js';

/**
 * Told when the bytes a subscriber had queued when it was handed this watch are written to the socket (`written`),
 * or thrown away because the connection closed first (`dropped`). Exactly one of the two is called, once.
 */
export interface WriteWatch {
  written(): void;
  dropped(): void;
}

/** What an operator sees of one connection (the admin console, `GET /api/connections`). */
export type ConnectionView = ConnectionSnapshot;

/** One connection as the hub sees it. Sessions implement it; the hub never knows the transport. */
export interface Subscriber {
  readonly id: string;
  readonly userId: string;
  readonly transport: string;
  /** A message for this user (send-to-user): its event name and the JSON text of the push. */
  deliverDirect(event: string, json: string): void;
  /** A join/leave push (`event` is `join` or `leave`) for a channel this subscriber is in. */
  deliverMemberEvent(channel: string, event: string, json: string): void;
  disconnect(d: Disconnect): void;
  /** A snapshot of this connection for operators; read on demand, never on the delivery path. */
  view(): ConnectionView;
  /** Calls `watch` once the bytes queued so far are written (sampled delivery tracing: the write span ends then). */
  watchWrite(watch: WriteWatch): void;
}

/** One subscriber's membership in one channel; receives the channel's publications in offset order. */
export interface ChannelSubscription {
  readonly subscriber: Subscriber;
  deliver(enc: EncodedPublication): void;
}
