/**
 * The seam between the Redis broker and Redis itself: one interface, two shapes. A single Redis (this file) uses two
 * connections, one for commands and one in subscriber mode, with classic PUBLISH/SUBSCRIBE. A Redis Cluster
 * (redis-cluster.ts) routes every command by its first key and uses sharded pub/sub. The broker only sees this
 * interface, so the channel logic (scripts, positions, presence) is written once.
 */
import { createClient } from 'redis';
import { withDeadline } from './deadline.js';

/** One pub/sub listener; receives the message text. */
export type MessageListener = (message: string) => void;

export interface ConnectionEvents {
  /** A connection was lost (logged once until it is back). */
  down(name: string, err: unknown): void;
  /** A lost connection is back. */
  up(name: string): void;
}

export interface ConnectionOptions {
  /** Single: one URL. Cluster: one or more seed URLs (the rest of the cluster is discovered). */
  urls: string[];
  /**
   * node-redis drops a command not yet written after this many ms. It does not cover written commands: the broker's
   * own deadline does (deadline.ts).
   */
  commandTimeoutMs: number;
  events: ConnectionEvents;
}

/** Reconnect backoff: 50 ms doubling per attempt, capped at 2 s, plus up to 20% jitter so nodes do not stampede. */
const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2000;
/** TCP connect timeout of every connection, ms. */
export const CONNECT_TIMEOUT_MS = 5000;

export function reconnectDelay(retries: number): number {
  const base = Math.min(RECONNECT_BASE_MS * 2 ** Math.min(retries, 10), RECONNECT_MAX_MS);
  return Math.round(base * (1 + Math.random() * 0.2));
}

function makeClient(url: string, commandTimeoutMs?: number) {
  return createClient({
    url,
    // Commands while disconnected reject at once (ClientOfflineError) instead of waiting in a queue forever.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: reconnectDelay, connectTimeout: CONNECT_TIMEOUT_MS },
    ...(commandTimeoutMs ? { commandOptions: { timeout: commandTimeoutMs } } : {}),
  });
}
type RedisClient = ReturnType<typeof makeClient>;

/**
 * The commands the broker sends on the command connection. Keyed commands only, so a cluster can route each by its
 * first key; the cluster client must satisfy this type too (redis-cluster.ts checks it at compile time). A new
 * command used by the broker is added here.
 */
export type RedisCommands = Pick<
  RedisClient,
  'evalSha' | 'eval' | 'pExpire' | 'hDel' | 'set' | 'sAdd' | 'sMembers' | 'mGet' | 'sRem'
>;

export interface RedisConnection {
  /** Where it connects, for error messages. */
  readonly target: string;
  /** The current command client: read it for each call, `replaceCommands` swaps it. */
  readonly cmd: RedisCommands;
  /** What the publish script calls to publish: PUBLISH, or SPUBLISH on a cluster (to the shard of the channel). */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  connect(): Promise<void>;
  /** Commands and subscriptions can be served now. */
  isReady(): boolean;
  publish(channel: string, message: string): Promise<unknown>;
  /** Resolves once Redis confirmed the subscription. One listener per pub/sub channel. */
  subscribe(channel: string, listener: MessageListener): Promise<void>;
  /** Forgets the channel at once (a replaced subscriber will not resubscribe it); resolves once Redis confirmed. */
  unsubscribe(channel: string, listener: MessageListener): Promise<void>;
  /** PING on the subscriber connection carrying `channel`: resolves after every message queued there before. */
  barrier(channel: string): Promise<void>;
  /** PINGs every subscriber connection; false when one of them has not answered within `timeoutMs`. */
  checkSubscribers(timeoutMs: number): Promise<boolean>;
  /** Drops the subscriber connection(s) and connects anew, resubscribing every channel subscribed now. */
  replaceSubscriber(): Promise<void>;
  /** PINGs every command connection; false when one of them has not answered within `timeoutMs`. */
  checkCommands(timeoutMs: number): Promise<boolean>;
  /**
   * Drops the command connection(s) and connects anew: the way to give up on commands already written to a
   * connection that stopped answering (their promises reject). `cmd` is the new client from now on.
   */
  replaceCommands(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Resolves true when `p` settles successfully within `ms`, false when it fails or takes longer. The same deadline as
 * a command's (deadline.ts): a PONG that arrived while this process's event loop was blocked (a broadcast to
 * thousands of sockets on a starved machine) is read before the verdict, instead of the timer, which Node runs
 * first, declaring a live connection dead.
 */
export function answeredWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return withDeadline(p, ms, () => new Error('no answer')).then(() => true, () => false);
}

/** A single Redis: a command connection and a subscriber connection (SUBSCRIBE blocks the connection for commands). */
class SingleConnection implements RedisConnection {
  readonly publishCommand = 'PUBLISH';
  readonly target: string;
  private commands: RedisClient;
  private sub: RedisClient;
  /** Subscribed pub/sub channels and their listeners: what a replaced subscriber subscribes again. */
  private readonly listeners = new Map<string, MessageListener>();
  private closed = false;

  constructor(private readonly options: ConnectionOptions) {
    this.target = options.urls[0]!;
    this.commands = this.newCommandClient();
    this.sub = this.newSubscriber();
  }

  get cmd(): RedisClient {
    return this.commands;
  }

  private newCommandClient(): RedisClient {
    const client = makeClient(this.target, this.options.commandTimeoutMs);
    this.watch(client, 'command');
    return client;
  }

  private newSubscriber(): RedisClient {
    const sub = makeClient(this.target);
    this.watch(sub, 'subscriber');
    return sub;
  }

  private watch(client: RedisClient, name: string): void {
    client.on('error', (err: unknown) => {
      if (!this.closed) this.options.events.down(name, err);
    });
    client.on('ready', () => this.options.events.up(name));
  }

  async connect(): Promise<void> {
    await Promise.all([this.commands.connect(), this.sub.connect()]);
  }

  isReady(): boolean {
    return !this.closed && this.commands.isReady && this.sub.isReady;
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.commands.publish(channel, message);
  }

  async subscribe(channel: string, listener: MessageListener): Promise<void> {
    this.listeners.set(channel, listener);
    try {
      await this.sub.subscribe(channel, listener);
    } catch (err) {
      if (this.listeners.get(channel) === listener) this.listeners.delete(channel);
      throw err;
    }
  }

  unsubscribe(channel: string, listener: MessageListener): Promise<void> {
    this.listeners.delete(channel);
    return this.sub.unsubscribe(channel, listener);
  }

  async barrier(): Promise<void> {
    await this.sub.ping();
  }

  checkSubscribers(timeoutMs: number): Promise<boolean> {
    return this.sub.isReady ? answeredWithin(this.sub.ping(), timeoutMs) : Promise.resolve(true);
  }

  async replaceSubscriber(): Promise<void> {
    if (this.closed) return;
    const old = this.sub;
    const sub = (this.sub = this.newSubscriber());
    old.destroy();
    await sub.connect();
    await Promise.all([...this.listeners].map(([channel, listener]) => sub.subscribe(channel, listener)));
  }

  checkCommands(timeoutMs: number): Promise<boolean> {
    return this.commands.isReady ? answeredWithin(this.commands.ping(), timeoutMs) : Promise.resolve(true);
  }

  async replaceCommands(): Promise<void> {
    if (this.closed) return;
    const old = this.commands;
    const client = (this.commands = this.newCommandClient());
    old.destroy(); // rejects the commands still waiting on it
    await client.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    const ms = this.options.commandTimeoutMs;
    await Promise.all([closeClient(this.commands, ms), closeClient(this.sub, ms)]);
  }
}

/** What closeGracefully needs of a node-redis client or cluster. */
export interface Closable {
  isOpen: boolean;
  close(): Promise<unknown>;
  destroy(): void;
}

/**
 * Closes gracefully (pending replies arrive first), but for at most `ms`: a connection that stopped answering (a
 * frozen Redis, a slow connection kept by the health check) would hold a graceful close, and the node's shutdown,
 * forever. After `ms`, or on an error, it is destroyed (what still waits on it is rejected).
 */
export async function closeGracefully(client: Closable, ms: number): Promise<void> {
  try {
    await withDeadline(client.close(), ms, () => new Error(`not closed within ${ms} ms`));
  } catch {
    if (client.isOpen) client.destroy();
  }
}

/** Closes gracefully when connected; otherwise stops reconnecting at once. */
async function closeClient(client: Closable & { isReady: boolean }, ms: number): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady) await closeGracefully(client, ms);
  else client.destroy();
}

export function createSingleConnection(options: ConnectionOptions): RedisConnection {
  return new SingleConnection(options);
}
