import {
  BrokerUnavailableError,
  replayOf,
  type Broker,
  type BrokerHandler,
  type BrokerStats,
  type ControlMessage,
  type HistoryBounds,
  type HistoryQuery,
  type HistoryPage,
  type Member,
  type ServerPublication,
  type PublishRequest,
  type StatePage,
  type StateQuery,
} from './broker.js';
import { IdempotencyTable } from './idempotency-memory.js';
import { KeyedLog } from './keyed-memory.js';
import { publicationBytes } from './memory-bytes.js';
import { Stream } from './memory-stream.js';
import { RetentionQueue } from './retention.js';
import { ErrorCode, NO_STREAM_EPOCH, ReplyError } from '../protocol/index.js';
import { newEpoch } from '../core/ids.js';

export interface MemoryBrokerOptions {
  /** Default history bounds per channel: `size` (count) and `ttlMs` (age, ms). `req.history` overrides them. */
  history: HistoryBounds;
  /**
   * A channel's stream state (epoch, offset, history) is dropped after this many ms without a publish and without a
   * node subscription; the next publish or subscriber then gets a new epoch and offsets restart at 0.
   */
  metaTtlMs: number;
  /**
   * Most channels with stream state at once (0 or absent: no limit). Only a publish or a subscriber's read (`open`)
   * creates stream state; other reads create nothing. Past the limit a new channel first evicts the least recently
   * active idle stream (no node subscription, no keyed state), and is refused with `limit_exceeded` only when every
   * stream is in use: idle state cannot lock out new channels.
   */
  maxChannels?: number;
  /**
   * Node-wide bound of the bytes kept (publications in history plus keyed channels' latest-per-key state, counted
   * roughly by `publicationBytes`), 0 or absent: no limit. Past it the oldest publications of all channels are evicted
   * first; a resume that needs one is told `recovered: false` (`too_old`). Keyed state is never evicted: it may hold
   * half of the bound, past which a keyed upsert that grows it is refused with `limit_exceeded`.
   */
  maxBytes?: number;
  /**
   * Idempotency keys remembered at once across channels (default 100_000) and their bytes (default 16 MiB, counted
   * roughly). Past either the oldest keys are forgotten first (idempotency-memory.ts).
   */
  idempotencyMaxKeys?: number;
  idempotencyMaxBytes?: number;
  /** Clock in ms since the Unix epoch. Default `Date.now`; tests inject one. */
  now?: () => number;
  /** How often expired state is swept, in ms. Default 60_000. The timer is unref()'d. */
  sweepIntervalMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** Keyed channels' latest-per-key state may hold at most this share of `maxBytes`; history always keeps the rest. */
const KEYED_BUDGET_SHARE = 0.5;

/** A stream's place in the activity order (least recently active first) is refreshed at most this often (ms). */
const REORDER_INTERVAL_MS = 1000;

/** What the broker holds, for metrics and tests. */
export interface MemoryBrokerStats extends BrokerStats {
  /** Channels with stream state. */
  readonly channels: number;
  /** Publications kept in history across channels. */
  readonly publications: number;
  /** Bytes counted against `maxBytes`: kept history plus keyed state. */
  readonly bytes: number;
  /** Publications evicted from history by `maxBytes` since start. */
  readonly evictedPublications: number;
  /** Idle streams evicted to make room under `maxChannels` since start. */
  readonly evictedChannels: number;
  /** Idempotency keys remembered, their bytes, and keys forgotten before their window passed (table full). */
  readonly idempotencyKeys: number;
  readonly idempotencyBytes: number;
  readonly idempotencyForgotten: number;
}

function emptyHistory(): HistoryPage {
  return { publications: [], top: { epoch: NO_STREAM_EPOCH, offset: 0 }, earliest: 1 };
}

/** Single-process broker: history and presence live in this process, "other nodes" do not exist. */
export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  private handler: BrokerHandler | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Streams in activity order, least recently active first (a publish or unsubscribe moves a stream to the end). */
  private readonly streams = new Map<string, Stream>();
  private readonly subscribed = new Set<string>();
  private readonly members = new Map<string, Map<string, Member>>();
  private readonly now: () => number;
  private readonly defaults: HistoryBounds;
  private readonly metaTtlMs: number;
  private readonly sweepIntervalMs: number;
  private readonly maxChannels: number;
  private readonly maxBytes: number;
  /** Every kept publication in publish order: the budget evicts from its front. */
  private readonly retention = new RetentionQueue();
  /** Totals over every stream, kept up to date by `account`: O(1) budget checks and stats. */
  private historyBytes = 0;
  private keptCount = 0;
  private keyedBytes = 0;
  private evictedPublications = 0;
  private evictedChannels = 0;
  private readonly idempotency: IdempotencyTable;

  constructor(options: MemoryBrokerOptions) {
    const { history, metaTtlMs } = options;
    const sweep = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (!Number.isSafeInteger(history.size) || history.size < 0)
      throw new TypeError(`memory broker: history.size must be an integer >= 0, got ${history.size}`);
    if (!(history.ttlMs > 0)) throw new TypeError(`memory broker: history.ttlMs must be > 0 ms, got ${history.ttlMs}`);
    if (!(metaTtlMs > 0)) throw new TypeError(`memory broker: metaTtlMs must be > 0 ms, got ${metaTtlMs}`);
    if (!(sweep > 0)) throw new TypeError(`memory broker: sweepIntervalMs must be > 0 ms, got ${sweep}`);
    const maxBytes = options.maxBytes ?? 0;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError(`memory broker: maxBytes must be an integer >= 0, got ${maxBytes}`);
    this.defaults = history;
    this.metaTtlMs = metaTtlMs;
    this.sweepIntervalMs = sweep;
    this.now = options.now ?? Date.now;
    this.maxChannels = options.maxChannels ?? 0;
    this.maxBytes = maxBytes;
    this.idempotency = new IdempotencyTable(options.idempotencyMaxKeys, options.idempotencyMaxBytes);
  }

  start(handler: BrokerHandler): Promise<void> {
    if (this.closed) return Promise.reject(new BrokerUnavailableError('memory broker is closed'));
    if (this.handler) return Promise.reject(new Error('memory broker: start() was already called'));
    this.handler = handler;
    this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.streams.values()) s.release();
    this.streams.clear();
    this.subscribed.clear();
    this.members.clear();
    this.retention.clear();
    this.historyBytes = this.keptCount = this.keyedBytes = 0;
    return Promise.resolve();
  }

  isReady(): boolean {
    return this.handler !== undefined && !this.closed;
  }

  /** Why an operation cannot run now, or undefined when it can. Allocates only on the error path. */
  private unusable(): Error | undefined {
    if (this.closed) return new BrokerUnavailableError('memory broker is closed');
    if (!this.handler) return new Error('memory broker: call start(handler) before using it');
    return undefined;
  }

  /** Runs `fn` at the current time and settles with its result; a throw (a refused channel or key) rejects. */
  private run<T>(fn: (now: number) => T): Promise<T> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    try {
      return Promise.resolve(fn(this.now()));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /**
   * The channel's live stream, or undefined when it has none and `create` is false (reads create nothing). A stream
   * idle past metaTtlMs is dropped here, so expiry never depends on sweep timing.
   */
  private stream(channel: string, now: number, create: boolean): Stream | undefined {
    const s = this.streams.get(channel);
    if (s !== undefined) {
      if (!this.isIdle(channel, s, now)) return s;
      this.drop(channel, s);
    }
    if (!create) return undefined;
    if (this.maxChannels > 0 && this.streams.size >= this.maxChannels) this.makeRoom();
    const fresh = new Stream(newEpoch(s?.epoch), now, this.defaults);
    this.streams.set(channel, fresh);
    return fresh;
  }

  /**
   * At the channel limit: evicts the least recently active idle stream. Streams in use met on the way move to the
   * recent end, so the next search does not walk them again (amortized O(1) per new channel). Refuses the new channel
   * only when every stream is in use.
   */
  private makeRoom(): void {
    let left = this.streams.size;
    for (const [channel, s] of this.streams) {
      if (left-- <= 0) break;
      if (!this.inUse(channel, s)) {
        this.drop(channel, s);
        this.evictedChannels++;
        return;
      }
      this.streams.delete(channel);
      this.streams.set(channel, s);
    }
    throw new ReplyError(ErrorCode.LimitExceeded, `this node holds its most channels (${this.maxChannels}; history.maxChannels), every one subscribed or keyed: try again later`);
  }

  /** Subscribed here, or a keyed channel holding keys: its state is what clients come back to. */
  private inUse(channel: string, s: Stream): boolean {
    return this.subscribed.has(channel) || (s.keyed !== undefined && s.keyed.size > 0);
  }

  /** A keyed channel holding keys never idles out: its state is what offline clients come back to (days later). */
  private isIdle(channel: string, s: Stream, now: number): boolean {
    return now - s.lastActive > this.metaTtlMs && !this.inUse(channel, s);
  }

  /** Forgets a stream and its bytes; its budget queue entries become stale. */
  private drop(channel: string, s: Stream): void {
    this.streams.delete(channel);
    this.historyBytes -= s.bytes;
    this.keptCount -= s.kept;
    this.keyedBytes -= s.keyed?.bytes ?? 0;
    s.release();
  }

  /** Marks the stream active now: it moves to the recent end of the activity order (at most once a second). */
  private touch(channel: string, s: Stream, now: number): void {
    s.lastActive = Math.max(s.lastActive, now);
    if (now - s.orderedAt < REORDER_INTERVAL_MS) return;
    s.orderedAt = now;
    this.streams.delete(channel);
    this.streams.set(channel, s);
  }

  /** Runs `fn`, which may change the stream's history or keyed state, and carries the change into the totals. */
  private account<T>(s: Stream, fn: () => T): T {
    const bytes = s.bytes;
    const kept = s.kept;
    const keyed = s.keyed?.bytes ?? 0;
    try {
      return fn();
    } finally {
      this.historyBytes += s.bytes - bytes;
      this.keptCount += s.kept - kept;
      this.keyedBytes += (s.keyed?.bytes ?? 0) - keyed;
    }
  }

  publish(req: PublishRequest): Promise<ServerPublication> {
    return this.run((now) => {
      const idem = req.idempotency;
      if (idem) {
        // Checked and remembered in this one synchronous step: a concurrent second submit sees the first.
        const seen = this.idempotency.get(req.channel, idem.key, now);
        if (seen) return this.replay(req, seen);
      }
      const s = this.stream(req.channel, now, true)!;
      const pub = this.account(s, () => this.append(s, req, now));
      if (idem) this.idempotency.set(req.channel, idem.key, pub, now, idem.windowMs);
      this.enforceBudget();
      // Delivered before the promise resolves: a subscriber reading history after subscribing sees each offset once.
      if (this.subscribed.has(req.channel)) this.handler!.onPublication(pub);
      return pub;
    });
  }

  private replay(req: PublishRequest, seen: { epoch: string; offset: number; time: number }): ServerPublication {
    const op = req.key === undefined ? undefined : (req.op ?? 'upsert');
    return replayOf({ channel: req.channel, event: req.event, data: req.data, epoch: seen.epoch, offset: seen.offset, time: seen.time, meta: req.meta, key: req.key, op });
  }

  private append(s: Stream, req: PublishRequest, now: number): ServerPublication {
    const { key, keyed } = req;
    const bytes = publicationBytes(req);
    if (key !== undefined && keyed !== undefined) {
      if (s.keyed) s.keyed.options = keyed;
      else s.keyed = new KeyedLog(keyed);
      // Both checks before the offset is taken: a refused publication leaves no hole in the stream. Expired
      // tombstones go first (they free bytes); the key check may push out a tombstone, so it comes last.
      s.keyed.expire(now);
      if (req.op !== 'delete') this.admitKeyedBytes(s.keyed, key, bytes);
      s.keyed.admit(key, now);
    }
    const pub: ServerPublication = {
      channel: req.channel,
      event: req.event,
      data: req.data,
      epoch: s.epoch,
      offset: ++s.offset,
      time: now,
      meta: req.meta, // always present (maybe undefined) so every ServerPublication has one hidden class
      key,
      op: key === undefined ? undefined : (req.op ?? 'upsert'),
    };
    if (key !== undefined && s.keyed) s.keyed.write(pub);
    this.touch(req.channel, s, now);
    s.bounds = req.history ?? this.defaults;
    if (s.bounds.size > 0) {
      s.push(pub, bytes);
      this.retention.push(s, pub.offset);
    }
    s.trim(now);
    return pub;
  }

  /** Keyed state is never evicted (it is the channel's data), so its growth is what is refused past its share. */
  private admitKeyedBytes(log: KeyedLog, key: string, bytes: number): void {
    if (this.maxBytes === 0) return;
    const growth = log.growth(key, bytes);
    const cap = Math.floor(this.maxBytes * KEYED_BUDGET_SHARE);
    if (growth > 0 && this.keyedBytes + growth > cap) {
      throw new ReplyError(ErrorCode.LimitExceeded, `keyed channels on this node hold their most bytes (${cap}, half of history.maxBytes): delete keys or raise the limit`);
    }
  }

  /** Evicts the oldest kept publications of all channels until history plus keyed state fit in `maxBytes`. */
  private enforceBudget(): void {
    if (this.maxBytes > 0) {
      while (this.historyBytes + this.keyedBytes > this.maxBytes) {
        const freed = this.retention.evictOldest();
        if (freed === 0) break; // no history left: keyed state alone, bounded by its share
        this.historyBytes -= freed;
        this.keptCount--;
        this.evictedPublications++;
      }
    }
    this.retention.compact(this.keptCount);
  }

  subscribe(channel: string): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    this.subscribed.add(channel);
    return Promise.resolve();
  }

  unsubscribe(channel: string): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    // The idle clock restarts now: a channel watched until a moment ago is not "idle for metaTtlMs".
    if (this.subscribed.delete(channel)) {
      const s = this.streams.get(channel);
      if (s) this.touch(channel, s, this.now());
    }
    return Promise.resolve();
  }

  history(channel: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.run((now) => {
      const s = this.stream(channel, now, query.open === true);
      return s ? this.account(s, () => this.read(s, query, now)) : emptyHistory();
    });
  }

  private read(s: Stream, query: HistoryQuery, now: number): HistoryPage {
    s.trim(now); // age-expired entries are never returned, even between sweeps
    const top = { epoch: s.epoch, offset: s.offset };
    const earliest = s.earliest;
    const publications: ServerPublication[] = [];
    const { since, limit, reverse = false } = query;
    if (since !== undefined && since.epoch !== s.epoch) return { publications, top, earliest };
    // Kept offsets are contiguous, so the wanted range [from, to] maps straight to array indexes.
    let from = Math.max(earliest, since ? since.offset + 1 : 0);
    let to = s.offset;
    const max = limit === undefined ? Infinity : Math.max(0, limit);
    if (to - from + 1 > max) {
      // Too many match: reverse keeps the NEWEST `limit` (a "latest N" view); forward keeps the OLDEST `limit`, so a
      // resuming reader can page forward with `since` = the last offset it got and never skip one.
      if (reverse) from = to - max + 1;
      else to = from + max - 1;
    }
    const base = s.head - earliest;
    if (reverse) for (let o = to; o >= from; o--) publications.push(s.items[base + o]!);
    else for (let o = from; o <= to; o++) publications.push(s.items[base + o]!);
    return { publications, top, earliest };
  }

  state(channel: string, query: StateQuery): Promise<StatePage> {
    return this.run((now) => {
      const s = this.stream(channel, now, false);
      if (!s) return { publications: [], top: { epoch: NO_STREAM_EPOCH, offset: 0 }, complete: 0 };
      const top = { epoch: s.epoch, offset: s.offset };
      const log = s.keyed;
      if (!log) return { publications: [], top, complete: 0 };
      this.account(s, () => log.expire(now)); // an expired tombstone is never returned, even between sweeps
      return { publications: log.page(query), top, complete: log.complete };
    });
  }

  addPresence(channel: string, member: Member): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    let m = this.members.get(channel);
    if (!m) this.members.set(channel, (m = new Map()));
    m.set(member.client, member); // keyed by client: re-adding replaces
    return Promise.resolve();
  }

  removePresence(channel: string, clientId: string): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    const m = this.members.get(channel);
    if (m && m.delete(clientId) && m.size === 0) this.members.delete(channel);
    return Promise.resolve();
  }

  presence(channel: string): Promise<Member[]> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    const m = this.members.get(channel);
    return Promise.resolve(m ? [...m.values()] : []);
  }

  publishJoin(channel: string, member: Member): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    if (this.subscribed.has(channel)) this.handler!.onJoin(channel, member);
    return Promise.resolve();
  }

  publishLeave(channel: string, member: Member): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    if (this.subscribed.has(channel)) this.handler!.onLeave(channel, member);
    return Promise.resolve();
  }

  publishControl(msg: ControlMessage): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    this.handler!.onControl(msg);
    return Promise.resolve();
  }

  /** Drops idle unsubscribed streams and age-expired history, so memory stays bounded. Runs on the timer. */
  sweep(): void {
    const now = this.now();
    this.idempotency.sweep(now);
    for (const [channel, s] of this.streams) {
      if (this.isIdle(channel, s, now)) this.drop(channel, s);
      else {
        this.account(s, () => {
          s.trim(now);
          s.keyed?.expire(now);
        });
      }
    }
    this.retention.compact(this.keptCount);
  }

  /** Counts for metrics and tests, O(1). No connection is ever replaced, so no replacement counts. */
  stats(): MemoryBrokerStats {
    const idem = this.idempotency.stats();
    return {
      channels: this.streams.size,
      publications: this.keptCount,
      bytes: this.historyBytes + this.keyedBytes,
      evictedPublications: this.evictedPublications,
      evictedChannels: this.evictedChannels,
      idempotencyKeys: idem.keys,
      idempotencyBytes: idem.bytes,
      idempotencyForgotten: idem.forgotten,
    };
  }
}

export function createMemoryBroker(options: MemoryBrokerOptions): Broker {
  return new MemoryBroker(options);
}
