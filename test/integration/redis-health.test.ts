/**
 * The subscriber health check: a pub/sub connection that dies without a FIN must not leave a node deaf forever.
 * 1. A frozen Redis (SIGSTOP): the node notices (not ready, logged), and once Redis is back it replaces the subscriber
 *    connection, resubscribes, and delivers again to the WebSocket client that stayed connected.
 * 2. Only the node's connections die (a loopback proxy stops forwarding them, Redis itself is fine and another node
 *    keeps publishing): the node replaces the connection, and the publications it missed show as an offset gap, the
 *    signal on which sessions disconnect (4004) and resume from history.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Broker, HistoryBounds } from '../../src/broker/broker.js';
import { createRedisBroker } from '../../src/broker/redis.js';
import { RecordingHandler } from '../broker-contract.js';
import { startCli, type Cli } from '../helpers/cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const HISTORY: HistoryBounds = { size: 100, ttlMs: 60_000 };

describe('subscriber health check: Redis frozen (SIGSTOP) under a node', () => {
  let redis: RedisServer;
  let node: Cli;
  let client: WsClient | undefined;
  const base = () => `http://127.0.0.1:${node.port}`;
  before(async () => {
    redis = await startRedisServer();
    node = await startCli(['--workers', '1', '--shutdown.timeout', '1s'], {
      SWITCHBOARD_REDIS_URL: redis.url,
      SWITCHBOARD_REDIS_HEALTH_CHECK_INTERVAL: '300ms',
      SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
    });
  });
  after(async () => {
    redis.resume();
    await client?.close();
    await node.kill();
    await redis.stop();
  });
  const readyz = async () => (await fetch(`${base()}/readyz`)).status;
  const publish = (data: unknown) => fetch(`${base()}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'ticks', data }) });
  const received = () => (client?.pushes ?? []).filter((m: Frame) => m.push === 'publication').map((m) => m.payload);

  it('goes unready while Redis does not answer, then replaces the connection and delivers again', async () => {
    ({ client } = await connectReady(`ws://127.0.0.1:${node.port}/ws?user=ops`));
    await client.call('subscribe', { channel: 'ticks' });
    assert.equal((await publish(1)).status, 200);
    await waitFor(() => received().length === 1, { label: 'first publication' });

    redis.pause();
    await waitFor(async () => (await readyz()) === 503, { timeout: 10_000, interval: 100, label: 'node unready while Redis is frozen' });
    assert.ok(node.logs.some((l) => /subscriber connection did not answer PING/.test(l.msg)), 'the failed check is logged');

    redis.resume();
    await waitFor(async () => (await readyz()) === 200, { timeout: 15_000, interval: 100, label: 'node ready again' });
    await waitFor(() => node.logs.some((l) => /subscriber connection replaced/.test(l.msg)), { timeout: 5000, label: 'replacement logged' });
    const metrics = await (await fetch(`${base()}/metrics`)).text();
    const replaced = /^switchboard_broker_subscriber_replacements_total(?:\{[^}]*\})? (\d+)/m.exec(metrics);
    assert.ok(replaced && Number(replaced[1]) >= 1, 'the replacement is counted in /metrics');
    assert.equal((await publish(2)).status, 200);
    await waitFor(() => received().length === 2, { timeout: 5000, label: 'publication after recovery' });
    assert.deepEqual(received(), [1, 2]);
  });
});

/** A loopback TCP proxy whose current connections can be frozen: bytes stop flowing, nothing is closed. */
async function startFreezableProxy(targetPort: number) {
  const pairs: { frozen: boolean; sockets: net.Socket[] }[] = [];
  const server = net.createServer((down) => {
    const up = net.connect(targetPort, '127.0.0.1');
    const pair = { frozen: false, sockets: [down, up] };
    pairs.push(pair);
    down.on('data', (d) => pair.frozen || up.write(d));
    up.on('data', (d) => pair.frozen || down.write(d));
    for (const s of pair.sockets) {
      s.on('error', () => pair.sockets.forEach((x) => x.destroy()));
      s.on('close', () => pair.sockets.forEach((x) => x.destroy()));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Every connection open now goes silent; later connections work. */
    freezeCurrent: () => pairs.forEach((p) => (p.frozen = true)),
    close: async () => {
      for (const p of pairs) p.sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('subscriber health check: the connection dies silently while Redis lives', () => {
  let redis: RedisServer;
  let proxy: Awaited<ReturnType<typeof startFreezableProxy>>;
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

  it('replaces the dead subscriber, resubscribes, and the missed publications show as a gap', async () => {
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
    await waitFor(() => !deaf.isReady(), { timeout: 10_000, label: 'the node to notice its dead subscriber' });
    await waitFor(() => deaf.isReady(), { timeout: 10_000, label: 'the subscriber replaced' });
    assert.ok(warnings.some((w) => /did not answer PING/.test(w)), warnings.join('\n'));
    assert.equal((deaf as unknown as { subscriberReplacements: number }).subscriberReplacements, 1);

    await pub(5);
    await waitFor(() => rec.offsetsOf('feed').includes(5), { timeout: 5000, label: 'delivery on the new connection' });
    // 2..4 were published while the old connection was dead: the gap 1 -> 5 is what makes sessions resume from history.
    assert.deepEqual(rec.offsetsOf('feed'), [1, 5]);
  });
});
