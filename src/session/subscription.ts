import type { ChannelSubscription, Subscriber } from '../hub/hub.js';
import type { EncodedPublication } from '../delivery/encoded.js';
import type { DeltaStream } from '../delivery/delta.js';
import type { ChannelRules } from '../core/namespaces.js';

/**
 * What a subscription needs of its connection (Session implements it). Declared here so that subscription.ts does
 * not import session.ts, which imports it.
 */
export interface SubscriptionOwner extends Subscriber {
  /** Live publications buffered during one subscription's setup, at most. */
  readonly maxPendingPublications: number;
  /** The setup buffer overflowed (and the subscription cannot restart its catch-up). */
  onSetupOverflow(sub: Subscription): void;
  /** A publication is missing or the stream changed: the client must resume. */
  onGap(sub: Subscription): void;
  sendPublication(enc: EncodedPublication, sub: Subscription): void;
  /** In place of a publication this connection is excluded from: its position moved (a `skip` push). */
  sendSkip(enc: EncodedPublication, sub: Subscription): void;
  /** The end of the subscription's catch-up. */
  sendCaughtUp(sub: Subscription): void;
}

/**
 * One connection's subscription to one channel. While the subscription is being set up (history being read for a
 * resume), live publications are buffered; `goLive` then releases the ones newer than what was replayed, so none
 * falls in between and none is delivered twice.
 */
export class Subscription implements ChannelSubscription {
  /** Position of the last publication delivered (or of the stream top when the subscription went live). */
  epoch = '';
  offset = 0;
  private buffer: EncodedPublication[] | null = [];
  /**
   * Set while a keyed snapshot streams: a full setup buffer is then emptied and counted in `restarts` instead of
   * dropping the client, because the snapshot reader catches up by reading the state again (session.ts).
   */
  restartable = false;
  restarts = 0;
  /**
   * Whether going live is announced with a `caught_up` push (docs/protocol.md). True for native subscriptions;
   * the seed vocabularies (dialects/) subscribe without it, as their clients know no such push.
   */
  announce = true;
  /** What allowed it (src/session/permissions.ts): re-checked when the connection's token is refreshed. */
  grantedBy: 'open' | 'claim' | 'token' | 'proxy' = 'open';
  /** When a subscription token's grant ends (ms since the Unix epoch); the subscription ends then unless refreshed. */
  expiresAt: number | undefined;
  /** Delta compression (subscribe `"delta": "fossil"`): the base the client holds; unset for full payloads only. */
  delta: DeltaStream | undefined;

  constructor(
    readonly session: SubscriptionOwner,
    readonly channel: string,
    /** Position of this channel among the connection's channels (SSE stream ids list positions in this order). */
    readonly index: number,
    /** The channel's namespace rules (presence, join/leave). */
    readonly rules: ChannelRules,
  ) {}

  get subscriber(): Subscriber {
    return this.session;
  }

  get live(): boolean {
    return this.buffer === null;
  }

  deliver(enc: EncodedPublication): void {
    if (this.buffer !== null) {
      // Bounded by the session: a subscription that stays in setup longer than its queue allows is dropped.
      this.buffer.push(enc);
      if (this.buffer.length > this.session.maxPendingPublications) {
        if (!this.restartable) return this.session.onSetupOverflow(this);
        this.buffer.length = 0;
        this.restarts++;
      }
      return;
    }
    const pub = enc.pub;
    if (pub.epoch !== this.epoch) {
      // The channel's history was lost (e.g. Redis restarted empty): the client must learn that it cannot resume
      // without a gap. Disconnected (4004), it resumes from its position and is told `recovered: false`.
      this.session.onGap(this);
      return;
    }
    if (pub.offset <= this.offset) return; // already delivered (replayed, or redelivered by a broker)
    if (pub.offset !== this.offset + 1) {
      // A publication never reached this node: the client must resume from its position to fill the gap.
      this.session.onGap(this);
      return;
    }
    this.epoch = pub.epoch;
    this.offset = pub.offset;
    // Excluded (the publisher): its position still moves, so the next publication is no gap. A client that tracks
    // positions (one that is told `caught_up`) is told with a `skip` push, or it would see `offset + 2` next, take it
    // for a gap and recover the very publication it was spared; the seed, Pusher and Centrifuge clients get nothing.
    if (pub.meta?.exclude === this.session.id) {
      if (this.announce) this.session.sendSkip(enc, this);
      return;
    }
    this.session.sendPublication(enc, this);
  }

  /**
   * Ends setup at position (epoch, offset), the newest publication the client has now been sent (replayed or the
   * stream top). The `caught_up` push says so in the same ordered stream, then the buffered publications after it
   * are delivered in order: the first of them is exactly `offset + 1`.
   */
  goLive(epoch: string, offset: number): void {
    const buffered = this.buffer ?? [];
    this.buffer = null;
    this.restartable = false;
    this.epoch = epoch;
    this.offset = offset;
    if (this.announce) this.session.sendCaughtUp(this);
    for (const enc of buffered) this.deliver(enc);
  }
}
