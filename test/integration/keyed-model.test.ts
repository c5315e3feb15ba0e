/**
 * Model test of keyed channels, against the memory broker and the Redis broker: a publisher makes random upserts and
 * deletes while WebSocket clients come and go — offline for a few publications (history replay), for many (delta
 * snapshot), or past the tombstone ttl (reset and full snapshot), sometimes dropped mid-snapshot. In the end every
 * client's map equals the server's state and the publisher's model.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KeyedView, follow, serverState, subscribeView, byKey } from '../helpers/keyed-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { connectReady } from '../helpers/ws-client.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const NAMESPACES = JSON.stringify([
  { name: 'kv', keyed: true, subscribe: 'anonymous', historySize: 10 },
  { name: 'kt', keyed: true, subscribe: 'anonymous', historySize: 10, tombstoneTtl: '300ms' },
]);
const PUBLICATIONS = 500;
const KEYS = 30;
const CLIENTS_PER_CHANNEL = 4;

for (const broker of ['memory', 'redis'] as const) {
  describe(`keyed model test (${broker} broker)`, () => {
    let srv: TestServer;
    const prefix = `sbtk${randomBytes(4).toString('hex')}`;
    before(async () => {
      const redis = broker === 'redis' ? ['--redis.url', REDIS_URL, '--redis.prefix', prefix] : [];
      // Pages of 4 entries: a snapshot of ~30 keys spans several broker reads.
      srv = await startServer(['--namespaces', NAMESPACES, '--keyed.pageSize', '4', ...redis]);
    });
    after(async () => {
      await srv.close();
      if (broker === 'redis') await deleteRedisPrefix(prefix);
    });

    it('ends every client, whatever its offline spans, in exactly the server state', { timeout: 120_000 }, async () => {
      const channels = [`kv:m${prefix}`, `kt:m${prefix}`];
      const model = new Map<string, Map<string, string>>(channels.map((c) => [c, new Map()]));
      let published = 0;
      let done = false;
      const publisher = (async () => {
        try {
          for (let i = 1; i <= PUBLICATIONS; i++) {
            const channel = channels[i % 2]!;
            const key = `k${Math.floor(Math.random() * KEYS)}`;
            const del = Math.random() < 0.3;
            const r = await srv.api('POST', '/api/publish', del ? { channel, key, op: 'delete' } : { channel, key, data: { i } });
            assert.equal(r.status, 200, JSON.stringify(r.body));
            if (del) model.get(channel)!.delete(key);
            else model.get(channel)!.set(key, JSON.stringify({ i }));
            published = i;
            if (i % 50 === 0) await sleep(60); // lets some tombstones of `kt` outlive their 300 ms ttl while clients are away
          }
        } finally {
          done = true;
        }
      })();

      const waitPublished = (n: number) => waitFor(() => done || published >= n, { timeout: 30_000, label: `${n} publications` });
      const clients = channels.flatMap((channel) => Array.from({ length: CLIENTS_PER_CHANNEL }, () => new KeyedView(channel)));
      const runs = clients.map(async (view, k) => {
        while (!done) {
          const { client } = await connectReady(srv.wsUrl + `?user=m${k}`);
          follow(client, view);
          await subscribeView(client, view, {}, 15_000).catch(() => undefined);
          // Online for a few publications, then dropped (often mid-snapshot or mid-replay: frames not yet read are lost).
          await waitPublished(published + 1 + Math.floor(Math.random() * 8));
          await client.terminate();
          const r = Math.random();
          if (r < 0.4) await waitPublished(published + 1 + Math.floor(Math.random() * 4)); // history still has it
          else if (r < 0.85) await waitPublished(published + 25 + Math.floor(Math.random() * 40)); // past history
          else await sleep(400); // past the tombstone ttl of `kt`
        }
      });
      await publisher;
      await Promise.all(runs);

      for (const [k, view] of clients.entries()) {
        const { client } = await connectReady(srv.wsUrl + `?user=f${k}`);
        srv.track(client);
        follow(client, view);
        await subscribeView(client, view, {}, 15_000);
        const want = byKey(model.get(view.channel)!);
        const server = await serverState(srv.url, view.channel, 7);
        assert.deepEqual(server.entries, want, `server state of ${view.channel} equals the publisher's model`);
        await waitFor(() => JSON.stringify(view.entries()) === JSON.stringify(want), {
          timeout: 15_000,
          label: `client ${k} (${view.channel}) to hold the state`,
          describe: () => JSON.stringify({ have: view.entries(), want, pos: view.position, top: server.offset }),
        });
      }
      const outcomes = new Set(clients.flatMap((v) => v.outcomes));
      for (const o of ['full', 'delta', 'replay']) assert.ok(outcomes.has(o), `some resume took the ${o} path (saw ${[...outcomes]})`);
    });
  });
}
