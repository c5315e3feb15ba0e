/**
 * What the node tells the outside world about its clients and channels (webhooks listen here). The node calls it
 * at its lifecycle edges; the session and hub layers know nothing of it, and whoever listens (src/webhooks/) is
 * connected by the wiring. Calls are synchronous, must not throw, and must be cheap: they queue, never wait.
 */
import type { Member, ServerPublication } from '../protocol/index.js';

/** A connection as events describe it. */
export interface ClientRef {
  /** Connection id. */
  readonly id: string;
  readonly userId: string;
  /** `websocket` or `sse`. */
  readonly transport: string;
}

export interface NodeEvents {
  clientConnected(client: ClientRef): void;
  clientDisconnected(client: ClientRef): void;
  /**
   * The channel's first subscriber on this node arrived (`true`) or its last one left (`false`). Whether the
   * channel is occupied across all nodes is the listener's business (it may share a count between nodes).
   */
  localChannel(channel: string, occupied: boolean): void;
  /** A connection entered the channel's presence (after the broker took it). */
  memberAdded(channel: string, member: Member): void;
  /** A connection left the channel's presence. */
  memberRemoved(channel: string, member: Member): void;
  /** A publication accepted by this node, in a namespace whose publications are reported (`webhookPublications`). */
  published(pub: ServerPublication): void;
}

/** Nobody listens (no webhooks configured). */
export const noNodeEvents: NodeEvents = {
  clientConnected() {},
  clientDisconnected() {},
  localChannel() {},
  memberAdded() {},
  memberRemoved() {},
  published() {},
};
