/**
 * One channel subscription, shared by the WebSocket and SSE clients. It keeps the channel's stream position and
 * enforces "each publication once, in order": a publication at or below the position is a duplicate and dropped;
 * one past `position + 1` (or from another epoch) is a gap, and the client resumes from the position.
 * A keyed channel's snapshot or delta (docs/keyed-channels.md) is the exception: its entries skip superseded
 * offsets, so until the server's `caught_up` push any increase is accepted. `caught_up` ends every catch-up: the
 * position becomes its offset, the subscription is current, and from then on the +1 rule holds.
 */
import type { StreamPosition, SubscribeResult } from '../protocol/index.js';
import { applyFossilDelta } from '../protocol/fossil.js';
import { Emitter } from './emitter.js';
import { ClientClosedError, TimeoutError, type SwitchboardError } from './errors.js';
import { toMemberEvent, toPublication } from './publication.js';
import type {
  ClientEvents, HistoryOptions, HistoryResult, KeyedSubscriptionEvents, Member, Publication, PublishOptions, PublishResult,
  SubscriptionEvents, SubscriptionState,
} from './types.js';

/** The receive side of a subscription: what both the WebSocket and the SSE client offer. */
export interface ReceiveSubscription {
  readonly channel: string;
  readonly state: SubscriptionState;
  /** Position of the last publication delivered (or where the subscription went live); undefined before that. */
  readonly position: StreamPosition | undefined;
  /** Whether the latest (re)subscribe was gap-free. False after a failed recovery, and for fresh subscriptions. */
  readonly recovered: boolean;
  /** Starts (or keeps) the subscription; it resumes by itself after every reconnect. */
  subscribe(): void;
  /** Stops it. The position is kept, so a later `subscribe()` resumes from it. */
  unsubscribe(): void;
  /** Resolves once subscribed; rejects when unsubscribed first or after `timeoutMs` (default: the client's `timeout`). */
  ready(timeoutMs?: number): Promise<void>;
  on<K extends keyof SubscriptionEvents>(event: K, listener: (arg: SubscriptionEvents[K]) => void): () => void;
  once<K extends keyof SubscriptionEvents>(event: K, listener: (arg: SubscriptionEvents[K]) => void): () => void;
  off<K extends keyof SubscriptionEvents>(event: K, listener: (arg: SubscriptionEvents[K]) => void): void;
}

/** A WebSocket subscription: receives, and runs channel commands. */
export interface Subscription extends ReceiveSubscription {
  publish(data: unknown, options?: PublishOptions): Promise<PublishResult>;
  presence(): Promise<Member[]>;
  history<T = unknown>(options?: HistoryOptions): Promise<HistoryResult<T>>;
}

export interface SubscriptionOptions {
  /** Resume from this position on the first subscribe (for example one the app saved); default: from now. */
  since?: StreamPosition;
  /** WebSocket: subscription token for channels of `token` namespaces (a string, or a function fetching one). */
  token?: string | (() => string | Promise<string>);
  /** A keyed channel's map-like subscription (`KeyedSubscription`); it cannot take `since`. Default false. */
  keyed?: boolean;
  /**
   * Plain subscriptions to keyed channels: `false` starts from now instead of receiving the channel's
   * current state first (the server's `"snapshot": false`); resumes after a reconnect still catch up. Default true.
   */
  snapshot?: boolean;
  /**
   * WebSocket: `'fossil'` asks for delta compression — publications as fossil deltas against the previous one when
   * smaller (docs/client.md). The SDK rebuilds each payload, so `data` is the same as without. Ignored for keyed
   * channels and by the SSE client.
   */
  delta?: 'fossil';
}

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  readonly timeout: number;
  subscribeNow(sub: SubscriptionImpl): void;
  unsubscribeNow(sub: SubscriptionImpl): void;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  presence(channel: string): Promise<Member[]>;
  history<T>(channel: string, options?: HistoryOptions): Promise<HistoryResult<T>>;
  forward<K extends keyof ClientEvents>(event: K, arg: ClientEvents[K]): void;
}

/** What `accept` decided about a publication. */
export type Delivery = 'delivered' | 'dropped' | 'gap';

// Keyed subscriptions (keyed.ts) emit two more events; a plain one never emits them.
export class SubscriptionImpl extends Emitter<KeyedSubscriptionEvents> implements Subscription {
  state: SubscriptionState = 'unsubscribed';
  position: StreamPosition | undefined;
  recovered = false;
  /** Id of the subscribe request whose reply counts; replies of superseded requests are ignored. */
  pendingId: number | undefined;
  /** Between a (re)subscribe reply and the server's `caught_up`: the catch-up is streaming. */
  private catchingUp = false;
  /** While catching up by a keyed snapshot or delta, offsets may skip (superseded entries are not sent). */
  private skipping = false;
  /** Delta compression granted (the reply's `delta`): the UTF-8 JSON text of the last payload, a delta's base. */
  private deltas = false;
  private base: Uint8Array | undefined;

  constructor(
    readonly channel: string,
    protected readonly host: SubscriptionHost,
    readonly options: SubscriptionOptions = {},
  ) {
    super();
    this.position = options.since;
  }

  subscribe(): void {
    if (this.state !== 'unsubscribed') return;
    this.setSubscribing();
    this.host.subscribeNow(this);
  }

  unsubscribe(): void {
    if (this.state === 'unsubscribed') return;
    this.state = 'unsubscribed';
    this.pendingId = undefined;
    this.host.unsubscribeNow(this);
    this.emit('unsubscribed', { channel: this.channel });
  }

  ready(timeoutMs = this.host.timeout): Promise<void> {
    if (this.state === 'subscribed') return Promise.resolve();
    if (this.state === 'unsubscribed') return Promise.reject(new ClientClosedError(`subscription to "${this.channel}"`));
    return this.waitFor('subscribed', 'unsubscribed', () => new ClientClosedError(`subscription to "${this.channel}"`),
      timeoutMs, () => new TimeoutError(`subscribe to "${this.channel}"`, timeoutMs));
  }

  publish(data: unknown, options?: PublishOptions): Promise<PublishResult> {
    return this.host.publish(this.channel, data, options);
  }

  presence(): Promise<Member[]> {
    return this.host.presence(this.channel);
  }

  history<T = unknown>(options?: HistoryOptions): Promise<HistoryResult<T>> {
    return this.host.history<T>(this.channel, options);
  }

  // ---- called by the client ----

  /** Waiting for a (re)subscribe reply: publications until then are dropped. */
  setSubscribing(): void {
    this.state = 'subscribing';
    this.emit('subscribing', { channel: this.channel });
  }

  /** The subscription token to send, if any. */
  async token(): Promise<string | undefined> {
    const t = this.options.token;
    return typeof t === 'function' ? await t() : t;
  }

  /** The server's subscribe result (reply, `subscribed` push or SSE `connected` entry); `since` is what was sent. */
  live(r: SubscribeResult, since: StreamPosition | undefined): void {
    if (this.state !== 'subscribing') return;
    this.state = 'subscribed';
    this.pendingId = undefined;
    const wasRecovering = since !== undefined;
    this.recovered = wasRecovering && r.recovered;
    // Recovered (replay or keyed delta): what follows moves the position on from `since`. A full keyed snapshot
    // rebuilds from offset 0 of the reply's epoch. Otherwise continue from the channel's top.
    if (r.snapshot === 'full') this.position = { epoch: r.epoch, offset: 0 };
    else if (!this.recovered) this.position = { epoch: r.epoch, offset: r.offset };
    this.catchingUp = true;
    this.skipping = r.snapshot !== undefined;
    this.deltas = r.delta === 'fossil';
    this.base = undefined;
    if (wasRecovering && !r.recovered) {
      const ctx = { channel: this.channel, reason: r.reason ?? 'unknown', since, epoch: r.epoch, offset: r.offset };
      this.emit('recoveryFailed', ctx);
      this.host.forward('recoveryFailed', ctx);
    }
    const ctx = { channel: this.channel, recovered: this.recovered, wasRecovering, missed: r.missed, epoch: r.epoch, offset: r.offset, ...(r.snapshot ? { snapshot: r.snapshot } : {}) };
    this.emit('subscribed', ctx);
    this.host.forward('subscribed', ctx);
  }

  /**
   * A publication push for this channel: delivered, dropped (duplicate, or not live), or a gap to repair. A `skip`
   * push (a publication this connection was excluded from) follows the same rules but only moves the position.
   */
  accept(push: Record<string, any>, skip?: boolean): Delivery {
    if (this.state !== 'subscribed') return 'dropped';
    const pos = this.position!;
    if (push.epoch !== pos.epoch) return 'gap';
    if (push.offset <= pos.offset) return 'dropped';
    if (push.offset !== pos.offset + 1 && !this.skipping) return 'gap';
    // A delta that does not fit the payload held (it was made against another): resubscribe from the position,
    // whose replay sends full payloads, instead of delivering wrong data.
    if (this.deltas && !this.undelta(push)) return 'gap';
    this.position = { epoch: push.epoch, offset: push.offset };
    if (skip) return 'delivered';
    const pub = toPublication(push);
    this.apply(pub);
    this.emit('publication', pub);
    this.host.forward('publication', pub);
    return 'delivered';
  }

  /**
   * The server's `caught_up` push: the catch-up after the latest reply is over and the position is its offset (a
   * snapshot's top may be above its last entry). A replay or a live start sends nothing it skips, so there the
   * offset must be the position itself; anything else is a gap.
   */
  caughtUp(push: Record<string, any>): Delivery {
    if (this.state !== 'subscribed' || !this.catchingUp) return 'dropped';
    const pos = this.position!;
    const offset = push.offset;
    if (push.epoch !== pos.epoch || typeof offset !== 'number' || offset < pos.offset) return 'gap';
    if (offset > pos.offset && !this.skipping) return 'gap';
    this.position = { epoch: pos.epoch, offset };
    this.catchingUp = false;
    this.skipping = false;
    this.current();
    return 'delivered';
  }

  /** Delta compression: puts a delta's rebuilt data in `payload` and keeps the text as the next base. */
  private undelta(push: Record<string, any>): boolean {
    if (push.delta !== true) {
      this.base = new TextEncoder().encode(JSON.stringify(push.payload));
      return true;
    }
    try {
      // Throws only where a broken delta claims a size past what memory allows.
      const text = this.base && typeof push.payload === 'string' ? applyFossilDelta(this.base, push.payload) : undefined;
      if (!text) return false;
      push.payload = JSON.parse(new TextDecoder().decode(text));
      this.base = text;
      return true;
    } catch {
      return false;
    }
  }

  /** Hook: a publication was delivered (keyed subscriptions update their map). */
  protected apply(_pub: Publication): void {}

  /** Hook: `caught_up` arrived: as current as the server, and live from here. */
  protected current(): void {}

  member(kind: 'join' | 'leave', push: Record<string, any>): void {
    if (this.state !== 'subscribed') return;
    const m = toMemberEvent(push);
    this.emit(kind, m);
    this.host.forward(kind, m);
  }

  /** The server refused the subscription: it stays unsubscribed until the app subscribes again. */
  failed(error: SwitchboardError): void {
    this.state = 'unsubscribed';
    this.pendingId = undefined;
    this.emit('error', { error, channel: this.channel });
    this.host.forward('error', { error, channel: this.channel });
    this.emit('unsubscribed', { channel: this.channel });
  }
}
