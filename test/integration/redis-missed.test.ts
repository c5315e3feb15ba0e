/**
 * Publications made while a node's pub/sub connection reconnects, on quiet channels (no later publication would show
 * the gap). A loopback proxy between the node and Redis kills the subscriber connection and holds the reconnect while
 * another broker publishes straight to Redis; once the reconnect is let through and node-redis has subscribed again:
 * - a channel whose history holds the missed publications gets them delivered, in order, each once;
 * - a channel whose history does not (history size 0) is reported as a gap: its subscribers are closed with 4004 so
 *   they resume.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Broker, HistoryBounds } from '../../src/broker/broker.js';
import { createRedisBroker } from '../../src/broker/redis.js';
import { RecordingHandler } from '../broker-contract.js';
import { startCli, type Cli } from '../helpers/cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startFreezableProxy, type FreezableProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const HISTORY: HistoryBounds = { size: 100, ttlMs: 60_000 };
const NO_HISTORY: HistoryBounds = { size: 0, ttlMs: 60_000 };
const quiet = { warn: () => {}, error: () => {} };

describe('publications missed while the pub/sub connection reconnects', () => {
  let redis: RedisServer;
  let proxy: FreezableProxy;
  let publisher: Broker;
  const brokers: Broker[] = [];
  before(async () => {
    redis = await startRedisServer();
    proxy = await startFreezableProxy(redis.port);
    publisher = createRedisBroker({ url: redis.url, prefix: 'sb', history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 60_000, logger: quiet });
    brokers.push(publisher);
    await publisher.start(new RecordingHandler());
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await proxy.close();
    await redis.stop();
  });
  const pub = (channel: string, i: number, history = HISTORY) => publisher.publish({ channel, event: 'm', data: String(i), history });

  /** Kills the node's subscriber connection, holds its reconnect while `during` runs, then lets it through. */
  async function duringReconnect(isReady: () => boolean, during: () => Promise<unknown>): Promise<void> {
    proxy.hold();
    proxy.killCurrent('subscribers');
    await waitFor(() => !isReady(), { timeout: 2000, label: 'the node to see its subscriber connection close' });
    await during();
    proxy.release();
  }

  it('broker: replays what history holds, reports a gap where it does not, without a later publication', async () => {
    const node = createRedisBroker({ url: `redis://127.0.0.1:${proxy.port}`, prefix: 'sb', history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 60_000,
      healthCheckIntervalMs: 0, logger: quiet });
    brokers.push(node);
    const rec = new RecordingHandler();
    await node.start(rec);
    await node.subscribe('kept');
    await node.subscribe('bare');
    for (let i = 1; i <= 5; i++) await pub('kept', i);
    await pub('bare', 1, NO_HISTORY);
    await waitFor(() => rec.offsetsOf('kept').length === 5 && rec.offsetsOf('bare').length === 1, { label: 'delivery before the reconnect' });

    await duringReconnect(() => node.isReady(), async () => {
      await pub('kept', 6);
      await pub('kept', 7);
      await pub('bare', 2, NO_HISTORY);
    });
    await waitFor(() => rec.offsetsOf('kept').length === 7 && rec.gaps.length === 1, { timeout: 5000, label: 'replay and gap after the reconnect',
      describe: () => `kept ${rec.offsetsOf('kept').join()}, gaps ${rec.gaps.join()}` });
    assert.deepEqual(rec.offsetsOf('kept'), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(rec.pubs.filter((p) => p.channel === 'kept').map((p) => p.data), ['1', '2', '3', '4', '5', '6', '7']);
    assert.deepEqual(rec.gaps, ['bare'], 'history size 0: publication 2 cannot be replayed');
    assert.deepEqual(rec.offsetsOf('bare'), [1]);

    // Live again, and nothing is handed over twice.
    await pub('kept', 8);
    await waitFor(() => rec.offsetsOf('kept').includes(8), { label: 'live after the reconnect' });
    assert.deepEqual(rec.offsetsOf('kept'), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('node: a WebSocket subscriber gets the missed publication, or is closed with 4004 when history cannot fill the gap', async () => {
    const node: Cli = await startCli(['--workers', '1', '--shutdown.timeout', '1s'], {
      SWITCHBOARD_REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
    });
    const clients: WsClient[] = [];
    try {
      const connect = async (channel: string) => {
        const { client } = await connectReady(`ws://127.0.0.1:${node.port}/ws?user=u`);
        clients.push(client);
        await client.call('subscribe', { channel });
        return client;
      };
      const onKept = await connect('quiet');
      const onBare = await connect('bare2');
      const offsets = (c: WsClient) => c.pushes.filter((m: Frame) => m.push === 'publication').map((m) => m.offset as number);
      for (let i = 1; i <= 5; i++) await pub('quiet', i);
      await pub('bare2', 1, NO_HISTORY);
      await waitFor(() => offsets(onKept).length === 5 && offsets(onBare).length === 1, { label: 'delivery before the reconnect' });

      const readyz = async () => (await fetch(`http://127.0.0.1:${node.port}/readyz`)).status === 200;
      let ready = true;
      const poll = setInterval(() => void readyz().then((r) => (ready = r)), 20);
      try {
        await duringReconnect(() => ready, async () => {
          await pub('quiet', 6);
          await pub('bare2', 2, NO_HISTORY);
        });
      } finally {
        clearInterval(poll);
      }
      // Nothing is published after 6: it must come from the node reading history back after it subscribed again.
      await waitFor(() => offsets(onKept).includes(6), { timeout: 5000, label: 'the missed publication', describe: () => offsets(onKept).join() });
      assert.deepEqual(offsets(onKept), [1, 2, 3, 4, 5, 6]);
      const closed = await onBare.waitClosed(5000);
      assert.equal(closed.code, 4004, 'no history to replay from: the subscriber resumes');
    } finally {
      for (const c of clients) c.close();
      await node.kill();
    }
  });
});
