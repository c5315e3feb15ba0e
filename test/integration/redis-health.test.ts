/**
 * The subscriber health check: a pub/sub connection that dies without a FIN must not leave a node deaf forever.
 * 1. A frozen Redis (SIGSTOP): the node notices (not ready, logged), and once Redis is back it replaces the subscriber
 *    connection, resubscribes, and delivers again to the WebSocket client that stayed connected.
 * 2. Only the node's connections die (a loopback proxy stops forwarding them, Redis itself is fine and another node
 *    keeps publishing): the node replaces both connections and, on a quiet channel where no later publication would
 *    reveal a gap, reads back from history and delivers the publications it missed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Broker, HistoryBounds } from '../../src/broker/broker.js';
import { createRedisBroker } from '../../src/broker/redis.js';
import { RecordingHandler } from '../broker-contract.js';
import { startFrozenRedisNode, type FrozenRedisNode } from '../helpers/frozen-redis.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const HISTORY: HistoryBounds = { size: 100, ttlMs: 60_000 };

describe('subscriber health check: Redis frozen (SIGSTOP) under a node', () => {
  let f: FrozenRedisNode;
  before(async () => {
    f = await startFrozenRedisNode();
  });
  after(() => f?.close());

  it('goes unready while Redis does not answer, then replaces the connection and delivers again', async () => {
    const { redis, node, publish, readyz, received } = f;
    await f.subscribeTicks();
    assert.equal((await publish(1)).status, 200);
    await waitFor(() => received().length === 1, { label: 'first publication' });

    redis.pause();
    await waitFor(async () => (await readyz()) === 503, { timeout: 10_000, interval: 100, label: 'node unready while Redis is frozen' });
    // Both connections are checked; either may be the first to make the node unready.
    await waitFor(() => node.logs.some((l) => /subscriber connection did not answer PING/.test(l.msg)), { timeout: 3000, label: 'the failed subscriber check logged' });
    await waitFor(() => node.logs.some((l) => /command connection did not answer/.test(l.msg)), { timeout: 3000, label: 'the failed command check logged' });

    redis.resume();
    await waitFor(async () => (await readyz()) === 200, { timeout: 15_000, interval: 100, label: 'node ready again' });
    await waitFor(() => node.logs.some((l) => /subscriber connection replaced/.test(l.msg)), { timeout: 5000, label: 'replacement logged' });
    const metrics = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
    const replaced = /^switchboard_broker_subscriber_replacements_total(?:\{[^}]*\})? (\d+)/m.exec(metrics);
    assert.ok(replaced && Number(replaced[1]) >= 1, 'the replacement is counted in /metrics');
    assert.equal((await publish(2)).status, 200);
    await waitFor(() => received().length === 2, { timeout: 5000, label: 'publication after recovery' });
    assert.deepEqual(received(), [1, 2]);
  });
});

describe('subscriber health check: the connection dies silently while Redis lives', () => {
  let redis: RedisServer;
  let proxy: FreezableProxy;
  const brokers: Broker[] = [];
  before(async () => {
    redis = await startRedisServer();
    proxy = await startFreezableProxy(redis.port);
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await proxy.close();
    await redis.stop();
  });

  it('replaces the dead connections, resubscribes, and delivers what was published meanwhile without a later publication', async () => {
    const warnings: string[] = [];
    const common = { prefix: 'sbh', history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 60_000 };
    const deaf = createRedisBroker({ ...common, url: `redis://127.0.0.1:${proxy.port}`, healthCheckIntervalMs: 200,
      logger: { warn: (...a: unknown[]) => warnings.push(String(a.at(-1))), error: () => {} } });
    const publisher = createRedisBroker({ ...common, url: redis.url, logger: { warn: () => {}, error: () => {} } });
    brokers.push(deaf, publisher);
    const rec = new RecordingHandler();
    await deaf.start(rec);
    await publisher.start(new RecordingHandler());
    await deaf.subscribe('feed');
    const pub = (i: number) => publisher.publish({ channel: 'feed', event: 'm', data: String(i) });
    await pub(1);
    await waitFor(() => rec.offsetsOf('feed').length === 1, { label: 'first publication' });

    proxy.freezeCurrent();
    for (let i = 2; i <= 4; i++) await pub(i);
    await waitFor(() => !deaf.isReady(), { timeout: 10_000, label: 'the node to notice its dead connections' });
    await waitFor(() => deaf.isReady(), { timeout: 10_000, label: 'the connections replaced' });
    assert.ok(warnings.some((w) => /subscriber connection did not answer PING/.test(w)), warnings.join('\n'));
    const replaced = deaf as unknown as { subscriberReplacements: number; commandReplacements: number };
    assert.equal(replaced.subscriberReplacements, 1);
    assert.equal(replaced.commandReplacements, 1, 'the frozen command connection is replaced too');

    // 2..4 were published while the old connection was dead and nothing is published after them: the node reads them
    // back from history once it has subscribed again, in order, each once.
    await waitFor(() => rec.offsetsOf('feed').length === 4, { timeout: 5000, label: 'the missed publications', describe: () => String(rec.offsetsOf('feed')) });
    assert.deepEqual(rec.offsetsOf('feed'), [1, 2, 3, 4]);
    assert.deepEqual(rec.gaps, []);
    await pub(5);
    await waitFor(() => rec.offsetsOf('feed').includes(5), { timeout: 5000, label: 'delivery on the new connection' });
    assert.deepEqual(rec.offsetsOf('feed'), [1, 2, 3, 4, 5]);
  });
});
