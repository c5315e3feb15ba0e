/**
 * The Redis broker on a Redis Cluster (`redis.cluster: true`). Two node-redis cluster clients, like the two
 * connections of a single Redis: one for commands (routed by first key; every key of a channel shares its slot, see
 * redis-keys.ts) and one for sharded pub/sub, which node-redis keeps as one subscriber connection per master.
 *
 * Pub/sub scheme: everything is sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis >= 7.0), so a message travels only to
 * the shard that owns its slot instead of being broadcast over the cluster bus to every node.
 * - A channel's publications are SPUBLISHed inside its publish script, on the master that holds its keys: the
 *   script runs atomically, so per-channel order on the wire equals offset order.
 * - Join/leave events go to `{ch:<channel>}:members`, the same shard.
 * - Control messages (send-to-user, disconnect-user) go to `{control}`: one fixed shard. Every node subscribes to it;
 *   control traffic is small (one message per API call), so one shard carrying it is no bottleneck.
 * - The node registry keys share the tag `{nodes}`, so reading every report is one MGET on one shard.
 */
import { createCluster } from 'redis';
import {
  CONNECT_TIMEOUT_MS,
  answeredWithin,
  closeGracefully,
  reconnectDelay,
  type ConnectionOptions,
  type MessageListener,
  type RedisCommands,
  type RedisConnection,
} from './redis-connection.js';

function makeCluster(urls: string[], commandTimeoutMs?: number) {
  const seed = new URL(urls[0]!);
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
    // rootNodes only serve discovery; the connections to discovered nodes are built from `defaults` alone, so the
    // credentials and TLS of the seed URL are repeated here.
    defaults: {
      ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
      ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
      disableOfflineQueue: true,
      socket: { reconnectStrategy: reconnectDelay, connectTimeout: CONNECT_TIMEOUT_MS, ...(seed.protocol === 'rediss:' ? { tls: true as const } : {}) },
    },
    ...(commandTimeoutMs ? { commandOptions: { timeout: commandTimeoutMs } } : {}),
    // The subscriber client connects to a master only when a channel of its slots is subscribed.
    ...(commandTimeoutMs ? {} : { minimizeConnections: true }),
  });
}
type RedisCluster = ReturnType<typeof makeCluster>;

// Compile-time check that the cluster client offers every command the broker uses.
const commandsOf = (c: RedisCluster): RedisCommands => c;

class ClusterConnection implements RedisConnection {
  readonly publishCommand = 'SPUBLISH';
  readonly target: string;
  private commands: RedisCluster;
  private sub: RedisCluster;
  private readonly listeners = new Map<string, MessageListener>();
  private closed = false;

  constructor(private readonly options: ConnectionOptions) {
    this.target = `cluster ${options.urls.join(',')}`;
    this.commands = this.newCommandCluster();
    this.sub = this.newSubscriber();
  }

  get cmd(): RedisCommands {
    return commandsOf(this.commands);
  }

  private newCommandCluster(): RedisCluster {
    const cluster = makeCluster(this.options.urls, this.options.commandTimeoutMs);
    this.watch(cluster, 'command');
    return cluster;
  }

  private newSubscriber(): RedisCluster {
    const sub = makeCluster(this.options.urls);
    this.watch(sub, 'subscriber');
    return sub;
  }

  private watch(cluster: RedisCluster, name: string): void {
    const { events } = this.options;
    cluster.on('error', (err: unknown) => {
      if (!this.closed) events.down(`${name} (cluster)`, err);
    });
    cluster.on('node-error', (err: unknown, node: { host: string; port: number }) => {
      if (!this.closed) events.down(`${name} ${node.host}:${node.port}`, err);
    });
    cluster.on('node-ready', (node: { host: string; port: number }) => events.up(`${name} ${node.host}:${node.port}`));
  }

  async connect(): Promise<void> {
    await Promise.all([this.commands.connect(), this.sub.connect()]);
  }

  isReady(): boolean {
    if (this.closed || !this.commands.isReady || !this.sub.isReady) return false;
    // The cluster client stays "ready" while one master is unreachable: look at each connection.
    for (const m of this.commands.masters) if (!m.client?.isReady) return false;
    // A subscriber connection still making its first connect is not a loss; one reconnecting is.
    for (const m of this.sub.masters) if (m.pubSub && !m.pubSub.connectPromise && !m.pubSub.client.isReady) return false;
    return true;
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.commands.sPublish(channel, message);
  }

  async subscribe(channel: string, listener: MessageListener): Promise<void> {
    this.listeners.set(channel, listener);
    try {
      await this.sub.sSubscribe(channel, listener);
    } catch (err) {
      if (this.listeners.get(channel) === listener) this.listeners.delete(channel);
      throw err;
    }
  }

  unsubscribe(channel: string, listener: MessageListener): Promise<void> {
    this.listeners.delete(channel);
    return this.sub.sUnsubscribe(channel, listener);
  }

  async barrier(channel: string): Promise<void> {
    const pubSub = this.sub.slots[keySlot(channel)]?.master.pubSub;
    if (!pubSub) return; // no subscriber connection on that shard: nothing can be in flight
    const client = pubSub.connectPromise ? await pubSub.connectPromise : pubSub.client;
    await client.ping();
  }

  async checkSubscribers(timeoutMs: number): Promise<boolean> {
    const pings: Promise<boolean>[] = [];
    for (const m of this.sub.masters) {
      if (m.pubSub && !m.pubSub.connectPromise && m.pubSub.client.isReady) pings.push(answeredWithin(m.pubSub.client.ping(), timeoutMs));
    }
    return (await Promise.all(pings)).every(Boolean);
  }

  async replaceSubscriber(): Promise<void> {
    if (this.closed) return;
    const old = this.sub;
    const sub = (this.sub = this.newSubscriber());
    old.destroy();
    await sub.connect();
    await Promise.all([...this.listeners].map(([channel, listener]) => sub.sSubscribe(channel, listener)));
  }

  async checkCommands(timeoutMs: number): Promise<boolean> {
    const pings: Promise<boolean>[] = [];
    for (const m of this.commands.masters) if (m.client?.isReady) pings.push(answeredWithin(m.client.ping(), timeoutMs));
    return (await Promise.all(pings)).every(Boolean);
  }

  /** Replaces the whole command cluster client (every master's connection), rediscovering the cluster. */
  async replaceCommands(): Promise<void> {
    if (this.closed) return;
    const old = this.commands;
    const cluster = (this.commands = this.newCommandCluster());
    old.destroy(); // rejects the commands still waiting on it
    await cluster.connect();
  }

  async close(): Promise<void> {
    // Gracefully (pending replies arrive first) only when every connection is up: closing one that is reconnecting
    // would wait for it.
    const graceful = this.isReady();
    this.closed = true;
    const ms = this.options.commandTimeoutMs;
    await Promise.allSettled([closeCluster(this.commands, graceful, ms), closeCluster(this.sub, graceful, ms)]);
  }
}

async function closeCluster(cluster: RedisCluster, graceful: boolean, ms: number): Promise<void> {
  if (!cluster.isOpen) return;
  if (!graceful) return cluster.destroy();
  await closeGracefully(cluster, ms);
}

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot (0..16383) of a key or shard channel: of its hash tag `{...}` when it has a non-empty one. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % 16384;
}

export function createClusterConnection(options: ConnectionOptions): RedisConnection {
  return new ClusterConnection(options);
}
