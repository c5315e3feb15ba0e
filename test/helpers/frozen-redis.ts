/**
 * One Switchboard node (`serve --workers 1`) on a private redis-server that a test can freeze (SIGSTOP) and thaw, with
 * a WebSocket subscriber on channel `ticks` and the HTTP calls the frozen-Redis tests make: readiness, publishing a
 * number to `ticks`, and the payloads the subscriber received.
 */
import { startCli, type Cli } from './cli.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { connectReady, type Frame, type WsClient } from './ws-client.js';

export interface FrozenRedisNode {
  readonly redis: RedisServer;
  readonly node: Cli;
  /** The current subscriber (the latest `subscribeTicks`), if any. */
  readonly client: WsClient | undefined;
  /** GET /readyz: its status code. */
  readyz(): Promise<number>;
  /** POST /api/publish of `data` to channel `ticks`. */
  publish(data: unknown): Promise<Response>;
  /** Connects a new WebSocket client (replacing the current one) and subscribes it to `ticks`, from `since` if given. */
  subscribeTicks(since?: { epoch: string; offset: number }): Promise<Frame>;
  /** The payloads of the publications the current subscriber received, in order. */
  received(): unknown[];
  /** Thaws Redis, closes the subscriber, stops the node and Redis. */
  close(): Promise<void>;
}

/**
 * Starts Redis and a node on it that checks its Redis connections every 300 ms and shuts down within 1 s; `env` adds
 * to (or overrides) the node's environment.
 */
export async function startFrozenRedisNode(env: Record<string, string> = {}): Promise<FrozenRedisNode> {
  const redis = await startRedisServer();
  let node: Cli;
  try {
    node = await startCli(['--workers', '1', '--shutdown.timeout', '1s'], {
      SWITCHBOARD_REDIS_URL: redis.url,
      SWITCHBOARD_REDIS_HEALTH_CHECK_INTERVAL: '300ms',
      SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
      ...env,
    });
  } catch (err) {
    await redis.stop();
    throw err;
  }
  const base = `http://127.0.0.1:${node.port}`;
  let client: WsClient | undefined;
  return {
    redis,
    node,
    get client() {
      return client;
    },
    readyz: async () => (await fetch(`${base}/readyz`)).status,
    publish: (data) => fetch(`${base}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'ticks', data }) }),
    async subscribeTicks(since) {
      ({ client } = await connectReady(`ws://127.0.0.1:${node.port}/ws?user=ops`));
      return client.call('subscribe', since ? { channel: 'ticks', since } : { channel: 'ticks' });
    },
    received: () => (client?.pushes ?? []).filter((m: Frame) => m.push === 'publication').map((m) => m.payload),
    async close() {
      redis.resume();
      await client?.close();
      await node.kill();
      await redis.stop();
    },
  };
}
