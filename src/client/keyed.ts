/**
 * A keyed channel's subscription as a map (docs/keyed-channels.md): every publication upserts or deletes one key,
 * and a (re)subscribe brings the map to the server's state by a full snapshot, a delta or a history replay, ended by
 * the server's `caught_up`. The offset rules (snapshot entries skip superseded offsets until `caught_up`) live in the
 * base class; this class keeps the map and swaps a full snapshot in at `caught_up`.
 */
import type { StreamPosition, SubscribeResult } from '../protocol/index.js';
import { OptionError, SwitchboardError } from './errors.js';
import { SubscriptionImpl, type ReceiveSubscription, type Subscription, type SubscriptionHost, type SubscriptionOptions } from './subscription.js';
import type { KeyChange, KeyedSubscriptionEvents, Publication, SnapshotContext } from './types.js';

/** The map side of a keyed subscription: read-only, always a state the server had (never a half-built snapshot). */
export interface KeyedState<T = unknown> {
  /** Number of keys. */
  readonly size: number;
  /** True from the `snapshot` event until the connection drops or the subscription resubscribes. */
  readonly synced: boolean;
  get(key: string): T | undefined;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
  values(): IterableIterator<T>;
  entries(): IterableIterator<[string, T]>;
  forEach(callback: (value: T, key: string) => void): void;
  /** `on('snapshot', listener)`: the map is current again (after every subscribe, resubscribe and resume). */
  onSnapshot(listener: (ctx: SnapshotContext) => void): () => void;
  /** `on('change', listener)`: one key changed (not fired for the entries of a full snapshot: `snapshot` follows). */
  onChange(listener: (change: KeyChange<T>) => void): () => void;
}

/** A keyed subscription of the SSE client: the map and the receive side. */
export interface KeyedReceiveSubscription<T = unknown> extends ReceiveSubscription, KeyedState<T> {
  on<K extends keyof KeyedSubscriptionEvents<T>>(event: K, listener: (arg: KeyedSubscriptionEvents<T>[K]) => void): () => void;
  once<K extends keyof KeyedSubscriptionEvents<T>>(event: K, listener: (arg: KeyedSubscriptionEvents<T>[K]) => void): () => void;
  off<K extends keyof KeyedSubscriptionEvents<T>>(event: K, listener: (arg: KeyedSubscriptionEvents<T>[K]) => void): void;
}

/** A keyed subscription of the WebSocket client; `publish(data, { key, op })` writes a key. */
export interface KeyedSubscription<T = unknown> extends Subscription, KeyedReceiveSubscription<T> {
  on<K extends keyof KeyedSubscriptionEvents<T>>(event: K, listener: (arg: KeyedSubscriptionEvents<T>[K]) => void): () => void;
  once<K extends keyof KeyedSubscriptionEvents<T>>(event: K, listener: (arg: KeyedSubscriptionEvents<T>[K]) => void): () => void;
  off<K extends keyof KeyedSubscriptionEvents<T>>(event: K, listener: (arg: KeyedSubscriptionEvents<T>[K]) => void): void;
}

export class KeyedSubscriptionImpl extends SubscriptionImpl implements KeyedSubscription {
  synced = false;
  private map = new Map<string, unknown>();
  /** A full snapshot being received (across reconnects too); it replaces `map` once complete. */
  private next: Map<string, unknown> | undefined;
  private kind: SnapshotContext['kind'] = 'full';

  get size(): number {
    return this.map.size;
  }

  get(key: string): unknown {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  values(): IterableIterator<unknown> {
    return this.map.values();
  }

  entries(): IterableIterator<[string, unknown]> {
    return this.map.entries();
  }

  forEach(callback: (value: unknown, key: string) => void): void {
    this.map.forEach(callback);
  }

  onSnapshot(listener: (ctx: SnapshotContext) => void): () => void {
    return this.on('snapshot', listener);
  }

  onChange(listener: (change: KeyChange) => void): () => void {
    return this.on('change', listener);
  }

  override setSubscribing(): void {
    this.synced = false;
    super.setSubscribing();
  }

  override live(r: SubscribeResult, since: StreamPosition | undefined): void {
    if (this.state !== 'subscribing') return;
    // Neither a snapshot nor a replay: the server keeps no state for this channel, so there is no map to follow.
    if (!r.snapshot && !(since && r.recovered)) {
      this.failed(new SwitchboardError('not_keyed', `channel "${this.channel}" is not keyed: its namespace needs "keyed": true (or subscribe without "keyed")`));
      return this.host.unsubscribeNow(this);
    }
    if (r.snapshot === 'full') this.next = new Map();
    // Resuming in the middle of a full snapshot still ends in a rebuilt map.
    this.kind = this.next ? 'full' : r.snapshot ?? 'replay';
    super.live(r, since);
  }

  protected override apply(p: Publication): void {
    if (p.key === undefined) return;
    const into = this.next ?? this.map;
    const del = p.op === 'delete';
    if (del) into.delete(p.key);
    else into.set(p.key, p.data);
    if (!this.next) this.emit('change', { channel: this.channel, key: p.key, op: p.op!, value: del ? undefined : p.data, offset: p.offset });
  }

  protected override current(): void {
    if (this.next) {
      this.map = this.next;
      this.next = undefined;
    }
    this.synced = true;
    const pos = this.position!;
    this.emit('snapshot', { channel: this.channel, kind: this.kind, size: this.map.size, epoch: pos.epoch, offset: pos.offset });
  }
}

/** The client's subscription for `channel`: the existing one (of the same kind), or a new plain or keyed one. */
export function subscriptionFor(subs: Map<string, SubscriptionImpl>, channel: string, host: SubscriptionHost, options: SubscriptionOptions = {}): SubscriptionImpl {
  if (typeof channel !== 'string' || channel.length === 0) throw new OptionError('channel', 'must be a non-empty string');
  const keyed = options.keyed;
  let sub = subs.get(channel);
  if (sub) {
    if (keyed !== undefined && keyed !== sub instanceof KeyedSubscriptionImpl) {
      throw new OptionError('keyed', `"${channel}" already has a ${keyed ? 'plain' : 'keyed'} subscription: removeSubscription() it first`);
    }
    return sub;
  }
  if (keyed && options.since) throw new OptionError('since', 'a keyed subscription starts from the full state and cannot take "since"');
  if (keyed && options.snapshot === false) throw new OptionError('snapshot', 'a keyed subscription is built from the state: it cannot skip the snapshot');
  sub = keyed ? new KeyedSubscriptionImpl(channel, host, options) : new SubscriptionImpl(channel, host, options);
  subs.set(channel, sub);
  return sub;
}
