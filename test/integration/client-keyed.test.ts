/**
 * The SDK's keyed subscriptions (docs/client.md, "Keyed channels") against a real server, over WebSocket, SSE with
 * fetch and SSE with a spec EventSource: a newcomer gets the full state; a client offline for a few publications
 * catches up by history replay, for many by a delta, past the tombstone ttl by a full reset; and with a publisher
 * running while connections keep being cut (memory and Redis broker), the map ends equal to `GET /api/state`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import {
  createClient, createSseClient, type KeyChange, type KeyedReceiveSubscription, type SnapshotContext,
} from '../../src/client/index.js';
import { serverState, sdkEntries } from '../helpers/keyed-client.js';
import { of, record } from '../helpers/sdk.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const NAMESPACES = JSON.stringify([
  { name: 'kv', keyed: true, subscribe: 'anonymous', publish: true, historySize: 5 },
  { name: 'short', keyed: true, subscribe: 'anonymous', publish: true, historySize: 2, tombstoneTtl: '300ms' },
  { name: 'plain', subscribe: 'anonymous', publish: true },
]);
const TRANSPORTS = ['ws', 'sse', 'eventsource'] as const;
type Transport = (typeof TRANSPORTS)[number];

/** A keyed subscription on a fresh client of `transport`, plus the client's connect/disconnect. */
interface Opened {
  sub: KeyedReceiveSubscription<any>;
  connect(): void;
  disconnect(): void;
  snapshots: SnapshotContext[];
  changes: KeyChange[];
}

function suite(broker: 'memory' | 'redis', run: (ctx: { srv: () => TestServer }) => void): void {
  describe(`SDK keyed subscriptions (${broker} broker)`, () => {
    let srv: TestServer;
    const prefix = `sbck${randomBytes(4).toString('hex')}`;
    before(async () => {
      const redis = broker === 'redis' ? ['--redis.url', REDIS_URL, '--redis.prefix', prefix] : [];
      // Pages of 3 entries: most snapshots here span several broker reads.
      // SSE clients wait at least the server's `retry` before reconnecting: keep it short.
      srv = await startServer(['--namespaces', NAMESPACES, '--keyed.pageSize', '3', '--sse.retry', '20ms', ...redis]);
    });
    after(async () => {
      await srv.close();
      if (broker === 'redis') await deleteRedisPrefix(prefix);
    });
    run({ srv: () => srv });
  });
}

let n = 0;
function helpers(srv: TestServer) {
  const put = async (channel: string, key: string, data: unknown) => {
    const r = await srv.api('POST', '/api/publish', { channel, key, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { epoch: string; offset: number };
  };
  const del = async (channel: string, key: string) => {
    const r = await srv.api('POST', '/api/publish', { channel, key, op: 'delete' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { epoch: string; offset: number };
  };
  function open(transport: Transport, channel: string, user = `u${++n}`): Opened {
    const common = { params: { user }, minReconnectDelay: 10, maxReconnectDelay: 100 };
    const c = transport === 'ws'
      ? createClient({ url: srv.wsUrl, ...common })
      : createSseClient({ url: srv.url + '/events', ...common, ...(transport === 'eventsource' ? { transport, EventSource, events: [] } : { transport: 'fetch' as const }) });
    srv.track({ close: () => c.disconnect() });
    const sub = c.keyed(channel);
    const snapshots: SnapshotContext[] = [];
    const changes: KeyChange[] = [];
    sub.onSnapshot((s) => snapshots.push(s));
    sub.onChange((ch) => changes.push(ch));
    c.connect();
    return { sub, connect: () => c.connect(), disconnect: () => c.disconnect(), snapshots, changes };
  }
  /** Waits until the subscription is current and its map and position equal the server's state. */
  async function converged(o: Opened, channel: string, timeout = 10_000): Promise<void> {
    let want: Awaited<ReturnType<typeof serverState>> | undefined;
    await waitFor(async () => {
      want = await serverState(srv.url, channel);
      return o.sub.synced && JSON.stringify(sdkEntries(o.sub)) === JSON.stringify(want.entries) && o.sub.position?.offset === want.offset;
    }, {
      timeout,
      interval: 20,
      label: `${channel} equals the server state`,
      describe: () => JSON.stringify({ synced: o.sub.synced, have: sdkEntries(o.sub), want: want?.entries, pos: o.sub.position, wantOffset: want?.offset }),
    });
  }
  return { put, del, open, converged };
}

suite('memory', ({ srv: server }) => {
  for (const transport of TRANSPORTS) {
    describe(transport, () => {
      it('gives a newcomer the full state, then live changes', async () => {
        const srv = server();
        const { put, del, open, converged } = helpers(srv);
        const ch = `kv:new-${transport}`;
        await put(ch, 'a', 1);
        await put(ch, 'b', { x: 2 });
        await put(ch, 'c', 3);
        await put(ch, 'a', 4);
        await del(ch, 'b');
        for (let i = 0; i < 5; i++) await put(ch, `x${i}`, i); // 10 publications, 8 entries: 3 pages
        const o = open(transport, ch);
        await converged(o, ch);
        assert.deepEqual(o.snapshots.map((s) => [s.kind, s.size, s.offset]), [['full', 7, 10]]);
        assert.equal(o.changes.length, 0, 'the entries of a full snapshot rebuild the map without change events');
        assert.equal(o.sub.get('a'), 4);
        assert.equal(o.sub.has('b'), false);
        assert.equal(o.sub.size, 7);
        await put(ch, 'a', 5);
        await del(ch, 'c');
        await waitFor(() => o.changes.length === 2, { label: 'two live changes' });
        assert.deepEqual(o.changes.map((c) => [c.key, c.op, c.value, c.offset]), [['a', 'upsert', 5, 11], ['c', 'delete', undefined, 12]]);
        await converged(o, ch);
      });

      it('catches up after a short absence by replaying history', async () => {
        const srv = server();
        const { put, del, open, converged } = helpers(srv);
        const ch = `kv:replay-${transport}`;
        await put(ch, 'a', 1);
        await put(ch, 'b', 1);
        const o = open(transport, ch);
        await converged(o, ch);
        o.disconnect();
        await put(ch, 'a', 2);
        await del(ch, 'b'); // history keeps 5: both replayed
        o.connect();
        await converged(o, ch);
        assert.deepEqual(o.snapshots.map((s) => s.kind), ['full', 'replay']);
        assert.deepEqual(o.changes.map((c) => [c.key, c.op, c.offset]), [['a', 'upsert', 3], ['b', 'delete', 4]]);
        assert.deepEqual(sdkEntries(o.sub), [['a', '2']]);
      });

      it('catches up after a long absence with a delta of the changed keys', async () => {
        const srv = server();
        const { put, del, open, converged } = helpers(srv);
        const ch = `kv:delta-${transport}`;
        for (const k of ['a', 'b', 'c', 'd']) await put(ch, k, 0);
        const o = open(transport, ch);
        await converged(o, ch);
        o.disconnect();
        for (let i = 1; i <= 8; i++) await put(ch, 'a', i); // far past history (5)
        await del(ch, 'c');
        await put(ch, 'e', 1);
        o.connect();
        await converged(o, ch);
        assert.deepEqual(o.snapshots.map((s) => s.kind), ['full', 'delta']);
        assert.deepEqual(o.changes.map((c) => [c.key, c.op, c.value]), [['a', 'upsert', 8], ['c', 'delete', undefined], ['e', 'upsert', 1]]);
        assert.deepEqual(sdkEntries(o.sub), [['a', '8'], ['b', '0'], ['d', '0'], ['e', '1']]);
      });

      it('resets to the server state when a missed delete was forgotten (past the tombstone ttl)', async () => {
        const srv = server();
        const { put, del, open, converged } = helpers(srv);
        const ch = `short:reset-${transport}`;
        await put(ch, 'a', 1);
        await put(ch, 'b', 1);
        const o = open(transport, ch);
        const rec = record(o.sub, ['recoveryFailed']);
        await converged(o, ch);
        const pos = o.sub.position!;
        o.disconnect();
        await del(ch, 'b');
        await put(ch, 'c', 1);
        await put(ch, 'd', 1);
        // Until b's tombstone (300 ms) is gone, a delta could still tell this client; then only a full state can.
        await waitFor(async () => (await srv.api('GET', `/api/state?channel=${ch}&since=${pos.epoch}:${pos.offset}`)).body.snapshot === 'full', {
          timeout: 10_000, interval: 50, label: 'tombstone expired',
        });
        o.connect();
        await converged(o, ch);
        assert.deepEqual(o.snapshots.map((s) => s.kind), ['full', 'full']);
        assert.deepEqual(of(rec, 'recoveryFailed').map((r) => r.reason), ['too_old']);
        assert.deepEqual(sdkEntries(o.sub), [['a', '1'], ['c', '1'], ['d', '1']]);
      });
    });
  }

  it('publishes keyed writes with publish(data, { key, op }) over WebSocket', async () => {
    const srv = server();
    const { open, converged } = helpers(srv);
    const ch = 'kv:publish';
    const c = createClient({ url: srv.wsUrl, params: { user: 'writer' } });
    srv.track({ close: () => c.disconnect() });
    const sub = c.keyed<{ v: number }>(ch);
    c.connect();
    await sub.ready();
    const r1 = await sub.publish({ v: 1 }, { key: 'k' });
    const r2 = await sub.publish({ v: 2 }, { key: 'j', event: 'set' });
    const r3 = await c.publish(ch, undefined, { key: 'k', op: 'delete' });
    assert.deepEqual([r1.offset, r2.offset, r3.offset], [1, 2, 3]);
    const reader = open('ws', ch);
    await converged(reader, ch);
    assert.deepEqual(sdkEntries(reader.sub), [['j', '{"v":2}']]);
    await waitFor(() => sub.size === 1 && sub.get('j')?.v === 2, { label: "writer's own map" });
    await assert.rejects(sub.publish(1), (e: any) => e.code === 'invalid_key');
    await assert.rejects(c.publish('plain:x', 1, { key: 'k' }), (e: any) => e.code === 'invalid_key');
  });

  it('refuses a keyed subscription to a channel that is not keyed, and mixing kinds', async () => {
    const srv = server();
    const c = createClient({ url: srv.wsUrl, params: { user: 'mixer' } });
    srv.track({ close: () => c.disconnect() });
    const sub = c.keyed('plain:nk');
    const rec = record(sub, ['error', 'unsubscribed']);
    c.connect();
    await waitFor(() => sub.state === 'unsubscribed', { label: 'refused' });
    assert.equal(of(rec, 'error')[0].error.code, 'not_keyed');
    assert.throws(() => c.newSubscription('plain:nk', { keyed: false }), (e: any) => e.code === 'invalid_option');
    assert.throws(() => c.newSubscription('kv:since', { keyed: true, since: { epoch: 'e', offset: 1 } }), (e: any) => e.code === 'invalid_option');
    const plain = c.subscribe('kv:plain-sub');
    assert.throws(() => c.keyed('kv:plain-sub'), (e: any) => e.code === 'invalid_option');
    c.removeSubscription(plain);
  });

  it('delivers a snapshot to a plain subscription as publications, without treating skipped offsets as gaps', async () => {
    const srv = server();
    const { put, del } = helpers(srv);
    const ch = 'kv:plain-view';
    await put(ch, 'a', 1);
    await put(ch, 'b', 1);
    await put(ch, 'a', 2);
    await del(ch, 'b');
    await put(ch, 'c', 1);
    const c = createClient({ url: srv.wsUrl, params: { user: 'plain-reader' } });
    srv.track({ close: () => c.disconnect() });
    const sub = c.subscribe(ch);
    const rec = record(sub, ['subscribed', 'publication']);
    c.connect();
    await waitFor(() => of(rec, 'publication').length === 3, { label: 'three snapshot entries' });
    await put(ch, 'd', 1);
    await waitFor(() => of(rec, 'publication').length === 4, { label: 'live publication' });
    assert.deepEqual(of(rec, 'publication').map((p) => [p.key, p.op, p.offset]), [['a', 'upsert', 3], ['b', 'delete', 4], ['c', 'upsert', 5], ['d', 'upsert', 6]]);
    assert.equal(of(rec, 'subscribed').length, 1, 'no resubscribe');
    assert.equal(of(rec, 'subscribed')[0].snapshot, 'full');
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`snapshot: false starts a plain subscription from now (${transport})`, async () => {
      const srv = server();
      const { put } = helpers(srv);
      const ch = `kv:live-only-${transport}`;
      await put(ch, 'a', 1);
      await put(ch, 'b', 1);
      const params = { user: `live-only-${transport}` };
      const c = transport === 'ws' ? createClient({ url: srv.wsUrl, params }) : createSseClient({ url: `${srv.url}/events`, params, transport: 'fetch' });
      srv.track({ close: () => c.disconnect() });
      assert.throws(() => c.newSubscription('kv:other', { keyed: true, snapshot: false }), (e: any) => e.code === 'invalid_option');
      const sub = c.subscribe(ch, { snapshot: false });
      const rec = record(sub, ['subscribed', 'publication']);
      c.connect();
      await sub.ready();
      await put(ch, 'c', 1);
      await waitFor(() => of(rec, 'publication').length === 1, { label: 'the live publication' });
      assert.deepEqual(of(rec, 'publication').map((p) => [p.key, p.offset]), [['c', 3]], 'no snapshot entries before it');
    });
  }
});

for (const broker of ['memory', 'redis'] as const) {
  suite(broker, ({ srv: server }) => {
    for (const transport of TRANSPORTS) {
      it(`${transport}: ends equal to the server state while a publisher runs and connections keep being cut`, { timeout: 60_000 }, async () => {
        const srv = server();
        const { open, converged } = helpers(srv);
        const ch = `kv:storm-${transport}-${broker}`;
        const user = `storm-${transport}-${broker}`;
        const early = open(transport, ch, user);
        const rec = record(early.sub, ['subscribed']);
        const resumes = () => of(rec, 'subscribed').filter((x) => x.wasRecovering).length;
        let late: Opened | undefined;
        let cutting = true;
        let published = 0;
        const publisher = (async () => {
          while (cutting || published < 300) {
            const key = `k${Math.floor(Math.random() * 12)}`;
            const body = Math.random() < 0.3 ? { channel: ch, key, op: 'delete' } : { channel: ch, key, data: { i: published } };
            const r = await srv.api('POST', '/api/publish', body);
            assert.equal(r.status, 200, JSON.stringify(r.body));
            if (++published === 100) late = open(transport, ch, user); // joins mid-run, and is cut with the other
          }
        })();
        // Five cuts, each once the subscription is live again: resumes land mid-snapshot, mid-replay and live.
        try {
          for (let cut = 1; cut <= 5; cut++) {
            await waitFor(() => early.sub.state === 'subscribed' && resumes() >= cut - 1, { timeout: 20_000, label: `resume ${cut - 1}` });
            await srv.api('POST', '/api/disconnect', { user, code: 4100 });
          }
        } finally {
          cutting = false;
        }
        await publisher;
        await converged(early, ch, 20_000);
        await converged(late!, ch, 20_000);
        assert.ok(resumes() >= 5, 'resumed after every cut');
        assert.ok(early.snapshots.length >= 2);
      });
    }
  });
}
