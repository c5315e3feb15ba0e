/**
 * The Redis broker on a real 3-master Redis Cluster started for this file (test/helpers/redis-cluster.ts): the whole
 * broker contract unchanged, channels whose keys live on each of the three masters, two brokers ("nodes") exchanging
 * publications, presence, join/leave, control messages and node reports over sharded pub/sub, and two `switchboard
 * serve` processes configured with `redis.cluster`. Skipped only when `redis-server` is missing and not in CI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Broker, HistoryBounds, Member } from '../../src/broker/broker.js';
import { keySlot } from '../../src/broker/redis-cluster.js';
import { createRedisBroker, type RedisBrokerOptions } from '../../src/broker/redis.js';
import { RecordingHandler, brokerContract, waitFor } from '../broker-contract.js';
import { startCli, type Cli } from '../helpers/cli.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { waitFor as waitUntil } from '../helpers/wait.js';
import { connectReady, type Frame } from '../helpers/ws-client.js';

const HISTORY: HistoryBounds = { size: 100, ttlMs: 60_000 };
const quiet = { warn: () => {}, error: () => {} };
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const skip = !hasRedisServer && process.env.CI !== 'true' ? 'redis-server is not installed' : false;

let cluster: RedisClusterHandle | undefined;
if (!skip) cluster = await startRedisCluster();
after(() => cluster?.stop());

const newPrefix = (): string => `sbc${randomBytes(4).toString('hex')}`;
function make(o: Partial<RedisBrokerOptions> & { prefix: string }): Broker {
  return createRedisBroker({ url: cluster!.url, cluster: true, history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 60_000, logger: quiet, ...o });
}

if (!skip) brokerContract('redis cluster', async () => ({ broker: make({ prefix: newPrefix() }) }));

describe('redis broker on a cluster', { skip }, () => {
  const prefix = newPrefix();
  const opened: Broker[] = [];
  async function node(): Promise<{ broker: Broker; rec: RecordingHandler }> {
    const broker = make({ prefix });
    opened.push(broker);
    const rec = new RecordingHandler();
    await broker.start(rec);
    return { broker, rec };
  }
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });

  it('computes the same key slots as Redis (CLUSTER KEYSLOT)', async () => {
    for (const key of [`${prefix}:{ch:news}:meta`, `${prefix}:{ch:a}b}:pub`, 'plain', '{}x', `${prefix}:{control}`, 'é{ü}']) {
      assert.equal(keySlot(key), Number((await cluster!.cli(cluster!.ports[0]!, 'cluster', 'keyslot', key)).trim()), key);
    }
  });

  it('serves channels whose keys live on each of the three masters', async () => {
    const a = await node();
    const b = await node();
    // Channel names until every master owns at least one; all keys and pub/sub channels of one share its slot.
    const byOwner = new Map<number, string>();
    for (let i = 0; byOwner.size < 3 && i < 200; i++) {
      const channel = `room${i}`;
      const slots = ['meta', 'hist', 'presence', 'pub', 'members'].map((k) => keySlot(`${prefix}:{ch:${channel}}:${k}`));
      assert.equal(new Set(slots).size, 1, `one slot for every key of ${channel}`);
      const owner = await cluster!.ownerOf(`${prefix}:{ch:${channel}}:meta`);
      if (!byOwner.has(owner)) byOwner.set(owner, channel);
    }
    assert.deepEqual([...byOwner.keys()].sort(), [...cluster!.ports].sort(), 'a channel on every master');
    const member: Member = { user: 'u1', client: 'c1' };
    for (const [owner, channel] of byOwner) {
      await b.broker.subscribe(channel);
      const p1 = await a.broker.publish({ channel, event: 'm', data: '{"n":1}' });
      const p2 = await b.broker.publish({ channel, event: 'm', data: '{"n":2}' });
      assert.deepEqual([p1.offset, p2.offset, p2.epoch], [1, 2, p1.epoch]);
      await waitFor(() => b.rec.offsetsOf(channel).length === 2, `B to receive both publications on ${channel}`);
      assert.deepEqual(b.rec.offsetsOf(channel), [1, 2]);
      assert.deepEqual((await a.broker.history(channel)).publications.map((p) => p.offset), [1, 2]);
      await a.broker.addPresence(channel, member);
      assert.deepEqual(await b.broker.presence(channel), [member]);
      // The keys really are on that master (asked without following redirects).
      assert.equal((await cluster!.cli(owner, 'exists', `${prefix}:{ch:${channel}}:meta`)).trim(), '1', `${channel} on ${owner}`);
    }
  });

  it('two nodes exchange publications in order, join/leave, control messages and node reports', async () => {
    const a = await node();
    const b = await node();
    await Promise.all([a.broker.subscribe('orders'), b.broker.subscribe('orders')]);
    const sent: number[] = [];
    for (let i = 1; i <= 50; i++) sent.push((await (i % 2 ? a : b).broker.publish({ channel: 'orders', event: 'm', data: String(i) })).offset);
    await waitFor(() => a.rec.offsetsOf('orders').length === 50 && b.rec.offsetsOf('orders').length === 50, 'both nodes to receive 50');
    assert.deepEqual(a.rec.offsetsOf('orders'), sent);
    assert.deepEqual(b.rec.offsetsOf('orders'), sent);
    const m: Member = { user: 'ann', client: 'x1' };
    await a.broker.publishJoin('orders', m);
    await b.broker.publishControl({ kind: 'disconnect-user', user: 'ann', code: 4003, reason: 'bye' });
    await waitFor(() => b.rec.joins.length === 1 && a.rec.controls.length === 1 && b.rec.controls.length === 1, 'join and control on both');
    const registry = (x: Broker) => x as unknown as { reportNode(r: object, ttl: number): Promise<void>; nodes(): Promise<{ id: string }[]> };
    await registry(a.broker).reportNode({ id: 'na', users: { ann: 1 }, stats: {} }, 10_000);
    await registry(b.broker).reportNode({ id: 'nb', users: {}, stats: {} }, 10_000);
    assert.deepEqual((await registry(a.broker).nodes()).map((r) => r.id).sort(), ['na', 'nb']);
  });
});

describe('two switchboard processes on a cluster', { skip }, () => {
  const nodes: Cli[] = [];
  const closers: { close(): unknown }[] = [];
  const base = (i: number) => `http://127.0.0.1:${nodes[i]!.port}`;
  const prefix = newPrefix();
  before(async () => {
    for (let i = 0; i < 2; i++) {
      nodes.push(await startCli(['--workers', '1', '--shutdown.timeout', '1s'], {
        SWITCHBOARD_REDIS_URL: cluster!.url,
        SWITCHBOARD_REDIS_CLUSTER: 'true',
        SWITCHBOARD_REDIS_PREFIX: prefix,
        SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
      }));
    }
  });
  after(async () => {
    for (const c of closers) await c.close();
    for (const n of nodes) await n.kill();
  });

  it('delivers a publication made through node B to a WebSocket on node A', async () => {
    const { client } = await connectReady(`ws://127.0.0.1:${nodes[0]!.port}/ws?user=ann`);
    closers.push(client);
    await client.call('subscribe', { channel: 'news' });
    const r = await fetch(`${base(1)}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'news', data: { n: 1 } }) });
    assert.equal(r.status, 200);
    await waitUntil(() => client.pushes.some((m: Frame) => m.push === 'publication' && m.channel === 'news'), { label: 'publication on A' });
    assert.equal((await fetch(`${base(1)}/readyz`)).status, 200);
  });
});

// Last: it freezes and then kills a master.
describe('redis broker on a cluster when a master fails', { skip }, () => {
  const prefix = newPrefix();
  const opened: Broker[] = [];
  after(async () => {
    for (const b of opened) await b.close();
  });

  it('notices a frozen master through its subscriber health check, recovers, and is not ready while a master is down', async () => {
    const broker = make({ prefix, healthCheckIntervalMs: 200 });
    const publisher = make({ prefix });
    opened.push(broker, publisher);
    const rec = new RecordingHandler();
    await broker.start(rec);
    await publisher.start(new RecordingHandler());
    await broker.subscribe('feed');
    const owner = await cluster!.ownerOf(`${prefix}:{ch:feed}:meta`);
    await publisher.publish({ channel: 'feed', event: 'm', data: '1' });
    await waitFor(() => rec.offsetsOf('feed').length === 1, 'first publication');

    cluster!.signal(owner, 'SIGSTOP');
    await waitFor(() => !broker.isReady(), 'the frozen shard noticed', 10_000);
    cluster!.signal(owner, 'SIGCONT');
    await waitFor(() => broker.isReady(), 'ready again after the subscriber was replaced', 15_000);
    await publisher.publish({ channel: 'feed', event: 'm', data: '2' });
    await waitFor(() => rec.offsetsOf('feed').length === 2, 'delivery after recovery', 5000);

    cluster!.signal(owner, 'SIGKILL');
    await waitFor(() => !broker.isReady() && !publisher.isReady(), 'a dead master makes the brokers not ready', 10_000);
  });
});
