import { randomBytes } from 'node:crypto';
import {
  BrokerUnavailableError,
  type Broker,
  type BrokerHandler,
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
import { KeyedLog } from './keyed-memory.js';
import { ErrorCode, ReplyError } from '../protocol/index.js';

export interface MemoryBrokerOptions {
  /** Default history bounds per channel: `size` (count) and `ttlMs` (age, ms). `req.history` overrides them. */
  history: HistoryBounds;
  /**
   * A channel's stream state (epoch, offset, history) is dropped after this many ms without a publish and without a
   * node subscription; the next touch then gets a new epoch and offsets restart at 0.
   */
  metaTtlMs: number;
  /**
   * Most channels with stream state at once (0 or absent: no limit). Past it, touching a new channel (publish,
   * subscribe, history) first drops idle streams, then is refused with `limit_exceeded`: a client allowed to publish
   * cannot grow the process without bound by inventing channel names.
   */
  maxChannels?: number;
  /** Clock in ms since the Unix epoch. Default `Date.now`; tests inject one. */
  now?: () => number;
  /** How often expired state is swept, in ms. Default 60_000. The timer is unref()'d. */
  sweepIntervalMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** The history array is compacted once this many slots at its head are dead (and they are at least half of it). */
const COMPACT_MIN_HEAD = 64;
/** At the channel limit, idle streams are swept at most this often (a sweep walks every stream: O(channels)). */
const FULL_SWEEP_MIN_INTERVAL_MS = 1000;

/** 8 lowercase hex chars (32 random bits): matches EPOCH_PATTERN and is short enough for SSE ids. */
function newEpoch(previous?: string): string {
  let e: string;
  do e = randomBytes(4).toString('hex');
  while (e === previous);
  return e;
}

/** One channel's stream: positions plus the kept publications, whose offsets are contiguous (trimmed at the head). */
class Stream {
  /** Offset of the last publication; 0 = nothing published in this epoch. */
  offset = 0;
  /** Kept publications live in `items[head..]`; dead head slots are cleared and compacted away in bulk. */
  items: (ServerPublication | undefined)[] = [];
  head = 0;
  /** Latest publication per key, for a channel published with keys (keyed channel); created by its first one. */
  keyed: KeyedLog | undefined;
  constructor(
    readonly epoch: string,
    /** Last publish, creation or unsubscribe (ms); the idle-expiry clock starts here. */
    public lastActive: number,
    /** Bounds of the last publish (the broker default until one overrides them). */
    public bounds: HistoryBounds,
  ) {}

  get kept(): number {
    return this.items.length - this.head;
  }

  /** Drops publications beyond `size` and those at least `ttlMs` old. Only ever drops from the head. */
  trim(now: number): void {
    const { items } = this;
    const { size, ttlMs } = this.bounds;
    const minTime = now - ttlMs;
    let head = this.head;
    const end = items.length;
    while (head < end && (end - head > size || items[head]!.time <= minTime)) items[head++] = undefined;
    this.head = head;
    if (head === end) {
      items.length = 0;
      this.head = 0;
    } else if (head >= COMPACT_MIN_HEAD && head * 2 >= end) {
      // Copies at most `head` live items after `head` trims: O(1) amortized per publish, and no new array.
      items.copyWithin(0, head);
      items.length = end - head;
      this.head = 0;
    }
  }
}

/** Single-process broker: history and presence live in this process, "other nodes" do not exist. */
export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  private handler: BrokerHandler | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly streams = new Map<string, Stream>();
  private readonly subscribed = new Set<string>();
  private readonly members = new Map<string, Map<string, Member>>();
  private readonly now: () => number;
  private readonly defaults: HistoryBounds;
  private readonly metaTtlMs: number;
  private readonly sweepIntervalMs: number;
  private readonly maxChannels: number;
  private lastFullSweep = -Infinity;

  constructor(options: MemoryBrokerOptions) {
    const { history, metaTtlMs } = options;
    const sweep = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (!Number.isSafeInteger(history.size) || history.size < 0)
      throw new TypeError(`memory broker: history.size must be an integer >= 0, got ${history.size}`);
    if (!(history.ttlMs > 0)) throw new TypeError(`memory broker: history.ttlMs must be > 0 ms, got ${history.ttlMs}`);
    if (!(metaTtlMs > 0)) throw new TypeError(`memory broker: metaTtlMs must be > 0 ms, got ${metaTtlMs}`);
    if (!(sweep > 0)) throw new TypeError(`memory broker: sweepIntervalMs must be > 0 ms, got ${sweep}`);
    this.defaults = history;
    this.metaTtlMs = metaTtlMs;
    this.sweepIntervalMs = sweep;
    this.now = options.now ?? Date.now;
    this.maxChannels = options.maxChannels ?? 0;
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
    this.streams.clear();
    this.subscribed.clear();
    this.members.clear();
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

  /** The channel's live stream, replacing one that sat idle past metaTtlMs (so expiry never depends on sweep timing). */
  private stream(channel: string, now: number): Stream {
    const s = this.streams.get(channel);
    if (s !== undefined && !this.isIdle(channel, s, now)) return s;
    if (s === undefined && this.maxChannels > 0 && this.streams.size >= this.maxChannels) this.makeRoom(now);
    const fresh = new Stream(newEpoch(s?.epoch), now, this.defaults);
    this.streams.set(channel, fresh);
    return fresh;
  }

  /** At the channel limit: sweep idle streams (rate-limited), else refuse the new channel. */
  private makeRoom(now: number): void {
    if (now - this.lastFullSweep >= FULL_SWEEP_MIN_INTERVAL_MS) {
      this.lastFullSweep = now;
      this.sweep();
    }
    if (this.streams.size >= this.maxChannels) {
      throw new ReplyError(ErrorCode.LimitExceeded, `this node holds its most channels (${this.maxChannels}; history.maxChannels): try again later`);
    }
  }

  /** A keyed channel holding keys never idles out: its state is what offline clients come back to (days later). */
  private isIdle(channel: string, s: Stream, now: number): boolean {
    return now - s.lastActive > this.metaTtlMs && !this.subscribed.has(channel) && !(s.keyed && s.keyed.size > 0);
  }

  /**
   * Runs `fn` on the channel's stream and settles with its result; a throw (a refused channel or key) rejects. Every
   * operation that creates stream state goes through here.
   */
  private withStream<T>(channel: string, fn: (s: Stream, now: number) => T): Promise<T> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    try {
      const now = this.now();
      return Promise.resolve(fn(this.stream(channel, now), now));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  publish(req: PublishRequest): Promise<ServerPublication> {
    return this.withStream(req.channel, (s, now) => this.append(s, req, now));
  }

  private append(s: Stream, req: PublishRequest, now: number): ServerPublication {
    const { key, keyed } = req;
    if (key !== undefined && keyed !== undefined) {
      if (s.keyed) s.keyed.options = keyed;
      else s.keyed = new KeyedLog(keyed);
      s.keyed.admit(key, now); // before the offset is taken: a refused publication leaves no hole in the stream
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
    s.lastActive = now;
    s.bounds = req.history ?? this.defaults;
    if (s.bounds.size > 0) s.items.push(pub);
    s.trim(now);
    // Delivered before the promise resolves: a subscriber reading history after subscribing sees each offset once.
    if (this.subscribed.has(req.channel)) this.handler!.onPublication(pub);
    return pub;
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
      if (s) s.lastActive = Math.max(s.lastActive, this.now());
    }
    return Promise.resolve();
  }

  history(channel: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.withStream(channel, (s, now) => this.read(s, query, now));
  }

  private read(s: Stream, query: HistoryQuery, now: number): HistoryPage {
    s.trim(now); // age-expired entries are never returned, even between sweeps
    const top = { epoch: s.epoch, offset: s.offset };
    const earliest = s.kept > 0 ? s.items[s.head]!.offset : s.offset + 1;
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
    return this.withStream(channel, (s, now) => {
      const top = { epoch: s.epoch, offset: s.offset };
      const log = s.keyed;
      if (!log) return { publications: [], top, complete: 0 };
      log.expire(now); // an expired tombstone is never returned, even between sweeps
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
    for (const [channel, s] of this.streams) {
      if (this.isIdle(channel, s, now)) this.streams.delete(channel);
      else {
        s.trim(now);
        s.keyed?.expire(now);
      }
    }
  }

  /** Counts for metrics and tests: channels with stream state, and publications kept across them. */
  stats(): { channels: number; publications: number } {
    let publications = 0;
    for (const s of this.streams.values()) publications += s.kept;
    return { channels: this.streams.size, publications };
  }
}

export function createMemoryBroker(options: MemoryBrokerOptions): Broker {
  return new MemoryBroker(options);
}
