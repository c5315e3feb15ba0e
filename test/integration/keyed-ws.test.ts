/**
 * Keyed channels end to end over WebSocket and the server API (docs/keyed-channels.md): publishing with keys, a
 * newcomer's full snapshot, resume by history replay, by delta snapshot, and by reset once tombstones expired; the
 * paged `GET /api/state`; and every refusal with its code.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeyedView, follow, serverState, subscribeView, tombstonesExpired } from '../helpers/keyed-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const NAMESPACES = JSON.stringify([
  { name: 'kv', keyed: true, subscribe: 'anonymous', publish: true, historySize: 5 },
  { name: 'short', keyed: true, subscribe: 'anonymous', publish: true, historySize: 2, tombstoneTtl: '300ms' },
  { name: 'small', keyed: true, subscribe: 'anonymous', publish: true, maxKeys: 2 },
  { name: 'plain', subscribe: 'anonymous', publish: true },
]);

describe('keyed channels over WebSocket and the API', () => {
  let srv: TestServer;
  let n = 0;
  const chan = (ns: string) => `${ns}:c${++n}`;
  const put = (channel: string, key: string, data: unknown) => srv.api('POST', '/api/publish', { channel, key, data });
  const del = (channel: string, key: string) => srv.api('POST', '/api/publish', { channel, key, op: 'delete' });
  async function ok(r: Promise<{ status: number; body: any }>): Promise<{ epoch: string; offset: number }> {
    const res = await r;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }
  async function client(): Promise<WsClient> {
    const { client: c } = await connectReady(srv.wsUrl + '?user=u' + n);
    return srv.track(c);
  }
  /** Subscribes a fresh view (or resumes `view`) on a new connection and waits until it holds the server's state. */
  async function catchUp(view: KeyedView, extra: Record<string, unknown> = {}): Promise<{ c: WsClient; reply: Frame }> {
    const c = await client();
    follow(c, view);
    const reply = await subscribeView(c, view, extra);
    const want = await serverState(srv.url, view.channel);
    await waitFor(() => JSON.stringify(view.entries()) === JSON.stringify(want.entries) && view.position?.offset === want.offset, {
      label: 'view equals server state',
      describe: () => JSON.stringify({ have: view.entries(), want: want.entries, pos: view.position }),
    });
    return { c, reply };
  }

  before(async () => {
    srv = await startServer(['--namespaces', NAMESPACES, '--keyed.pageSize', '3', '--keyed.maxKeyLength', '16']);
  });
  after(() => srv.close());

  it('sends a newcomer the full state (every key, paged, in offset order), then live', async () => {
    const ch = chan('kv');
    await ok(put(ch, 'a', 1));
    await ok(put(ch, 'b', 2));
    await ok(put(ch, 'c', 3));
    await ok(put(ch, 'a', 4));
    await ok(del(ch, 'b'));
    for (let i = 0; i < 6; i++) await ok(put(ch, `x${i}`, i)); // 11 publications, 9 entries: 3 pages of 3
    const view = new KeyedView(ch);
    const { c, reply } = await catchUp(view);
    assert.equal(reply.snapshot, 'full');
    assert.equal(reply.recovered, false);
    assert.equal(reply.offset, 11);
    const pubs = c.pushes.filter((m) => m.push === 'publication');
    assert.deepEqual(pubs.map((m) => [m.key, m.op, m.offset]), [
      ['c', 'upsert', 3], ['a', 'upsert', 4], ['b', 'delete', 5],
      ['x0', 'upsert', 6], ['x1', 'upsert', 7], ['x2', 'upsert', 8], ['x3', 'upsert', 9], ['x4', 'upsert', 10], ['x5', 'upsert', 11],
    ]);
    assert.equal(pubs[2]!.payload, null, 'a tombstone carries null');
    assert.deepEqual(view.entries().slice(0, 2), [['a', '4'], ['c', '3']]);
    const live = await ok(put(ch, 'a', 5));
    await c.nextPush((m) => m.push === 'publication' && m.offset === live.offset && m.key === 'a' && m.payload === 5);
  });

  it('resumes from a position still in history by replaying every publication', async () => {
    const ch = chan('kv');
    await ok(put(ch, 'a', 1));
    const view = new KeyedView(ch);
    const first = await catchUp(view);
    await first.c.close();
    await ok(put(ch, 'a', 2));
    await ok(put(ch, 'a', 3)); // history keeps 5: both replayed, not compacted
    const { c, reply } = await catchUp(view);
    assert.deepEqual([reply.recovered, reply.snapshot, reply.missed], [true, undefined, 2]);
    assert.deepEqual(c.pushes.filter((m) => m.push === 'publication').map((m) => m.payload), [2, 3]);
  });

  it('resumes from a position older than history with a delta: only changed keys, tombstones included', async () => {
    const ch = chan('kv');
    for (const k of ['a', 'b', 'c', 'd']) await ok(put(ch, k, 0));
    const view = new KeyedView(ch);
    const first = await catchUp(view);
    await first.c.close();
    for (let i = 1; i <= 8; i++) await ok(put(ch, 'a', i)); // far past history (5)
    await ok(del(ch, 'c'));
    const { c, reply } = await catchUp(view);
    assert.deepEqual([reply.recovered, reply.snapshot, reply.reason], [true, 'delta', undefined]);
    assert.deepEqual(c.pushes.filter((m) => m.push === 'publication').map((m) => [m.key, m.op]), [['a', 'upsert'], ['c', 'delete']]);
    assert.deepEqual(view.entries(), [['a', '8'], ['b', '0'], ['d', '0']]);
  });

  it('tells a client whose missed deletes were forgotten to reset, and sends the full state', async () => {
    const ch = chan('short');
    await ok(put(ch, 'a', 1));
    await ok(put(ch, 'b', 1));
    const view = new KeyedView(ch);
    const first = await catchUp(view);
    await first.c.close();
    const deleted = await ok(del(ch, 'b'));
    await ok(put(ch, 'c', 1));
    await ok(put(ch, 'd', 1));
    await tombstonesExpired(srv, ch, deleted.offset); // b's tombstone (300 ms) is gone: a delta could not tell this client b was deleted
    const { reply } = await catchUp(view);
    assert.deepEqual([reply.recovered, reply.reason, reply.snapshot], [false, 'too_old', 'full']);
    assert.deepEqual(view.entries(), [['a', '1'], ['c', '1'], ['d', '1']]);
  });

  it('resets a position from another epoch, and subscribes live only with snapshot: false', async () => {
    const ch = chan('kv');
    await ok(put(ch, 'a', 1));
    const view = new KeyedView(ch);
    view.position = { epoch: 'zzzzzzzz', offset: 1 };
    view.map.set('stale', '1');
    const { reply } = await catchUp(view);
    assert.deepEqual([reply.recovered, reply.reason, reply.snapshot], [false, 'epoch_changed', 'full']);
    assert.deepEqual(view.entries(), [['a', '1']]);
    const c = await client();
    const r = await c.call('subscribe', { channel: ch, snapshot: false });
    assert.deepEqual([r.recovered, r.snapshot, r.offset], [false, undefined, 1]);
    await ok(put(ch, 'b', 2));
    const p = await c.nextPush((m) => m.push === 'publication');
    assert.deepEqual([p.key, p.offset], ['b', 2]);
    assert.equal(c.pushes.filter((m) => m.push === 'publication').length, 1, 'no snapshot');
  });

  it('publishes over WebSocket with key and op; a delete needs no data', async () => {
    const ch = chan('kv');
    const c = await client();
    const r1 = await c.call('publish', { channel: ch, key: 'k', data: { v: 1 } });
    const r2 = await c.call('publish', { channel: ch, key: 'k', op: 'delete' });
    assert.deepEqual([r1.offset, r2.offset], [1, 2]);
    const h = await srv.api('GET', `/api/history?channel=${ch}`);
    assert.deepEqual(h.body.publications.map((p: Frame) => [p.key, p.op, p.payload]), [['k', 'upsert', { v: 1 }], ['k', 'delete', null]]);
  });

  it('refuses bad keyed publishes with stable codes', async () => {
    const ch = chan('kv');
    const c = await client();
    const code = async (params: Record<string, unknown>) => (await c.request('publish', params)).error?.code;
    assert.equal(await code({ channel: ch, data: 1 }), 'invalid_key', 'keyed channel without key');
    assert.equal(await code({ channel: chan('plain'), key: 'k', data: 1 }), 'invalid_key', 'key on a channel that is not keyed');
    assert.equal(await code({ channel: ch, key: 'x'.repeat(17), data: 1 }), 'invalid_key', 'key over keyed.maxKeyLength');
    assert.equal(await code({ channel: ch, key: '', data: 1 }), 'invalid_key');
    assert.equal(await code({ channel: ch, key: 'a\nb', data: 1 }), 'invalid_key', 'control character');
    assert.equal(await code({ channel: ch, key: 7, data: 1 }), 'invalid_key');
    assert.equal(await code({ channel: ch, op: 'delete' }), 'invalid_key', 'op without key');
    assert.equal(await code({ channel: ch, key: 'k', op: 'merge', data: 1 }), 'bad_request');
    assert.equal(await code({ channel: ch, key: 'k' }), 'bad_request', 'an upsert needs data');
    assert.equal((await c.request('subscribe', { channel: ch, snapshot: 'yes' })).error?.code, 'bad_request');
    const api = async (body: unknown) => {
      const r = await srv.api('POST', '/api/publish', body);
      return [r.status, r.body.error?.code];
    };
    assert.deepEqual(await api({ channel: ch, data: 1 }), [400, 'invalid_key']);
    assert.deepEqual(await api({ channel: ch, key: 5, data: 1 }), [400, 'invalid_key']);
    assert.deepEqual(await api({ channel: ch, op: 'delete' }), [400, 'invalid_key']);
    assert.deepEqual(await api({ channel: ch, key: 'k' }), [400, 'bad_request']);
    assert.deepEqual(await api({ channel: ch, key: 'k', op: 'nope', data: 1 }), [400, 'bad_request']);
    const small = chan('small');
    await ok(put(small, 'a', 1));
    await ok(put(small, 'b', 1));
    assert.deepEqual(await api({ channel: small, key: 'c', data: 1 }), [429, 'limit_exceeded']);
    await ok(put(small, 'a', 2)); // an existing key still updates
  });

  it('GET /api/state pages the state, answers deltas, and refuses channels that are not keyed', async () => {
    const ch = chan('kv');
    for (const k of ['a', 'b', 'c', 'd', 'e']) await ok(put(ch, k, k));
    await ok(del(ch, 'b'));
    const p1 = await srv.api('GET', `/api/state?channel=${ch}&limit=2`);
    assert.equal(p1.status, 200);
    assert.deepEqual([p1.body.snapshot, p1.body.offset, p1.body.publications.map((p: Frame) => p.key), p1.body.next], ['full', 6, ['a', 'c'], `${p1.body.epoch}:3:0`]);
    const p2 = await srv.api('GET', `/api/state?channel=${ch}&limit=2&cursor=${p1.body.next}`);
    assert.deepEqual([p2.body.snapshot, p2.body.publications.map((p: Frame) => p.key)], ['delta', ['d', 'e']]);
    const p3 = await srv.api('GET', `/api/state?channel=${ch}&limit=2&cursor=${p2.body.next}`);
    assert.deepEqual([p3.body.publications.map((p: Frame) => [p.key, p.op]), p3.body.next], [[['b', 'delete']], null]);
    const d = await srv.api('GET', `/api/state?channel=${ch}&since=${p1.body.epoch}:4`);
    assert.deepEqual([d.body.snapshot, d.body.publications.map((p: Frame) => p.key)], ['delta', ['e', 'b']]);
    const other = await srv.api('GET', `/api/state?channel=${ch}&since=zzzzzzzz:3`);
    assert.equal(other.body.snapshot, 'full', 'another epoch: the full state');
    assert.deepEqual((await serverState(srv.url, ch)).entries, [['a', '"a"'], ['c', '"c"'], ['d', '"d"'], ['e', '"e"']]);
    const bad = async (q: string) => {
      const r = await srv.api('GET', `/api/state?${q}`);
      return [r.status, r.body.error?.code];
    };
    assert.deepEqual(await bad(`channel=${chan('plain')}`), [404, 'feature_disabled']);
    assert.deepEqual(await bad(`channel=${ch}&limit=0`), [400, 'bad_request']);
    assert.deepEqual(await bad(`channel=${ch}&since=nope`), [400, 'bad_request']);
    assert.deepEqual(await bad(`channel=${ch}&cursor=abc:1`), [400, 'bad_request']);
    assert.deepEqual(await bad(`channel=${ch}&cursor=abc:1:0&since=abc:1`), [400, 'bad_request']);
    assert.deepEqual(await bad('channel=nope:x'), [400, 'unknown_namespace']);
  });
});
