/**
 * The SDK on the server's `caught_up` marker (docs/client.md, "Keyed channels"): a keyed subscription whose snapshot
 * spans many pages while a publisher keeps changing many keys receives entries above the reply's offset, with skips;
 * it must take them as snapshot entries, not as a gap — no resubscribe, on the first subscribe and on every resume —
 * and end equal to `GET /api/state`. A channel whose state is empty while its offset is not is current at once.
 * WebSocket (subscribe frames counted by a spy on the socket) and SSE (stream requests counted), memory and Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient, createSseClient, type KeyedReceiveSubscription, type SnapshotContext } from '../../src/client/index.js';
import { serverState, sdkEntries, tombstonesExpired } from '../helpers/keyed-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const NAMESPACES = JSON.stringify([
  { name: 'kv', keyed: true, subscribe: 'anonymous', publish: true, historySize: 5 },
  { name: 'gone', keyed: true, subscribe: 'anonymous', publish: true, historySize: 1, tombstoneTtl: '200ms' },
]);
const KEYS = 300;
const ROUNDS = 3;

/** What one SDK client did: connections, subscribe requests sent, and catch-ups that skipped past the reply offset. */
interface Watched {
  sub: KeyedReceiveSubscription<any>;
  user: string;
  connections: number;
  /** WebSocket: subscribe frames sent; SSE: stream requests (each one subscribes every channel). */
  subscribes: number;
  /** SSE: streams the client ended because it saw a gap (code 3010). */
  resyncs: number;
  snapshots: SnapshotContext[];
  /** Entries received before `caught_up` above the reply's offset and not the next offset: the case the marker fixes. */
  skipsPastReply: number;
}

function watch(srv: TestServer, transport: 'ws' | 'sse', channel: string): Watched {
  const user = `w${randomBytes(3).toString('hex')}`;
  const common = { params: { user }, minReconnectDelay: 10, maxReconnectDelay: 100 };
  let w!: Watched;
  /** Counts the subscribe commands the SDK writes to its socket. */
  class SpyWebSocket extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      if (typeof data === 'string' && JSON.parse(data).method === 'subscribe') w.subscribes++;
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  }
  const countingFetch = (url: string, init: any) => {
    w.subscribes++;
    return fetch(url, init) as any;
  };
  const c = transport === 'ws'
    ? createClient({ url: srv.wsUrl, ...common, WebSocket: SpyWebSocket as any })
    : createSseClient({ url: srv.url + '/events', ...common, transport: 'fetch', fetch: countingFetch });
  srv.track({ close: () => c.disconnect() });
  const sub = c.keyed<any>(channel);
  w = { sub, user, connections: 0, subscribes: 0, resyncs: 0, snapshots: [], skipsPastReply: 0 };
  c.on('connected', () => w.connections++);
  c.on('disconnected', (d) => {
    if (d.code === 3010) w.resyncs++;
  });
  let replyOffset = 0;
  let last = 0;
  sub.on('subscribed', (s) => {
    replyOffset = s.offset;
    last = sub.position!.offset;
  });
  sub.on('publication', (p) => {
    if (!sub.synced && p.offset > replyOffset && p.offset !== last + 1) w.skipsPastReply++;
    last = p.offset;
  });
  sub.onSnapshot((s) => w.snapshots.push(s));
  c.connect();
  return w;
}

function suite(broker: 'memory' | 'redis'): void {
  describe(`SDK catch-up ends at caught_up (${broker} broker)`, () => {
    let srv: TestServer;
    const prefix = `sbcu${randomBytes(4).toString('hex')}`;
    before(async () => {
      const redis = broker === 'redis' ? ['--redis.url', REDIS_URL, '--redis.prefix', prefix] : [];
      // Pages of 4 entries: a snapshot of 300 keys is 75 broker reads. A small queue paces it by the reader.
      srv = await startServer(['--namespaces', NAMESPACES, '--keyed.pageSize', '4', '--client.queueMaxBytes', '65536', '--sse.retry', '20ms', ...redis]);
    });
    after(async () => {
      await srv.close();
      if (broker === 'redis') await deleteRedisPrefix(prefix);
    });

    const put = async (channel: string, key: string, data: unknown, op?: 'delete') => {
      const r = await srv.api('POST', '/api/publish', op ? { channel, key, op } : { channel, key, data });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };

    it('subscribes and resumes under sustained updates of many keys without a single resubscribe', async () => {
      const ch = `kv:load-${broker}`;
      const pad = 'p'.repeat(300);
      for (let i = 0; i < KEYS; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => put(ch, `k${i + j}`, { v: 0, pad })));
      // Two publishers keep changing random keys (and now and then delete one) until the end.
      let running = true;
      let published = 0;
      const publisher = async () => {
        while (running) {
          const key = `k${Math.floor(Math.random() * KEYS)}`;
          if (published % 50 === 49) await put(ch, key, null, 'delete');
          else await put(ch, key, { v: published, pad });
          published++;
        }
      };
      const publishers = [publisher(), publisher()];
      try {
        const clients = [watch(srv, 'ws', ch), watch(srv, 'sse', ch)];
        for (const w of clients) await waitFor(() => w.snapshots.length >= 1, { timeout: 20_000, label: 'first snapshot' });
        for (let round = 1; round <= ROUNDS; round++) {
          const before = published;
          await waitFor(() => published >= before + 100, { timeout: 20_000, label: 'keys changed while connected' });
          // Cut every connection of these users with a reconnect code: each resumes (a delta, past history).
          for (const w of clients) {
            const r = await srv.api('POST', '/api/disconnect', { user: w.user, code: 4100, reason: 'test resume' });
            assert.equal(r.status, 200);
          }
          for (const w of clients) await waitFor(() => w.snapshots.length >= round + 1 && w.connections >= round + 1, { timeout: 20_000, label: `resume ${round}` });
        }
        running = false;
        await Promise.all(publishers);
        const want = await serverState(srv.url, ch);
        for (const w of clients) {
          await waitFor(() => w.sub.synced && JSON.stringify(sdkEntries(w.sub)) === JSON.stringify(want.entries) && w.sub.position?.offset === want.offset, {
            timeout: 20_000,
            label: 'map equals GET /api/state',
            describe: () => JSON.stringify({ synced: w.sub.synced, size: w.sub.size, want: want.entries.length, pos: w.sub.position, offset: want.offset }),
          });
          assert.equal(w.connections, ROUNDS + 1);
          assert.equal(w.subscribes, w.connections, 'one subscribe per connection: no resubscribe after a skip');
          assert.equal(w.resyncs, 0);
          // A resume is a delta past history (historySize 5), or a replay when the client came back before five more
          // publications (a loaded machine slows the publishers): both catch up without a resubscribe.
          const kinds = w.snapshots.map((s) => s.kind);
          assert.equal(kinds[0], 'full');
          assert.equal(kinds.length, ROUNDS + 1);
          assert.ok(kinds.slice(1).every((k) => k === 'delta' || k === 'replay'), JSON.stringify(kinds));
        }
        const resumes = clients.flatMap((w) => w.snapshots.slice(1).map((s) => s.kind));
        assert.ok(resumes.includes('delta'), `some resume went past history: ${JSON.stringify(resumes)}`);
        // The case the marker exists for did occur: entries above the reply offset, with skips, before caught_up.
        // Redis only: every page is a round trip, so publications land between pages. The memory broker reads pages
        // without yielding unless the reader is slow (caught-up.test.ts stops reading to show it there).
        const skips = clients.map((w) => w.skipsPastReply);
        if (process.env.CU_DEBUG) console.log(broker, 'skips past reply', skips, 'published', published);
        if (broker === 'redis') assert.ok(skips[0]! + skips[1]! > 0, `no catch-up ran into changes made while it streamed (published ${published})`);
      } finally {
        running = false;
        await Promise.all(publishers);
      }
    });

    for (const transport of ['ws', 'sse'] as const) {
      it(`${transport}: an empty state with a non-zero offset is current at once`, async () => {
        const ch = `gone:empty-${broker}-${transport}`;
        await put(ch, 'a', 1);
        await put(ch, 'b', 1);
        await put(ch, 'a', null, 'delete');
        await put(ch, 'b', null, 'delete');
        await tombstonesExpired(srv, ch, 4); // the tombstones (200 ms) expired
        const w = watch(srv, transport, ch);
        await waitFor(() => w.sub.synced, { timeout: 10_000, label: 'synced without any publication' });
        assert.deepEqual(w.snapshots.map((s) => [s.kind, s.size, s.offset]), [['full', 0, 4]]);
        assert.deepEqual(w.sub.position, { epoch: w.snapshots[0]!.epoch, offset: 4 });
        await put(ch, 'c', 3);
        await waitFor(() => w.sub.get('c') === 3, { label: 'live after the empty snapshot' });
        assert.equal(w.subscribes, 1);
      });
    }
  });
}

suite('memory');
suite('redis');
