/**
 * Redis stopped and restarted under two running nodes: readiness goes false and comes back, publishes fail with a
 * clear error meanwhile (never silently dropped), acknowledged publications are all delivered, and because the
 * restarted Redis is empty (no persistence) the epoch change reaches the client as a failed recovery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCli, type Cli } from '../helpers/cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

describe('Redis restart under two nodes', () => {
  let redis: RedisServer;
  const nodes: Cli[] = [];
  const clients: WsClient[] = [];
  const base = (i: number) => `http://127.0.0.1:${nodes[i]!.port}`;

  before(async () => {
    redis = await startRedisServer();
    for (let i = 0; i < 2; i++) {
      nodes.push(await startCli(['--workers', '1', '--shutdown.timeout', '1s'], { SWITCHBOARD_REDIS_URL: redis.url, SWITCHBOARD_LIMITS_CONNECT_RATE: '0' }));
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const n of nodes) await n.kill();
    await redis.stop();
  });

  const readyz = async (i: number) => (await fetch(`${base(i)}/readyz`)).status;
  const publish = (i: number, data: unknown) =>
    fetch(`${base(i)}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'orders', data }) });

  it('readiness flips and returns; nothing acknowledged is lost; the epoch change is reported', async () => {
    const { client } = await connectReady(`ws://127.0.0.1:${nodes[0]!.port}/ws?user=ops`);
    clients.push(client);
    const sub = await client.call('subscribe', { channel: 'orders' });
    const acked: number[] = [];
    for (let n = 1; n <= 5; n++) {
      const r = await publish(1, n);
      assert.equal(r.status, 200);
      acked.push(((await r.json()) as { offset: number }).offset);
    }
    await waitFor(() => client.pushes.filter((m: Frame) => m.push === 'publication').length === 5, { label: 'first five delivered' });
    const before = client.pushes.filter((m: Frame) => m.push === 'publication');
    assert.deepEqual(before.map((m) => m.offset), acked);

    await redis.stop();
    await waitFor(async () => (await readyz(0)) === 503 && (await readyz(1)) === 503, { timeout: 5000, label: 'both nodes unready' });
    const refused = await publish(1, 'during');
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unavailable');

    await redis.restart();
    await waitFor(async () => (await readyz(0)) === 200 && (await readyz(1)) === 200, { timeout: 10_000, label: 'both nodes ready again' });

    // Redis came back empty: the next publication starts a new epoch. The live subscriber is disconnected (4004) so it
    // resumes, and resuming from its old position is answered recovered: false, reason epoch_changed.
    const after1 = await publish(1, 'after');
    assert.equal(after1.status, 200);
    const fresh = (await after1.json()) as { epoch: string; offset: number };
    assert.notEqual(fresh.epoch, sub.epoch);
    const closed = await client.waitClosed(5000);
    assert.equal(closed.code, 4004);
    const last = before.at(-1)!;
    const { client: again } = await connectReady(`ws://127.0.0.1:${nodes[1]!.port}/ws?user=ops`);
    clients.push(again);
    const reply = await again.call('subscribe', { channel: 'orders', since: { epoch: last.epoch, offset: last.offset } });
    assert.equal(reply.recovered, false);
    assert.equal(reply.reason, 'epoch_changed');
    assert.equal(reply.epoch, fresh.epoch);
  });
});
