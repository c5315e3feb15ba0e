/**
 * Excluding a connection from one publication (issue #17, docs/protocol.md "Excluding the publisher"): the native
 * WebSocket `exclude_self`, the API's `exclude` (publish, broadcast) and the embed API's, on real sockets. The
 * excluded connection gets a `skip` push in place of the publication when its client tracks positions (native
 * WebSocket, SSE) and nothing otherwise (seed vocabularies, Centrifuge); either way its next publication is no gap.
 * The SDK moves past a skip without an event and without a recovery, which would fetch the skipped publication back.
 * On Redis the exclusion crosses nodes with the publication.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Centrifuge, type PublicationContext } from 'centrifuge';
import WebSocket from 'ws';
import { createClient, createSseClient, type Publication } from '../../src/client/index.js';
import { nodeOf } from '../../src/server.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { record, of } from '../helpers/sdk.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { rawSse } from '../helpers/sse-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

/** After a positive wait, time for a frame that must NOT come to arrive. */
const SETTLE_MS = 150;

let n = 0;
const fresh = (name: string): string => `${name}${++n}${randomBytes(2).toString('hex')}`;
const publicationsOf = (c: WsClient, ch: string): number[] => c.pushes.filter((m: Frame) => m.push === 'publication' && m.channel === ch).map((m: Frame) => m.offset as number);

/** A native WebSocket client of `srv`, subscribed to `ch` and caught up; with its connection id. */
async function subscriber(srv: TestServer, user: string, ch: string): Promise<{ c: WsClient; id: string }> {
  const { client, connected } = await connectReady(`${srv.wsUrl}?user=${user}`);
  srv.track(client);
  await client.call('subscribe', { channel: ch });
  await client.nextPush((m) => m.push === 'caught_up' && m.channel === ch);
  return { c: client, id: connected.client as string };
}

describe('exclude the publisher (one node)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '100']);
  });
  after(() => srv.close());

  it('native exclude_self: the others get the publication, the publisher a skip in its place, then its next publication', async () => {
    const ch = fresh('room');
    const { c: pub } = await subscriber(srv, 'pub', ch);
    const { c: other } = await subscriber(srv, 'other', ch);
    const r = await pub.call('publish', { channel: ch, data: { n: 1 }, exclude_self: true });
    const got = await other.nextPush((m) => m.push === 'publication' && m.channel === ch);
    assert.deepEqual([got.offset, got.payload], [r.offset, { n: 1 }]);
    const skip = await pub.nextPush((m) => m.push === 'skip');
    assert.deepEqual(skip, { push: 'skip', channel: ch, epoch: r.epoch, offset: r.offset });
    // Without exclude_self the publisher receives its own publication, as before.
    const r2 = await pub.call('publish', { channel: ch, data: { n: 2 } });
    await pub.nextPush((m) => m.push === 'publication' && m.offset === r2.offset);
    await sleep(SETTLE_MS);
    assert.deepEqual(publicationsOf(pub, ch), [r2.offset], 'the excluded publication never reached its publisher');
    assert.deepEqual(publicationsOf(other, ch), [r.offset, r2.offset]);
    assert.equal(pub.isClosed, false, 'no gap disconnect');
    // Still in the stream and in history: exclusion is a delivery matter only.
    const h = await srv.api('GET', `/api/history?channel=${ch}`);
    assert.deepEqual(h.body.publications.map((p: { offset: number }) => p.offset), [r.offset, r2.offset]);
  });

  it('exclude_self must be a boolean', async () => {
    const { client } = await connectReady(`${srv.wsUrl}?user=bad`);
    srv.track(client);
    const r = await client.request('publish', { channel: 'x', data: 1, exclude_self: 'yes' });
    assert.deepEqual(r.error, { code: 'bad_request', message: '"exclude_self" must be a boolean' });
  });

  it('API exclude names a connection from GET /api/connections: it gets a skip, the rest the publication', async () => {
    const ch = fresh('news');
    const { c: alice } = await subscriber(srv, 'alice', ch);
    const { c: bob } = await subscriber(srv, 'bob', ch);
    const conns = await srv.api('GET', '/api/connections?user=alice');
    const id = conns.body.connections[0].client as string;
    const r = await srv.api('POST', '/api/publish', { channel: ch, data: 'hi', exclude: id });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await bob.nextPush((m) => m.push === 'publication' && m.offset === r.body.offset);
    assert.deepEqual(await alice.nextPush((m) => m.push === 'skip'), { push: 'skip', channel: ch, epoch: r.body.epoch, offset: r.body.offset });
    // A broadcast's exclude holds for every channel it publishes to.
    const ch2 = fresh('news');
    await alice.call('subscribe', { channel: ch2 });
    await alice.nextPush((m) => m.push === 'caught_up' && m.channel === ch2);
    const b = await srv.api('POST', '/api/broadcast', { channels: [ch, ch2], data: 'all', exclude: id });
    assert.equal(b.status, 200, JSON.stringify(b.body));
    const [p1, p2] = b.body.results as { channel: string; offset: number }[];
    await alice.nextPush((m) => m.push === 'skip' && m.channel === ch && m.offset === p1!.offset);
    await alice.nextPush((m) => m.push === 'skip' && m.channel === ch2 && m.offset === p2!.offset);
    await bob.nextPush((m) => m.push === 'publication' && m.offset === p1!.offset);
    await sleep(SETTLE_MS);
    assert.deepEqual([publicationsOf(alice, ch), publicationsOf(alice, ch2)], [[], []]);
  });

  it('a bad exclude is refused with bad_request; an id of no connection excludes nobody', async () => {
    for (const exclude of ['', 'x'.repeat(65), 17, null]) {
      const r = await srv.api('POST', '/api/publish', { channel: 'c', data: 1, exclude });
      assert.deepEqual([r.status, r.body.error.code], [400, 'bad_request'], JSON.stringify(exclude));
      assert.match(r.body.error.message, /^exclude: /);
      const b = await srv.api('POST', '/api/broadcast', { channels: ['c'], data: 1, exclude });
      assert.deepEqual([b.status, b.body.error.code], [400, 'bad_request']);
    }
    const ch = fresh('nobody');
    const { c } = await subscriber(srv, 'carol', ch);
    const pos = await srv.api('POST', '/api/publish', { channel: ch, data: 1, exclude: 'no-such-connection' });
    await c.nextPush((m) => m.push === 'publication' && m.offset === pos.body.offset);
  });

  it('the embed API excludes a connection too, and refuses a bad id', async () => {
    const ch = fresh('embed');
    const { c, id } = await subscriber(srv, 'dave', ch);
    const { c: other } = await subscriber(srv, 'erin', ch);
    const p = await srv.sb.publish(ch, { n: 1 }, 'message', { exclude: id });
    assert.deepEqual(await c.nextPush((m) => m.push === 'skip'), { push: 'skip', channel: ch, epoch: p.epoch, offset: p.offset });
    await other.nextPush((m) => m.push === 'publication' && m.offset === p.offset);
    await assert.rejects(srv.sb.publish(ch, 1, 'message', { exclude: '' }), { code: 'bad_request' });
  });

  it('SSE: the skip is event `skip` whose id is the position, so Last-Event-ID moves past the publication', async () => {
    const ch = fresh('feed');
    const s = srv.track(await rawSse(`${srv.url}/events?channel=${ch}&user=frank`));
    const connected = await s.waitEvent((e) => e.event === 'connected');
    await s.waitEvent((e) => e.event === 'caught_up');
    const id = JSON.parse(connected.data!).client as string;
    const p = await srv.api('POST', '/api/publish', { channel: ch, data: 1, exclude: id });
    const skip = await s.waitEvent((e) => e.event === 'skip');
    assert.equal(skip.id, `${p.body.epoch}:${p.body.offset}`);
    assert.deepEqual(JSON.parse(skip.data!), { push: 'skip', channel: ch, epoch: p.body.epoch, offset: p.body.offset });
    const p2 = await srv.publish(ch, 2);
    const next = await s.waitEvent((e) => e.event === 'message');
    assert.equal(next.id, `${p2.epoch}:${p2.offset}`, 'only the next publication came as a publication');
    // Several channels: the id is the stream token, with the skipped channel's position moved on.
    const other = fresh('feed');
    const top = await srv.publish(other, 'x');
    const m = srv.track(await rawSse(`${srv.url}/events?channel=${other}&channel=${ch}&user=frank2`));
    const mid = JSON.parse((await m.waitEvent((e) => e.event === 'connected')).data!).client as string;
    await m.waitEvent((e) => e.event === 'caught_up' && e.data!.includes(`"${ch}"`));
    const p3 = await srv.api('POST', '/api/publish', { channel: ch, data: 3, exclude: mid });
    const skip3 = await m.waitEvent((e) => e.event === 'skip');
    assert.equal(skip3.id, `${top.epoch}:${top.offset},${p3.body.epoch}:${p3.body.offset}`);
    // Refused as an application event name, so an EventSource listener for `skip` gets only skips.
    const r = await srv.api('POST', '/api/publish', { channel: ch, event: 'skip', data: 1 });
    assert.deepEqual([r.status, r.body.error.code], [400, 'invalid_event']);
  });

  it('seed vocabularies and Centrifuge clients, which track no positions, get nothing in place of the publication', async () => {
    const ch = fresh('legacy');
    // Seed 002 on the native endpoint.
    const { client: seed, connected } = await connectReady(`${srv.wsUrl}?user=seed`);
    srv.track(seed);
    seed.send({ type: 'join_room', payload: { room_id: ch } });
    await seed.call('ping'); // commands run in order: the join is done
    const p1 = await srv.api('POST', '/api/publish', { channel: ch, data: 1, exclude: connected.client });
    const p2 = await srv.publish(ch, 2);
    await seed.nextPush((m) => m.push === 'publication' && m.offset === p2.offset);
    assert.deepEqual(seed.pushes.filter((m) => m.channel === ch).map((m) => [m.push, m.offset]), [['publication', p2.offset]]);
    assert.ok(p1.body.offset < p2.offset);
    assert.equal(seed.isClosed, false);

    // The real centrifuge client: its position follows the offsets it receives, and it checks no gaps itself.
    const c = new Centrifuge(`${srv.wsUrl.replace('/ws', '/connection/websocket')}?user=cf`, { websocket: WebSocket });
    srv.track({ close: async () => c.disconnect() });
    const clientId = new Promise<string>((resolve) => c.once('connected', (ctx) => resolve(ctx.client)));
    const sub = c.newSubscription(ch, { recoverable: true, positioned: true });
    const got: PublicationContext[] = [];
    sub.on('publication', (ctx) => got.push(ctx));
    const errors: unknown[] = [];
    sub.on('error', (e) => errors.push(e));
    sub.subscribe();
    c.connect();
    await sub.ready(5000);
    const q1 = await srv.api('POST', '/api/publish', { channel: ch, data: 'not for cf', exclude: await clientId });
    const q2 = await srv.publish(ch, 'for cf');
    await waitFor(() => got.length === 1, { label: 'the next publication' });
    await sleep(SETTLE_MS);
    assert.deepEqual(got.map((g) => [g.data, g.offset]), [['for cf', q2.offset]]);
    assert.equal(q1.body.offset + 1, q2.offset);
    assert.deepEqual([errors, sub.state], [[], 'subscribed']);
  });

  it('live delivery only: a resume from before the skipped publication replays it', async () => {
    const ch = fresh('resume');
    const { c, id } = await subscriber(srv, 'gina', ch);
    const before = await srv.publish(ch, 'seen');
    await c.nextPush((m) => m.push === 'publication' && m.offset === before.offset);
    // Lost before the skip arrived: the client's position is still `before`.
    const skipped = await srv.api('POST', '/api/publish', { channel: ch, data: 'excluded', exclude: id });
    await c.close();
    const { c: again } = await subscriberFrom(srv, ch, before);
    const replayed = await again.nextPush((m) => m.push === 'publication');
    assert.deepEqual([replayed.offset, replayed.payload], [skipped.body.offset, 'excluded']);
  });
});

/** A native client that subscribes to `ch` resuming from `since`. */
async function subscriberFrom(srv: TestServer, ch: string, since: { epoch: string; offset: number }): Promise<{ c: WsClient }> {
  const { client } = await connectReady(`${srv.wsUrl}?user=resumer`);
  srv.track(client);
  const r = await client.call('subscribe', { channel: ch, since: { epoch: since.epoch, offset: since.offset } });
  assert.equal(r.recovered, true);
  return { c: client };
}

describe('exclude the publisher with the SDK', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '100']);
  });
  after(() => srv.close());

  const commands = (key: string): number => nodeOf(srv.sb).telemetry.counters.commands.get(key) ?? 0;

  it('WebSocket: publish with excludeSelf yields nothing for the publisher, and the next publication needs no recovery', async () => {
    const ch = fresh('sdk');
    const client = createClient({ url: srv.wsUrl, params: { user: 'sdk-pub' } });
    srv.track({ close: async () => client.disconnect() });
    const sub = client.subscribe(ch);
    const rec = record(sub, ['subscribing', 'subscribed', 'publication']);
    client.connect();
    await sub.ready();
    const { c: other } = await subscriber(srv, 'sdk-other', ch);
    const subscribesBefore = commands('subscribe|ok');
    const r = await client.publish(ch, { n: 1 }, { excludeSelf: true });
    await other.nextPush((m) => m.push === 'publication' && m.offset === r.offset);
    const next = await srv.publish(ch, { n: 2 });
    await waitFor(() => of(rec, 'publication').length >= 1, { label: 'the next publication' });
    await sleep(SETTLE_MS);
    // Without the skip, `next` would look like a gap and the recovery would fetch the excluded publication back.
    assert.deepEqual(of(rec, 'publication').map((p: Publication) => p.offset), [next.offset], 'the excluded publication was never yielded');
    assert.deepEqual(sub.position, { epoch: next.epoch, offset: next.offset });
    assert.equal(of(rec, 'subscribing').length, 0, 'no resubscribe (gap recovery) after the skip');
    assert.equal(of(rec, 'subscribed').length, 1);
    assert.equal(commands('subscribe|ok'), subscribesBefore, 'no subscribe command reached the server');
  });

  it('SSE: a client excluded through the API moves past the skip without reopening its stream', async () => {
    const ch = fresh('sse');
    const s = createSseClient({ url: srv.url + '/events', params: { user: 'sse-x' }, transport: 'fetch' });
    srv.track({ close: async () => s.disconnect() });
    const sub = s.subscribe(ch);
    const rec = record(s, ['disconnected', 'subscribed', 'publication']);
    s.connect();
    await sub.ready();
    const p = await srv.api('POST', '/api/publish', { channel: ch, data: 1, exclude: s.info!.client });
    await waitFor(() => sub.position?.offset === p.body.offset, { label: 'the skip moved the position' });
    const next = await srv.publish(ch, 2);
    await waitFor(() => of(rec, 'publication').length >= 1, { label: 'the next publication' });
    await sleep(SETTLE_MS);
    assert.deepEqual(of(rec, 'publication').map((x: Publication) => x.offset), [next.offset]);
    assert.deepEqual([of(rec, 'disconnected').length, of(rec, 'subscribed').length], [0, 1], 'the stream was not reopened');
  });
});

describe('exclude the publisher across two nodes on Redis', () => {
  const prefix = `sbexcl${randomBytes(4).toString('hex')}`;
  const flags = ['--redis.url', SHARED_REDIS_URL, '--redis.prefix', prefix];
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    a = await startServer(flags);
    b = await startServer(flags);
  });
  after(async () => {
    await b.close();
    await a.close();
    await deleteRedisPrefix(prefix);
  });

  it('exclude_self on node A: node B delivers it, A skips its publisher', async () => {
    const ch = fresh('x');
    const { c: pub } = await subscriber(a, 'p', ch);
    const { c: far } = await subscriber(b, 'q', ch);
    const r = await pub.call('publish', { channel: ch, data: 1, exclude_self: true });
    await far.nextPush((m) => m.push === 'publication' && m.offset === r.offset);
    assert.deepEqual(await pub.nextPush((m) => m.push === 'skip'), { push: 'skip', channel: ch, epoch: r.epoch, offset: r.offset });
  });

  it('API exclude on node B names a connection of node A: the exclusion travels with the publication', async () => {
    const ch = fresh('y');
    const { c: target } = await subscriber(a, 'target', ch);
    const { c: near } = await subscriber(b, 'near', ch);
    // Node A reports its users every 2 s; then node B asks it.
    const id = await waitFor(async () => {
      const r = await b.api('GET', '/api/connections?user=target');
      return r.status === 200 ? (r.body.connections[0]?.client as string | undefined) : undefined;
    }, { timeout: 10_000, interval: 200, label: "node A's connection listed on node B" });
    const r = await b.api('POST', '/api/publish', { channel: ch, data: 1, exclude: id });
    await near.nextPush((m) => m.push === 'publication' && m.offset === r.body.offset);
    assert.deepEqual(await target.nextPush((m) => m.push === 'skip'), { push: 'skip', channel: ch, epoch: r.body.epoch, offset: r.body.offset });
    const next = await b.publish(ch, 2);
    await target.nextPush((m) => m.push === 'publication' && m.offset === next.offset);
    assert.deepEqual(publicationsOf(target, ch), [next.offset]);
  });
});
