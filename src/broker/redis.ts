/**
 * Broker shared by every node through Redis: positions, history and presence live in Redis; publications, join/
 * leave and control messages travel over Redis pub/sub. Every write that must be atomic is one Lua script
 * (redis-scripts.ts) touching only the keys of one channel (one cluster slot, redis-keys.ts). How Redis is reached,
 * a single server or a cluster with sharded pub/sub, is the connection's business (redis-connection.ts,
 * redis-cluster.ts): node-redis pipelines the commands issued in one tick on the command connection; pub/sub has its
 * own connection(s). Every call has a deadline that holds after the command was written (deadline.ts); a connection
 * that misses one, or a periodic PING, is replaced (connection-health.ts), the node being not ready meanwhile.
 * Publications missed while the pub/sub connection was re-established are read back from history (redis-recovery.ts).
 */
import { ClientClosedError, ClientOfflineError, ErrorReply, TimeoutError } from 'redis';
import {
  BrokerOutcomeUnknownError,
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
  type NodeRegistry,
  type NodeReport,
  type BrokerStats,
  replayOf,
} from './broker.js';
import { createClusterConnection } from './redis-cluster.js';
import { CONNECT_TIMEOUT_MS, createSingleConnection, type RedisCommands, type RedisConnection } from './redis-connection.js';
import { ConnectionHealth } from './connection-health.js';
import { withDeadline } from './deadline.js';
import { MissedPublications, advance, type NodeChannel } from './redis-recovery.js';
import { RedisKeys } from './redis-keys.js';
import { ADD_PRESENCE_SCRIPT, HISTORY_SCRIPT, PRESENCE_SCRIPT, PUBLISH_SCRIPT, type LuaScript } from './redis-scripts.js';
import { DEFAULT_TOMBSTONE_TTL_MS, STATE_SCRIPT } from './keyed-redis-scripts.js';
import { ErrorCode, ReplyError, type StreamPosition } from '../protocol/index.js';
import { newEpoch } from '../core/ids.js';

export interface RedisBrokerLogger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface RedisBrokerOptions {
  /** `redis://host:6379` (`rediss://` for TLS). With `cluster`: seed node URLs separated by commas. */
  url: string;
  /** Redis Cluster: keys routed by slot, sharded pub/sub (Redis >= 7.0). Default false (one Redis server). */
  cluster?: boolean;
  /**
   * PING the command and subscriber connection(s) this often (ms); one unanswered within min(this, commandTimeoutMs)
   * is replaced. 0: off. Default 5000.
   */
  healthCheckIntervalMs?: number;
  /** Prefix of every key and pub/sub channel (`redis.prefix`, default `sb`). */
  prefix: string;
  /** Default history bounds per channel; `req.history` overrides them per publish. */
  history: HistoryBounds;
  /** An idle channel's stream state (epoch, offset, history) expires after this many ms; next touch: new epoch. */
  metaTtlMs: number;
  /** Presence entries not refreshed for this many ms (their node died) are ignored and removed. */
  presenceTtlMs: number;
  logger?: RedisBrokerLogger;
  /**
   * Deadline of every call to Redis, in ms, holding even after the command was written: a write without reply by then
   * rejects with BrokerOutcomeUnknownError (it may have taken effect), a read with BrokerUnavailableError, and the
   * connection is treated as dead (replaced). Default 5000.
   */
  commandTimeoutMs?: number;
  /** start() gives up (BrokerUnavailableError) when Redis cannot be reached within this many ms. Default 10_000. */
  connectTimeoutMs?: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 5000;

/** Most presence entries written by one script call. */
const PRESENCE_BATCH = 1000;
/**
 * A presence refresh round (every presenceTtl/3) is written in this many slices, one per presenceTtl/3/slices ms,
 * instead of all at once: a node holding 33,000 entries sent them in one burst every 20 s, seconds of queue on a
 * starved Redis in front of every subscribe's commands (issue #15's 100k run).
 */
const PRESENCE_REFRESH_SLICES = 20;

/** A channel's presence writes: the batch waiting for the one in flight to end (writePresence). */
interface PresenceQueue {
  next?: { entries: Map<string, string>; promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void };
}
/** Redis error replies that mean "not now" rather than "bug": mapped to BrokerUnavailableError. */
const TRANSIENT_REPLY = /^(OOM|LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

/**
 * Wire and history form of a publication, compact JSON built by string concatenation so `data` (already JSON text)
 * is embedded as a string and never re-serialized: `{"c","e","d","p","o","t","m"?}`. The script inserts p/o/t.
 */
function encodeHead(req: PublishRequest): string {
  const head = '{"c":' + JSON.stringify(req.channel) + ',"e":' + JSON.stringify(req.event) + ',"d":' + JSON.stringify(req.data);
  // Keyed channels: "k" the key, "x" the op ("u" upsert, "d" delete).
  return req.key === undefined ? head : head + ',"k":' + JSON.stringify(req.key) + ',"x":"' + (req.op === 'delete' ? 'd' : 'u') + '"';
}
function encodeTail(req: PublishRequest): string {
  return req.meta === undefined ? '}' : ',"m":' + JSON.stringify(req.meta) + '}';
}

interface EncodedPublication {
  c: string;
  e: string;
  d: string;
  p: string;
  o: number;
  t: number;
  m?: ServerPublication['meta'];
  k?: string;
  x?: 'u' | 'd';
}
function decodePublication(text: string): ServerPublication {
  const o = JSON.parse(text) as EncodedPublication;
  // meta, key and op are always present (maybe undefined) so every ServerPublication has one hidden class, as in memory.
  const op = o.k === undefined ? undefined : o.x === 'd' ? 'delete' : 'upsert';
  return { channel: o.c, event: o.e, data: o.d, epoch: o.p, offset: o.o, time: o.t, meta: o.m, key: o.k, op };
}

/** Join/leave on `<channel key>:members`: `{"k":"j"|"l","c":channel,"m":member}`. */
interface EncodedMemberEvent {
  k: 'j' | 'l';
  c: string;
  m: Member;
}

class RedisBroker implements Broker, NodeRegistry {
  readonly kind = 'redis';
  private readonly keys: RedisKeys;
  private readonly conn: RedisConnection;
  private readonly commandTimeoutMs: number;
  /** Health of the command connection(s) and of the subscriber connection(s): one mechanism, two instances. */
  private readonly commandHealth: ConnectionHealth;
  private readonly subscriberHealth: ConnectionHealth;
  /** Reads back publications missed while the pub/sub connection was re-established. */
  private readonly missed: MissedPublications;
  private readonly logger: RedisBrokerLogger;
  private handler: BrokerHandler | undefined;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Node subscriptions: channel -> its SUBSCRIBE and last known position. */
  private readonly subscribed = new Map<string, NodeChannel>();
  /** Presence this broker added and must keep refreshing: channel -> client id -> member JSON. */
  private readonly ownPresence = new Map<string, Map<string, string>>();
  /** The entries of the refresh round under way ([channel, client id]), and how many of them were written. */
  private refreshRound: [string, string][] = [];
  private refreshDone = 0;
  private refreshSlice = 0;
  /** Presence writes per channel: one batch in flight, the next one filling (writePresence). */
  private readonly presenceWrites = new Map<string, PresenceQueue>();
  /** Connection state per client, so a lost connection is logged once, not on every reconnect attempt. */
  private readonly down = new Set<string>();
  /** Channels unsubscribed while Redis was unreachable: their Redis subscriptions are dropped on reconnect. */
  private readonly staleSubscriptions = new Set<string>();
  /**
   * Epoch offered to Redis for a channel that has none; replaced once Redis took it, so a stream re-created after
   * expiry gets a different one. Kept between calls so the publish hot path draws no random bytes.
   */
  private epochCandidate = newEpoch();

  constructor(private readonly options: RedisBrokerOptions) {
    const { history, metaTtlMs, presenceTtlMs, prefix } = options;
    if (!options.url) throw new TypeError('redis broker: redis.url is required, such as "redis://127.0.0.1:6379"');
    if (!prefix) throw new TypeError('redis broker: redis.prefix must not be empty');
    if (!Number.isSafeInteger(history.size) || history.size < 0)
      throw new TypeError(`redis broker: history.size must be an integer >= 0, got ${history.size}`);
    if (!(history.ttlMs > 0)) throw new TypeError(`redis broker: history.ttlMs must be > 0 ms, got ${history.ttlMs}`);
    if (!(metaTtlMs > 0)) throw new TypeError(`redis broker: metaTtlMs must be > 0 ms, got ${metaTtlMs}`);
    if (!(presenceTtlMs > 0)) throw new TypeError(`redis broker: presenceTtlMs must be > 0 ms, got ${presenceTtlMs}`);
    const urls = options.url.split(',').map((u) => u.trim()).filter(Boolean);
    if (urls.length > 1 && !options.cluster) throw new TypeError('redis broker: several URLs in redis.url need redis.cluster: true');
    if (options.cluster && /[{}]/.test(prefix)) throw new TypeError('redis broker: redis.prefix must not contain { or } with a cluster (it would override the per-channel hash tags)');
    this.keys = new RedisKeys(prefix);
    this.logger = options.logger ?? console;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (!(this.commandTimeoutMs > 0)) throw new TypeError(`redis broker: commandTimeoutMs must be > 0 ms, got ${this.commandTimeoutMs}`);
    const connection = {
      urls,
      commandTimeoutMs: this.commandTimeoutMs,
      events: {
        down: (name: string, err: unknown) => {
          if (this.closed || this.down.has(name)) return;
          this.down.add(name);
          this.logger.warn({ err }, `redis broker: ${name} connection lost, reconnecting`);
        },
        up: (name: string) => {
          const wasDown = this.down.delete(name);
          if (wasDown) this.logger.warn(`redis broker: ${name} connection restored`);
          if (!name.startsWith('subscriber')) return;
          this.dropStaleSubscriptions();
          // node-redis reconnected and resubscribed ('ready' comes after the SUBSCRIBE replies): read back what was
          // published meanwhile.
          if (wasDown) this.missed.recover();
        },
      },
    };
    this.conn = options.cluster ? createClusterConnection(connection) : createSingleConnection(connection);
    this.missed = new MissedPublications({
      subscribed: this.subscribed,
      readAfter: (channel, since, limit) => this.readAfter(channel, since, limit),
      handler: () => this.handler,
      warn: (...args) => this.logger.warn(...args),
    });
    // A replacement that hangs (Redis still frozen) fails after this long and is retried at the next check.
    const replaceTimeoutMs = CONNECT_TIMEOUT_MS + this.commandTimeoutMs;
    // A single Redis: one connection per health, whose replies tell slow from frozen (connection-health.ts).
    const single = !options.cluster;
    this.commandHealth = new ConnectionHealth('command', {
      probe: (ms) => this.conn.checkCommands(ms),
      replace: () => this.conn.replaceCommands(),
    }, replaceTimeoutMs, this.logger, undefined, single);
    this.subscriberHealth = new ConnectionHealth('subscriber', {
      probe: (ms) => this.conn.checkSubscribers(ms),
      replace: () => this.conn.replaceSubscriber(),
    }, replaceTimeoutMs, this.logger, () => this.missed.recover(), single);
  }

  /** The command connection (or cluster client): keyed commands only. Replaced when it stops answering. */
  private get cmd(): RedisCommands {
    return this.conn.cmd;
  }

  /** Every node reports itself here (`sb:{nodes}:<id>`), so any node can answer for all of them. */
  get registry(): NodeRegistry {
    return this;
  }

  /** Connection replacements for the metrics exporter; history lives in Redis, so no history counts here. */
  stats(): BrokerStats {
    return {
      subscriberReplacements: this.subscriberReplacements,
      commandReplacements: this.commandReplacements,
      subscriberSlow: this.subscriberSlow,
      commandSlow: this.commandSlow,
    };
  }

  /** Subscriber connections replaced (failed health check or missed deadline) since start. */
  get subscriberReplacements(): number {
    return this.subscriberHealth.replacements;
  }

  /** Command connections replaced (failed health check or missed deadline) since start. */
  get commandReplacements(): number {
    return this.commandHealth.replacements;
  }

  /** Missed PINGs or deadlines on a command connection still reading replies (slow, kept), since start. */
  get commandSlow(): number {
    return this.commandHealth.slow;
  }

  /** The same on the subscriber connection. */
  get subscriberSlow(): number {
    return this.subscriberHealth.slow;
  }

  async start(handler: BrokerHandler): Promise<void> {
    if (this.closed) throw new BrokerUnavailableError('redis broker is closed');
    if (this.handler) throw new Error('redis broker: start() was already called');
    this.handler = handler;
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.conn.connect().then(() => this.conn.subscribe(this.keys.control, this.onControlMessage)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      await this.close();
      throw new BrokerUnavailableError(`redis broker: cannot connect to ${this.conn.target}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    this.every(this.options.presenceTtlMs / 3 / PRESENCE_REFRESH_SLICES, () => this.refreshPresence());
    // Memory keeps a subscribed channel alive however long it is idle; here its keys' expiry is pushed back.
    this.every(this.options.metaTtlMs / 3, () => this.keepSubscribedAlive());
    const healthMs = this.options.healthCheckIntervalMs ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS;
    if (healthMs > 0) this.every(healthMs, () => this.checkHealth(Math.min(healthMs, this.commandTimeoutMs)));
  }

  /**
   * A connection can die silently (peer gone without a FIN, a frozen Redis): node-redis would wait forever, commands
   * would hang and the node would stop receiving publications. Every check PINGs the command and the subscriber
   * connection(s); one whose PONG has not come within `timeoutMs` is treated as lost: not ready, replaced by a fresh
   * connection (for pub/sub, every channel subscribed again and what was published meanwhile read back). A recovery
   * that failed is retried here too.
   */
  private checkHealth(timeoutMs: number): void {
    if (this.closed) return;
    void this.commandHealth.check(timeoutMs);
    void this.subscriberHealth.check(timeoutMs);
    if (this.isReady()) this.missed.retry();
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, Math.max(1, Math.floor(ms)));
    t.unref();
    this.timers.push(t);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.missed.stop();
    this.commandHealth.stop();
    this.subscriberHealth.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    this.subscribed.clear();
    this.ownPresence.clear();
    await this.conn.close();
  }

  isReady(): boolean {
    return this.handler !== undefined && !this.closed && this.connected();
  }

  /** Every connection up, and none condemned (being replaced after a failed health check or a missed deadline). */
  private connected(): boolean {
    return this.conn.isReady() && this.commandHealth.usable && this.subscriberHealth.usable;
  }

  /** Why an operation cannot run now, or undefined when it can. */
  private unusable(): Error | undefined {
    if (this.closed) return new BrokerUnavailableError('redis broker is closed');
    if (!this.handler) return new Error('redis broker: call start(handler) before using it');
    if (!this.connected()) return new BrokerUnavailableError('redis broker: Redis is unreachable (reconnecting)');
    return undefined;
  }

  /**
   * Maps a client failure: a Redis error reply that is not transient stays a plain Error (a bug); a write whose
   * connection was lost after it may have been sent becomes BrokerOutcomeUnknownError; anything else (not sent, or a
   * read) BrokerUnavailableError. The broker's own errors pass through.
   */
  private failure(err: unknown, write = false): Error {
    if (err instanceof BrokerUnavailableError || err instanceof ReplyError) return err;
    if (err instanceof ErrorReply && !TRANSIENT_REPLY.test(err.message)) return new Error(`redis broker: ${err.message}`, { cause: err });
    // node-redis' TimeoutError has an empty message: name it, so the log says what happened.
    const text = (err as Error)?.message || (err instanceof TimeoutError ? `command timed out before it was sent (${this.commandTimeoutMs} ms)` : String(err));
    const message = `redis broker: ${text}`;
    // Not sent: offline or closed client, or node-redis' own timeout (which only drops unwritten commands).
    const unsent = err instanceof ErrorReply || err instanceof ClientOfflineError || err instanceof ClientClosedError || err instanceof TimeoutError;
    if (write && !unsent) return new BrokerOutcomeUnknownError(`${message} (the connection was lost before the reply: the write may have taken effect)`, { cause: err });
    return new BrokerUnavailableError(message, { cause: err });
  }

  /**
   * Runs a call on the command connection (or, `subscriber`, on the pub/sub one) under the deadline
   * `commandTimeoutMs`, which holds even after the command was written. When it passes, the connection is condemned
   * (replaced; the node is not ready meanwhile) and the call rejects: a write with BrokerOutcomeUnknownError, a read
   * with BrokerUnavailableError.
   */
  private async guarded<T>(write: boolean, p: Promise<T>, connection: 'command' | 'subscriber' = 'command'): Promise<T> {
    const health = connection === 'command' ? this.commandHealth : this.subscriberHealth;
    // Every reply read, in time or late, a value or a Redis error reply, shows the connection alive.
    p.then(() => health.noteReply(), (err: unknown) => err instanceof ErrorReply && health.noteReply());
    try {
      return await withDeadline(p, this.commandTimeoutMs, () => {
        health.condemn(`did not answer a command within ${this.commandTimeoutMs} ms (redis.commandTimeout)`, this.commandTimeoutMs);
        const message = `redis broker: no reply from Redis within ${this.commandTimeoutMs} ms (redis.commandTimeout)`;
        return write ? new BrokerOutcomeUnknownError(`${message}: the write may or may not have taken effect`) : new BrokerUnavailableError(message);
      });
    } catch (err) {
      throw this.failure(err, write);
    }
  }

  /** A script under the deadline; `write`: a failure after it was sent leaves its effect unknown. */
  private run(script: LuaScript, keys: string[], args: string[], write = false): Promise<unknown> {
    return this.guarded(write, this.evalScript(script, keys, args));
  }

  /** EVALSHA, falling back to EVAL (which also loads the script) when Redis does not know it yet. */
  private async evalScript(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.cmd.evalSha(script.sha1, { keys, arguments: args });
    } catch (err) {
      if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
    }
    return this.cmd.eval(script.source, { keys, arguments: args });
  }

  async publish(req: PublishRequest): Promise<ServerPublication> {
    const err = this.unusable();
    if (err) throw err;
    const { channel } = req;
    const bounds = req.history ?? this.options.history;
    const { key, keyed } = req;
    const isKeyed = key !== undefined && keyed !== undefined;
    const keys = [this.keys.meta(channel), this.keys.hist(channel)];
    // Keyed: the state keys join KEYS and four ARGV go last (keyed-redis-scripts.ts, KEYED_ADMIT).
    if (isKeyed) keys.push(this.keys.keyedState(channel), this.keys.keyedOrder(channel), this.keys.keyedTombs(channel));
    // Idempotent: its key goes last in KEYS, its window is ARGV[9] (redis-scripts.ts, PUBLISH_SCRIPT).
    const idem = req.idempotency;
    if (idem) keys.push(this.keys.idempotency(channel, idem.key));
    const reply = (await this.mayCreate(this.run(
      PUBLISH_SCRIPT,
      keys,
      [
        this.epochCandidate,
        this.keys.pub(channel),
        String(bounds.size),
        String(bounds.ttlMs),
        String(this.options.metaTtlMs),
        encodeHead(req),
        encodeTail(req),
        this.conn.publishCommand,
        idem ? String(Math.max(1, Math.round(idem.windowMs))) : '0',
        ...(isKeyed ? [key, req.op ?? 'upsert', String(keyed.maxKeys), String(keyed.tombstoneTtlMs)] : []),
      ],
      true,
    ))) as [string, number, number, string?];
    if (reply[3] === 'key_limit') {
      throw new ReplyError(ErrorCode.LimitExceeded, `keyed channel holds its most keys (${keyed!.maxKeys}; keyed.maxKeys): delete some or raise the limit`);
    }
    const op = isKeyed ? (req.op ?? 'upsert') : undefined;
    const pub = { channel, event: req.event, data: req.data, epoch: reply[0], offset: reply[1], time: reply[2], meta: req.meta, key, op };
    if (reply[3] === 'replay') return replayOf(pub);
    if (reply[0] === this.epochCandidate) this.epochCandidate = newEpoch(); // used: the next new stream gets another
    return pub;
  }

  subscribe(channel: string): Promise<void> {
    const err = this.unusable();
    if (err) return Promise.reject(err);
    const known = this.subscribed.get(channel);
    if (known) return known.ready;
    // Resolves when Redis confirmed both subscriptions: a history read issued afterwards cannot miss a publication.
    this.staleSubscriptions.delete(channel);
    const ready = this.guarded(false, Promise.all([
      this.conn.subscribe(this.keys.pub(channel), this.onPublicationMessage),
      this.conn.subscribe(this.keys.members(channel), this.onMemberMessage),
    ]), 'subscriber').then(
      () => undefined,
      (e: unknown) => {
        if (this.subscribed.get(channel) === entry) this.subscribed.delete(channel);
        throw e;
      },
    );
    const entry: NodeChannel = { ready, epoch: '', offset: 0 };
    this.subscribed.set(channel, entry);
    return ready;
  }

  async unsubscribe(channel: string): Promise<void> {
    const err = this.unusable();
    if (err && !(err instanceof BrokerUnavailableError && !this.closed)) throw err;
    if (!this.subscribed.delete(channel)) return;
    if (err) {
      // Redis is unreachable: the listeners check `subscribed`, so delivery stops now; the Redis subscription that
      // node-redis restores on reconnect is dropped then (dropStaleSubscriptions).
      this.staleSubscriptions.add(channel);
      return;
    }
    await Promise.all([
      this.guarded(false, this.unsubscribeRedis(channel), 'subscriber'),
      // The idle clock restarts now, as in the memory broker: a channel watched until now is not idle.
      this.touch(channel),
    ]);
  }

  /** Resolves once Redis confirmed: node-redis removes the listeners when the reply arrives. */
  private unsubscribeRedis(channel: string): Promise<unknown> {
    return Promise.all([
      this.conn.unsubscribe(this.keys.pub(channel), this.onPublicationMessage),
      this.conn.unsubscribe(this.keys.members(channel), this.onMemberMessage),
    ]);
  }

  private dropStaleSubscriptions(): void {
    for (const channel of this.staleSubscriptions) {
      this.staleSubscriptions.delete(channel);
      if (!this.subscribed.has(channel)) this.unsubscribeRedis(channel).catch(() => this.staleSubscriptions.add(channel));
    }
  }

  private touch(channel: string): Promise<unknown> {
    const ttl = this.options.metaTtlMs;
    // GT: only ever extends, and leaves a key without expiry alone (a keyed channel's meta never expires).
    return this.guarded(false, Promise.all([this.cmd.pExpire(this.keys.meta(channel), ttl, 'GT'), this.cmd.pExpire(this.keys.hist(channel), ttl)]));
  }

  async history(channel: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    const err = this.unusable();
    if (err) throw err;
    const { since, limit, reverse = false } = query;
    const reply = (await this.mayCreate(this.run(
      HISTORY_SCRIPT,
      [this.keys.meta(channel), this.keys.hist(channel)],
      [
        this.epochCandidate,
        String(this.options.history.ttlMs),
        String(this.options.metaTtlMs),
        since?.epoch ?? '',
        String(since?.offset ?? 0),
        String(limit === undefined ? -1 : Math.max(0, Math.floor(limit))),
        reverse ? '1' : '0',
        query.open === true ? '1' : '0',
      ],
    ))) as [string, number, number, string[]];
    const [epoch, top, earliest, encoded] = reply;
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    await this.drainSubscriber(channel, epoch, top);
    const publications = encoded.map(decodePublication);
    if (reverse) publications.reverse();
    return { publications, top: { epoch, offset: top }, earliest };
  }

  /** A page of a keyed channel's state (keyed-redis-scripts.ts); the same subscriber barrier as history. */
  async state(channel: string, query: StateQuery): Promise<StatePage> {
    const err = this.unusable();
    if (err) throw err;
    const k = this.keys;
    const reply = (await this.mayCreate(this.run(
      STATE_SCRIPT,
      [k.meta(channel), k.hist(channel), k.keyedState(channel), k.keyedOrder(channel), k.keyedTombs(channel)],
      [this.epochCandidate, String(this.options.metaTtlMs), String(Math.max(0, Math.floor(query.after))), String(Math.max(1, Math.floor(query.limit))), String(DEFAULT_TOMBSTONE_TTL_MS)],
    ))) as [string, number, number, string[]];
    const [epoch, top, complete, encoded] = reply;
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    await this.drainSubscriber(channel, epoch, top);
    return { publications: encoded.map(decodePublication), top: { epoch, offset: top }, complete };
  }

  /**
   * A script call that may create a stream with the epoch candidate. Used when the reply names it; and when no reply
   * comes (timeout, lost connection) the script may have run and used it all the same: the candidate is replaced, so
   * a stream recreated later (e.g. after Redis restarts empty) never gets an epoch that clients already hold
   * positions in.
   */
  private mayCreate<T>(call: Promise<T>): Promise<T> {
    const candidate = this.epochCandidate;
    return call.catch((err: unknown) => {
      if (this.epochCandidate === candidate) this.epochCandidate = newEpoch();
      throw err;
    });
  }

  /**
   * Barrier on the subscriber connection: publications come on another connection than the history reply, so one
   * included in the history may still be in flight to this node. Redis answers a PING on the subscriber connection
   * after every message it queued there before, so once the PONG is here, each publication up to the history's top
   * has been handed to the handler, and none arrives later as a duplicate. One round trip, only for subscribed channels.
   * The top read is then a position the node knows it delivered (unless a newer one is known already).
   */
  private async drainSubscriber(channel: string, epoch: string, top: number): Promise<void> {
    const sub = this.subscribed.get(channel);
    if (!sub) return;
    await this.guarded(false, this.conn.barrier(this.keys.pub(channel)), 'subscriber');
    // Only forward within an epoch: a new epoch is learned from live publications and recovery, which report it.
    if (sub.epoch === '' || (sub.epoch === epoch && sub.offset < top)) {
      sub.epoch = epoch;
      sub.offset = top;
    }
  }

  /** At most `limit` publications of the channel after `since`, oldest first, and its top position (redis-recovery.ts). */
  private async readAfter(channel: string, since: StreamPosition, limit: number): Promise<{ publications: ServerPublication[]; top: StreamPosition }> {
    const reply = (await this.mayCreate(this.run(
      HISTORY_SCRIPT,
      [this.keys.meta(channel), this.keys.hist(channel)],
      [this.epochCandidate, String(this.options.history.ttlMs), String(this.options.metaTtlMs), since.epoch, String(since.offset), String(limit), '0'],
    ))) as [string, number, number, string[]];
    const [epoch, top, , encoded] = reply;
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    return { publications: encoded.map(decodePublication), top: { epoch, offset: top } };
  }

  async addPresence(channel: string, member: Member): Promise<void> {
    const err = this.unusable();
    if (err) throw err;
    const json = JSON.stringify(member);
    let own = this.ownPresence.get(channel);
    if (!own) this.ownPresence.set(channel, (own = new Map()));
    own.set(member.client, json); // refreshed by the timer from now on, even if this first write fails
    await this.writePresence(channel, member.client, json);
  }

  /**
   * Presence entries are written per channel in batches: while one write of the channel is in flight, the entries
   * written meanwhile wait and go together, PRESENCE_BATCH to a script call. A node holding 16,000 members of one
   * channel refreshes them in 16 calls instead of 16,000, which queued in front of every other command (and of the
   * health check's PING) on the command connection for seconds; and subscribers joining at once share calls.
   * A removal takes its entry out of the waiting batch, so a write never lands after the removal of its entry.
   */
  private writePresence(channel: string, client: string, json: string): Promise<void> {
    const q = this.presenceWrites.get(channel);
    if (q === undefined) {
      const e: PresenceQueue = {};
      this.presenceWrites.set(channel, e);
      return this.sendPresence(channel, e, new Map([[client, json]]));
    }
    if (q.next === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      q.next = { entries: new Map(), promise, resolve, reject };
    }
    q.next.entries.set(client, json);
    return q.next.promise;
  }

  private sendPresence(channel: string, q: PresenceQueue, entries: Map<string, string>): Promise<void> {
    const key = this.keys.presence(channel);
    const ttl = String(this.options.presenceTtlMs);
    const calls: Promise<unknown>[] = [];
    let args: string[] = [ttl];
    for (const [client, json] of entries) {
      args.push(client, json);
      if (args.length > 2 * PRESENCE_BATCH) {
        calls.push(this.run(ADD_PRESENCE_SCRIPT, [key], args, true));
        args = [ttl];
      }
    }
    if (args.length > 1) calls.push(this.run(ADD_PRESENCE_SCRIPT, [key], args, true));
    const sent = Promise.all(calls).then(() => undefined);
    const done = (): void => {
      const next = q.next;
      if (next === undefined) {
        if (this.presenceWrites.get(channel) === q) this.presenceWrites.delete(channel);
        return;
      }
      q.next = undefined;
      this.sendPresence(channel, q, next.entries).then(next.resolve, next.reject);
    };
    sent.then(done, done);
    return sent;
  }

  async removePresence(channel: string, clientId: string): Promise<void> {
    const err = this.unusable();
    const own = this.ownPresence.get(channel);
    if (own?.delete(clientId) && own.size === 0) this.ownPresence.delete(channel);
    this.presenceWrites.get(channel)?.next?.entries.delete(clientId);
    if (err) throw err;
    await this.guarded(true, this.cmd.hDel(this.keys.presence(channel), clientId));
  }

  async presence(channel: string): Promise<Member[]> {
    const err = this.unusable();
    if (err) throw err;
    const entries = (await this.run(PRESENCE_SCRIPT, [this.keys.presence(channel)], [])) as string[];
    return entries.map((e) => (JSON.parse(e) as { m: Member }).m);
  }

  publishJoin(channel: string, member: Member): Promise<void> {
    return this.publishMemberEvent('j', channel, member);
  }

  publishLeave(channel: string, member: Member): Promise<void> {
    return this.publishMemberEvent('l', channel, member);
  }

  private async publishMemberEvent(k: 'j' | 'l', channel: string, member: Member): Promise<void> {
    const event: EncodedMemberEvent = { k, c: channel, m: member };
    await this.publishRaw(this.keys.members(channel), JSON.stringify(event));
  }

  // --- Node registry ------------------------------------------------------------------------------------------

  async reportNode(report: NodeReport, ttlMs: number): Promise<void> {
    const err = this.unusable();
    if (err) throw err;
    await this.guarded(true, Promise.all([
      this.cmd.set(this.keys.node(report.id), JSON.stringify(report), { PX: ttlMs }),
      this.cmd.sAdd(this.keys.nodes, report.id),
    ]));
  }

  async nodes(): Promise<NodeReport[]> {
    const err = this.unusable();
    if (err) throw err;
    const ids = await this.guarded(false, this.cmd.sMembers(this.keys.nodes));
    if (ids.length === 0) return [];
    const values = await this.guarded(false, this.cmd.mGet(ids.map((id) => this.keys.node(id))));
    const live: NodeReport[] = [];
    const gone: string[] = [];
    values.forEach((v, i) => (v === null ? gone.push(ids[i]!) : live.push(JSON.parse(v) as NodeReport)));
    // Nodes whose report expired died without saying goodbye: forget them.
    if (gone.length > 0) await this.guarded(false, this.cmd.sRem(this.keys.nodes, gone));
    return live;
  }

  async publishControl(msg: ControlMessage): Promise<void> {
    await this.publishRaw(this.keys.control, JSON.stringify(msg));
  }

  private async publishRaw(redisChannel: string, message: string): Promise<void> {
    const err = this.unusable();
    if (err) throw err;
    await this.guarded(true, this.conn.publish(redisChannel, message));
  }

  // Pub/sub listeners: arrow properties, so the same function is passed to subscribe and unsubscribe. One JSON.parse
  // and one Map lookup per message per node; the hub fans out from there.
  private readonly onPublicationMessage = (message: string): void => {
    this.subscriberHealth.noteReply();
    let pub: ServerPublication;
    try {
      pub = decodePublication(message);
    } catch (err) {
      this.logger.error({ err }, 'redis broker: undecodable publication dropped');
      return;
    }
    // Publications of a channel unsubscribed while Redis was down may still come until the reconnect drops it.
    const sub = this.subscribed.get(pub.channel);
    if (sub && advance(sub, pub)) this.handler?.onPublication(pub);
  };

  private readonly onMemberMessage = (message: string): void => {
    this.subscriberHealth.noteReply();
    let ev: EncodedMemberEvent;
    try {
      ev = JSON.parse(message) as EncodedMemberEvent;
    } catch (err) {
      this.logger.error({ err }, 'redis broker: undecodable join/leave dropped');
      return;
    }
    if (!this.subscribed.has(ev.c)) return;
    if (ev.k === 'j') this.handler?.onJoin(ev.c, ev.m);
    else this.handler?.onLeave(ev.c, ev.m);
  };

  private readonly onControlMessage = (message: string): void => {
    this.subscriberHealth.noteReply();
    let msg: ControlMessage;
    try {
      msg = JSON.parse(message) as ControlMessage;
    } catch (err) {
      this.logger.error({ err }, 'redis broker: undecodable control message dropped');
      return;
    }
    this.handler?.onControl(msg);
  };

  /**
   * Re-adds every presence entry this node owns, so they outlive presenceTtl while the node lives (and come back
   * after Redis lost them). A round, every presenceTtl/3, lists the entries owned when it starts (in a stable order:
   * channels and members as added) and writes them a slice per tick (PRESENCE_REFRESH_SLICES), so Redis gets a steady
   * trickle instead of a burst; entries removed meanwhile are skipped, entries added meanwhile were just written and
   * join the next round. An entry is rewritten about every presenceTtl/3, at most 2/3 of presenceTtl apart (a new
   * one listed late in the next round). While Redis is down a tick writes nothing and the round goes on.
   */
  private refreshPresence(): void {
    if (this.refreshDone >= this.refreshRound.length) {
      this.refreshRound = [];
      for (const [channel, own] of this.ownPresence) for (const client of own.keys()) this.refreshRound.push([channel, client]);
      this.refreshDone = 0;
      this.refreshSlice = Math.ceil(this.refreshRound.length / PRESENCE_REFRESH_SLICES);
    }
    const end = Math.min(this.refreshRound.length, this.refreshDone + this.refreshSlice);
    if (!this.isReady()) {
      this.refreshDone = end;
      return;
    }
    const writes: Promise<void>[] = [];
    for (; this.refreshDone < end; this.refreshDone++) {
      const [channel, client] = this.refreshRound[this.refreshDone]!;
      const json = this.ownPresence.get(channel)?.get(client);
      if (json !== undefined) writes.push(this.writePresence(channel, client, json));
    }
    if (writes.length > 0) void this.logFirstFailure(writes, 'presence refresh');
  }

  private keepSubscribedAlive(): void {
    if (!this.isReady()) return;
    const writes: Promise<unknown>[] = [];
    for (const channel of this.subscribed.keys()) writes.push(this.touch(channel));
    if (writes.length > 0) void this.logFirstFailure(writes, 'stream expiry refresh');
  }

  private async logFirstFailure(writes: Promise<unknown>[], what: string): Promise<void> {
    const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
    if (failed) this.logger.warn({ err: failed.reason }, `redis broker: ${what} failed; retrying next round`);
  }
}

export function createRedisBroker(options: RedisBrokerOptions): Broker {
  return new RedisBroker(options);
}
