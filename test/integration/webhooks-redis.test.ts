/**
 * Webhooks on the Redis broker, with nodes as separate processes: the delivering node is killed with SIGKILL while
 * its receiver is down and the shared queue is full of undelivered events, or while a batch is in flight to a slow
 * receiver that already has some; the other node takes the delivery over from the stored cursor, and the receiver
 * gets every event once (by id), in order per channel. Occupancy is decided
 * across nodes: a channel with subscribers on both nodes is occupied once and vacated once, the latter when the
 * dead node's lease is swept.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import { startCli, type Cli } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { waitFor } from '../helpers/wait.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

const SECRET = 'webhook-test-secret-0123456789abcdef';
const PREFIX = `sbtest-wh-${process.pid}`;

describe('webhooks on Redis: a node killed mid-queue', () => {
  const nodes: Cli[] = [];
  const clients: WsClient[] = [];
  const receivers: WebhookReceiver[] = [];
  const redis = createClient({ url: SHARED_REDIS_URL });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    for (const n of nodes) await n.kill();
    for (const r of receivers) await r.close();
    if (redis.isOpen) redis.destroy();
    for (const p of [`${PREFIX}-down`, `${PREFIX}-slow`]) await deleteRedisPrefix(p);
  });

  /**
   * `down`: node A is killed with all 34 events queued and its receiver down. `slow`: the receiver answers each
   * request 500 ms after storing its events, and node A is killed once some batches are delivered, with one in flight
   * (node B resumes from A's stored cursor; the batch in flight may come twice, dropped by id).
   */
  const killMidQueue = async (mode: 'down' | 'slow') => {
    if (!redis.isOpen) await redis.connect();
    const prefix = `${PREFIX}-${mode}`;
    const receiver = new WebhookReceiver(SECRET);
    receivers.push(receiver);
    const port = await WebhookReceiver.freePort();
    if (mode === 'slow') {
      receiver.delayMs = 500;
      await receiver.listen(port);
    }
    const env = {
      SWITCHBOARD_REDIS_URL: SHARED_REDIS_URL,
      SWITCHBOARD_REDIS_PREFIX: prefix,
      SWITCHBOARD_REDIS_PRESENCE_TTL: '2s',
      SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
      SWITCHBOARD_WEBHOOKS_URL: `http://127.0.0.1:${port}/hook`,
      SWITCHBOARD_WEBHOOKS_SECRET: SECRET,
      SWITCHBOARD_WEBHOOKS_LOCK_TTL: '1s',
      SWITCHBOARD_WEBHOOKS_RETRY_MIN: '50ms',
      SWITCHBOARD_WEBHOOKS_RETRY_MAX: '200ms',
      SWITCHBOARD_WEBHOOKS_BATCH_SIZE: '10',
      SWITCHBOARD_CHANNEL_WEBHOOK_PUBLICATIONS: '1',
    };
    const a = await startCli(['--workers', '1'], env);
    nodes.push(a);
    await waitFor(() => a.logs.some((l) => l.event === 'webhooks_delivering'), { timeout: 5000, label: 'node A delivers' });
    const b = await startCli(['--workers', '1'], env);
    nodes.push(b);

    const { client: alice } = await connectReady(`ws://127.0.0.1:${a.port}/ws?user=alice`);
    clients.push(alice);
    await alice.call('subscribe', { channel: 'room' });
    await alice.call('subscribe', { channel: 'lobby' });
    const { client: bob } = await connectReady(`ws://127.0.0.1:${b.port}/ws?user=bob`);
    clients.push(bob);
    await bob.call('subscribe', { channel: 'lobby' });
    for (let i = 1; i <= 25; i++) {
      const r = await fetch(`http://127.0.0.1:${a.port}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'room', data: { i } }) });
      assert.equal(r.status, 200);
    }
    await bob.close();
    // 2 connects, 2 occupied (lobby once: bob's node found it occupied), 3 members added, 25 publications, bob's
    // member_removed and disconnect: all in the shared stream.
    const stream = `${prefix}:wh:events`;
    if (mode === 'down') {
      // None delivered (the receiver is down).
      await waitFor(async () => (await redis.xLen(stream)) === 34, { timeout: 5000, label: '34 events queued', describe: () => '' });
      assert.ok(a.logs.some((l) => l.event === 'webhook_failed'), 'node A was retrying');
    } else {
      // The last event (bob's disconnect) is in the stream, some batches were delivered, and the rest are not.
      const last = async () => JSON.parse(((await redis.xRevRange(stream, '+', '-', { COUNT: 1 })) ?? [])[0]?.message.e ?? '{}') as { name?: string; user?: string };
      await waitFor(async () => { const e = await last(); return e.name === 'client_disconnected' && e.user === 'bob'; }, { timeout: 5000, label: "bob's disconnect queued" });
      await waitFor(() => receiver.requests >= 2, { timeout: 5000, label: 'two requests reached the receiver' });
    }

    a.child.kill('SIGKILL');
    await a.exited;
    if (mode === 'slow') assert.ok(receiver.events.length < 34, `node A was killed mid-queue (${receiver.events.length} of 34 delivered)`);
    else await receiver.listen(port);
    // Node B takes the lock over (webhooks.lockTtl) and sweeps A's leases (redis.presenceTtl): both channels vacate.
    await waitFor(() => receiver.named('channel_vacated').length === 2, { timeout: 15_000, label: 'both channels vacated',
      describe: () => receiver.events.map((e) => `${e.name}:${e.channel ?? ''}`).join(',') });

    const names = (channel: string) => receiver.events.filter((e) => e.channel === channel).map((e) => e.name === 'publication' ? `publication:${e.offset}` : `${e.name}${e.user ? ':' + String(e.user) : ''}`);
    assert.deepEqual(names('room'), ['channel_occupied', 'member_added:alice', ...Array.from({ length: 25 }, (_, i) => `publication:${i + 1}`), 'channel_vacated']);
    const lobby = names('lobby');
    assert.equal(lobby[0], 'channel_occupied');
    assert.equal(lobby.at(-1), 'channel_vacated');
    assert.deepEqual([...lobby.slice(1, -1)].sort(), ['member_added:alice', 'member_added:bob', 'member_removed:bob']);
    assert.ok(lobby.indexOf('member_added:bob') < lobby.indexOf('member_removed:bob'));
    assert.deepEqual(receiver.named('client_connected').map((e) => e.user).sort(), ['alice', 'bob']);
    assert.deepEqual(receiver.named('client_disconnected').map((e) => e.user), ['bob']); // alice's node died without a word
    assert.equal(receiver.events.length, 36);
    assert.ok(b.logs.some((l) => l.event === 'webhooks_delivering'), 'node B took the delivery over');
    // Everything delivered: the queue-depth gauge comes back to 0 (not the last delivered event kept in the stream).
    const depth = async () => Number(/^switchboard_webhook_queue_depth(?:\{[^}]*\})? (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text())?.[1]);
    await waitFor(async () => (await depth()) === 0, { timeout: 5000, label: 'queue depth 0' });
    assert.equal(await redis.xLen(stream), 0);
  };

  it('loses nothing: with its receiver down, the other node delivers every event once, in order per channel', () => killMidQueue('down'));
  it('loses nothing: killed with a batch in flight to a slow receiver, the other node resumes from its cursor', () => killMidQueue('slow'));

  it('a graceful shutdown writes its last events (disconnects, vacated channels) to the stream before it stops', async () => {
    const prefix = `${PREFIX}-graceful`;
    const port = await WebhookReceiver.freePort(); // nobody listens: everything stays queued
    try {
      const srv = await startServer(['--redis.url', SHARED_REDIS_URL, '--redis.prefix', prefix, '--webhooks.url', `http://127.0.0.1:${port}/`,
        '--webhooks.secret', SECRET, '--webhooks.retryMin', '10s']);
      const { client } = await connectReady(`${srv.wsUrl}?user=carol`);
      await client.call('subscribe', { channel: 'quiet' });
      await srv.close(); // drains: carol is disconnected by the server
      if (!redis.isOpen) await redis.connect();
      const names = ((await redis.xRange(`${prefix}:wh:events`, '-', '+')) ?? []).map((e) => (JSON.parse(e.message.e!) as { name: string }).name);
      assert.deepEqual(names, ['client_connected', 'channel_occupied', 'member_added', 'member_removed', 'channel_vacated', 'client_disconnected']);
    } finally {
      await deleteRedisPrefix(prefix);
    }
  });
});
