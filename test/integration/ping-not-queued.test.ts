/**
 * `ping` needs no broker, so it is never queued behind a command waiting for one (issue #11, finding 5): with Redis
 * frozen (SIGSTOP), a WebSocket `publish` waits, and a `ping` sent after it on the same connection is answered at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCli, type Cli } from '../helpers/cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

describe('ping while a publish waits for a frozen Redis', () => {
  let redis: RedisServer;
  let node: Cli;
  let client: WsClient | undefined;
  before(async () => {
    redis = await startRedisServer();
    node = await startCli(['--shutdown.timeout', '1s'], { SWITCHBOARD_REDIS_URL: redis.url, SWITCHBOARD_LIMITS_CONNECT_RATE: '0' });
  });
  after(async () => {
    redis.resume();
    await client?.terminate();
    await node.kill();
    await redis.stop();
  });

  it('is answered before the publish, within a second', async () => {
    ({ client } = await connectReady(`ws://127.0.0.1:${node.port}/ws?user=alice`));
    await client.call('publish', { channel: 'warm', data: 0 }); // scripts loaded, connection in use
    redis.pause();
    const publish = client.request('publish', { channel: 'warm', data: 1 }, 60_000).catch((err: unknown) => err);
    const started = Date.now();
    const pong = await client.request('ping', {}, 1000);
    assert.deepEqual(pong.result, {});
    assert.ok(Date.now() - started < 1000);
    // The publish is still waiting for Redis: the ping overtook it.
    const order = client.messages.filter((m) => 'id' in m).map((m) => m.id);
    assert.equal(order.at(-1), pong.id, `the ping reply came last of all replies so far: ${JSON.stringify(order)}`);
    redis.resume();
    await publish;
  });
});
