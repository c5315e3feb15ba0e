/**
 * Occupancy across nodes on the shared Redis, with two webhook queues as two nodes: a channel entered by both is
 * occupied once and vacated once; a node that dies without leaving (its lease is no longer renewed) has its channel
 * vacated by the other node's sweep; a node whose lease was swept during an outage occupies its channel again on the
 * next renewal.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import { Counters } from '../../src/observability/counters.js';
import type { Logger } from '../../src/observability/logger.js';
import { channelEvent } from '../../src/webhooks/event.js';
import { RedisWebhookQueue } from '../../src/webhooks/redis-queue.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { waitFor } from '../helpers/wait.js';

const PREFIX = `sbtest-whocc-${process.pid}`;
const quiet = { info() {}, warn() {}, error() {} } as unknown as Logger;

describe('webhook occupancy across nodes (Redis)', () => {
  const redis = createClient({ url: SHARED_REDIS_URL });
  const queues: RedisWebhookQueue[] = [];
  after(async () => {
    for (const q of queues) await q.close();
    if (redis.isOpen) redis.destroy();
    await deleteRedisPrefix(PREFIX);
  });
  const node = async (nodeId: string) => {
    const q = new RedisWebhookQueue({ url: SHARED_REDIS_URL, prefix: PREFIX, nodeId, targets: ['http://127.0.0.1:1/'], maxQueue: 1000,
      lockTtlMs: 60_000, leaseTtlMs: 600, commandTimeoutMs: 2000, counters: new Counters(), logger: quiet });
    queues.push(q);
    await q.start();
    return q;
  };
  const events = async () => ((await redis.xRange(`${PREFIX}:wh:events`, '-', '+')) ?? []).map((e) => {
    const j = JSON.parse(e.message.e!) as { name: string; channel: string };
    return `${j.name}:${j.channel}`;
  });
  let id = 0;
  const op = (kind: 'enter' | 'leave', channel: string) =>
    ({ kind, channel, json: channelEvent(`t-${++id}`, kind === 'enter' ? 'channel_occupied' : 'channel_vacated', Date.now(), channel) });

  it('occupied and vacated once across nodes; a dead node is swept; a swept live node re-occupies', async () => {
    await redis.connect();
    const x = await node('nodex');
    const y = await node('nodey');
    const nodesIn = (channel: string) => redis.sCard(`${PREFIX}:wh:occ:${channel}`);
    x.push(op('enter', 'both'));
    await waitFor(async () => (await nodesIn('both')) === 1, { label: 'x in' });
    y.push(op('enter', 'both'));
    await waitFor(async () => (await nodesIn('both')) === 2, { label: 'y in' });
    y.push(op('leave', 'both'));
    await waitFor(async () => (await nodesIn('both')) === 1, { label: 'y out' });
    x.push(op('leave', 'both'));
    await waitFor(async () => (await events()).length === 2, { timeout: 3000, label: 'two events' });
    assert.deepEqual(await events(), ['channel_occupied:both', 'channel_vacated:both']);

    // y dies inside a channel: no leave, its lease is no longer renewed; x's sweep vacates the channel.
    y.push(op('enter', 'orphan'));
    await waitFor(async () => (await events()).includes('channel_occupied:orphan'), { timeout: 3000, label: 'orphan occupied' });
    await y.close(); // stops renewing without leaving, like a killed node
    await waitFor(async () => (await events()).includes('channel_vacated:orphan'), { timeout: 5000, label: 'orphan vacated by the sweep' });

    // x's lease of 'kept' disappears (as if swept while x could not reach Redis): its next renewal occupies it again.
    x.push(op('enter', 'kept'));
    await waitFor(async () => (await events()).filter((e) => e === 'channel_occupied:kept').length === 1, { timeout: 3000, label: 'kept occupied' });
    await redis.del(`${PREFIX}:wh:occ:kept`);
    await redis.zRem(`${PREFIX}:wh:leases`, 'nodex kept');
    await waitFor(async () => (await events()).filter((e) => e === 'channel_occupied:kept').length === 2, { timeout: 3000, label: 'kept occupied again' });
    const all = await events();
    assert.equal(all.filter((e) => e === 'channel_vacated:kept').length, 0);
    assert.equal(all.filter((e) => e === 'channel_vacated:orphan').length, 1);
  });
});
