/**
 * Idempotent publish (docs/api.md) through every entry point — the API, the WebSocket `publish`, the SDK — on the
 * memory broker (one node) and on Redis (two nodes sharing a prefix: a retry on the other node is still a retry). A
 * subscriber counts what was really delivered; the window is short (`publish.idempotencyWindow`) so a retry after it
 * can be seen to publish again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../../src/client/index.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const WINDOW_MS = 1500;
/** After a positive wait, time for a publication that must NOT come to arrive. */
const SETTLE_MS = 150;

for (const broker of ['memory', 'redis'] as const) {
  describe(`idempotent publish (${broker}${broker === 'redis' ? ', two nodes' : ''})`, () => {
    const prefix = `sbidem${randomBytes(4).toString('hex')}`;
    let a: TestServer;
    let b: TestServer;
    let sub: WsClient;
    let n = 0;
    const flags = ['--publish.idempotencyWindow', `${WINDOW_MS}ms`, ...(broker === 'redis' ? ['--redis.url', SHARED_REDIS_URL, '--redis.prefix', prefix] : [])];

    before(async () => {
      a = await startServer(flags);
      b = broker === 'redis' ? await startServer(flags) : a;
      sub = b.track((await connectReady(`${b.wsUrl}?user=watcher`)).client);
    });
    after(async () => {
      if (b !== a) await b.close();
      await a.close();
      if (broker === 'redis') await deleteRedisPrefix(prefix);
    });

    /** A fresh channel the subscriber on node B listens to. */
    const channel = async (): Promise<string> => {
      const ch = `orders${++n}`;
      await sub.call('subscribe', { channel: ch });
      return ch;
    };
    const delivered = (ch: string): number[] => sub.pushes.filter((m: Frame) => m.push === 'publication' && m.channel === ch).map((m: Frame) => m.offset as number);
    const post = async (srv: TestServer, body: object): Promise<{ epoch: string; offset: number }> => {
      const r = await srv.api('POST', '/api/publish', body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as { epoch: string; offset: number };
    };

    it('a retry through the API, the WebSocket and the SDK (on either node) answers the first position and publishes nothing', async () => {
      const ch = await channel();
      const first = await post(a, { channel: ch, data: { n: 1 }, idempotency_key: 'order-17' });
      assert.deepEqual(await post(b, { channel: ch, data: { n: 1 }, idempotency_key: 'order-17' }), first);
      const { client: ws } = await connectReady(`${b.wsUrl}?user=pub`);
      b.track(ws);
      const viaWs = await ws.call('publish', { channel: ch, data: { n: 1 }, idempotency_key: 'order-17' });
      assert.deepEqual([viaWs.epoch, viaWs.offset], [first.epoch, first.offset]);
      const sdk = createClient({ url: a.wsUrl, params: { user: 'sdk' } });
      a.track({ close: () => sdk.disconnect() });
      sdk.connect();
      const viaSdk = await sdk.publish(ch, { n: 1 }, { idempotencyKey: 'order-17' });
      assert.deepEqual([viaSdk.epoch, viaSdk.offset], [first.epoch, first.offset]);
      // Another key is another publication.
      const second = await sdk.publish(ch, { n: 2 }, { idempotencyKey: 'order-18' });
      assert.equal(second.offset, first.offset + 1);
      await waitFor(() => delivered(ch).length === 2, { label: 'both publications delivered' });
      await sleep(SETTLE_MS);
      assert.deepEqual(delivered(ch), [first.offset, second.offset], 'each key delivered once');
      const h = await a.api('GET', `/api/history?channel=${ch}`);
      assert.equal(h.body.publications.length, 2, 'each key kept once');
      // Three retries answered, counted apart from publications (metrics read on scrape).
      const nodes = a === b ? [a] : [a, b];
      const metric = async (name: string): Promise<number> => {
        let sum = 0;
        for (const srv of nodes) {
          const text = (await srv.api('GET', '/metrics')).body as string;
          sum += Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 'NaN');
        }
        return sum;
      };
      assert.equal(await metric('switchboard_publish_replays_total'), 3);
      assert.equal(await metric('switchboard_publications_total'), 2);
    });

    it('concurrent submits of one key (to both nodes) publish once', async () => {
      const ch = await channel();
      const body = { channel: ch, data: { n: 1 }, idempotency_key: 'double' };
      const answers = await Promise.all([post(a, body), post(b, body), post(a, body), post(b, body)]);
      assert.ok(answers.every((p) => p.offset === answers[0]!.offset && p.epoch === answers[0]!.epoch), JSON.stringify(answers));
      await waitFor(() => delivered(ch).length === 1, { label: 'the publication delivered' });
      await sleep(SETTLE_MS);
      assert.deepEqual(delivered(ch), [answers[0]!.offset]);
    });

    it('a retry after the window publishes again', async () => {
      const ch = await channel();
      const first = await post(a, { channel: ch, data: 1, idempotency_key: 'late' });
      await sleep(WINDOW_MS + 100);
      const again = await post(b, { channel: ch, data: 1, idempotency_key: 'late' });
      assert.equal(again.offset, first.offset + 1);
      await waitFor(() => delivered(ch).length === 2, { label: 'both delivered' });
    });

    it('refuses a malformed key on both entry points', async () => {
      const r = await a.api('POST', '/api/publish', { channel: 'x', data: 1, idempotency_key: 'has space' });
      assert.deepEqual([r.status, r.body.error?.code], [400, 'bad_request']);
      const { client: ws } = await connectReady(`${a.wsUrl}?user=bad`);
      a.track(ws);
      await assert.rejects(ws.call('publish', { channel: 'x', data: 1, idempotency_key: 'x'.repeat(129) }), /bad_request|idempotency_key/);
    });
  });
}
