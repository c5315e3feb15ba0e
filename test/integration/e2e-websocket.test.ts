/**
 * WebSocket end to end: a real server on a random port, real `ws` clients, the native protocol, both seed
 * vocabularies and every class of bad frame.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, connectWs, type Frame, type WsClient } from '../helpers/ws-client.js';
import { nodeOf } from '../../src/server.js';

const isPub = (channel: string) => (m: Frame) => m.push === 'publication' && m.channel === channel;

/** Connects a tracked client for `user` and waits for its `connected` push. */
async function client(srv: TestServer, user?: string): Promise<WsClient> {
  const { client: c } = await connectReady(user === undefined ? srv.wsUrl : `${srv.wsUrl}?user=${user}`);
  return srv.track(c);
}

describe('websocket: native protocol', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('sends a connected push first', async () => {
    const c = srv.track(await connectWs(`${srv.wsUrl}?user=alice`));
    const first = await c.nextPush();
    assert.equal(first.push, 'connected');
    assert.equal(first.user, 'alice');
    assert.equal(typeof first.client, 'string');
    assert.ok(first.client.length > 0);
    assert.match(first.version, /^\d+\.\d+\.\d+/);
    assert.equal(first.ping, 25);
    assert.equal(c.messages[0], first, 'connected is the very first frame');
  });

  it('gives anonymous connections a generated user id', async () => {
    const { client: c, connected } = await connectReady(srv.wsUrl);
    srv.track(c);
    assert.match(connected.user, /^anon-[0-9a-f]+$/);
  });

  it('refuses an upgrade with an invalid user id', async () => {
    await assert.rejects(connectWs(`${srv.wsUrl}?user=${encodeURIComponent('bad user!')}`), /HTTP 400/);
  });

  it('subscribes, and delivers client and API publications', async () => {
    const a = await client(srv, 'alice');
    const b = await client(srv, 'bob');
    const sub = await a.call('subscribe', { channel: 'news' });
    assert.equal(sub.channel, 'news');
    assert.equal(sub.offset, 0);
    assert.equal(sub.recovered, false);
    assert.equal(sub.missed, 0);
    assert.match(sub.epoch, /^[a-z0-9]+$/);

    const pubReply = await b.call('publish', { channel: 'news', data: { n: 1, text: 'héllo' } });
    assert.deepEqual(pubReply, { channel: 'news', epoch: sub.epoch, offset: 1 });
    const p1 = await a.nextPush(isPub('news'));
    assert.equal(p1.type, 'message');
    assert.deepEqual(p1.payload, { n: 1, text: 'héllo' });
    assert.equal(p1.epoch, sub.epoch);
    assert.equal(p1.offset, 1);
    assert.ok(!Number.isNaN(Date.parse(p1.timestamp)));

    const apiPos = await srv.publish('news', ['x', 2], 'custom.event');
    assert.deepEqual(apiPos, { channel: 'news', epoch: sub.epoch, offset: 2 });
    const p2 = await a.nextPush(isPub('news'));
    assert.equal(p2.type, 'custom.event');
    assert.deepEqual(p2.payload, ['x', 2]);
    assert.equal(p2.offset, 2);

    // The publisher is not subscribed: it got replies only.
    assert.equal(b.pushes.filter((m) => m.push === 'publication').length, 0);
  });

  it('stops delivery after unsubscribe', async () => {
    const a = await client(srv, 'alice');
    await a.call('subscribe', { channel: 'unsub-a' });
    await a.call('subscribe', { channel: 'unsub-sentinel' });
    await srv.publish('unsub-a', 1);
    await a.nextPush(isPub('unsub-a'));
    assert.deepEqual(await a.call('unsubscribe', { channel: 'unsub-a' }), {});
    await srv.publish('unsub-a', 2);
    // Publications reach one connection in publish order: once the sentinel is here, unsub-a #2 would be too.
    await srv.publish('unsub-sentinel', 'done');
    await a.nextPush(isPub('unsub-sentinel'));
    assert.deepEqual(a.pushes.filter(isPub('unsub-a')).map((m) => m.payload), [1]);
  });

  it('reports presence of two users, and drops a user that disconnects', async () => {
    const a = await client(srv, 'alice');
    const b = await client(srv, 'bob');
    await a.call('subscribe', { channel: 'pres' });
    await b.call('subscribe', { channel: 'pres' });
    const { members } = await a.call('presence', { channel: 'pres' });
    assert.deepEqual(members.map((m: Frame) => m.user).sort(), ['alice', 'bob']);
    for (const m of members) assert.equal(typeof m.client, 'string');
    const apiPresence = await srv.api('GET', '/api/presence?channel=pres');
    assert.equal(apiPresence.status, 200);
    assert.deepEqual(apiPresence.body.members.map((m: Frame) => m.user).sort(), ['alice', 'bob']);

    await b.close();
    const after = await waitFor(async () => {
      const r = await a.call('presence', { channel: 'pres' });
      return r.members.length === 1 ? r.members : undefined;
    }, { label: 'bob to leave presence' });
    assert.equal(after[0].user, 'alice');
  });

  it('answers history with limit, reverse and since', async () => {
    const a = await client(srv, 'alice');
    let epoch = '';
    for (let i = 1; i <= 5; i++) epoch = (await srv.publish('hist', { i })).epoch;
    const all = await a.call('history', { channel: 'hist' });
    assert.deepEqual(all.publications.map((p: Frame) => p.offset), [1, 2, 3, 4, 5]);
    assert.deepEqual(all.publications.map((p: Frame) => p.payload.i), [1, 2, 3, 4, 5]);
    assert.equal(all.epoch, epoch);
    assert.equal(all.offset, 5);
    assert.equal(all.earliest, 1);
    const limited = await a.call('history', { channel: 'hist', limit: 2 });
    assert.deepEqual(limited.publications.map((p: Frame) => p.offset), [1, 2]);
    const newest = await a.call('history', { channel: 'hist', limit: 2, reverse: true });
    assert.deepEqual(newest.publications.map((p: Frame) => p.offset), [5, 4]);
    const since = await a.call('history', { channel: 'hist', since: { epoch, offset: 3 } });
    assert.deepEqual(since.publications.map((p: Frame) => p.offset), [4, 5]);
    const none = await a.call('history', { channel: 'hist', limit: 0 });
    assert.deepEqual(none.publications, []);
    const otherEpoch = await a.call('history', { channel: 'hist', since: { epoch: 'zzzz', offset: 1 } });
    assert.deepEqual(otherEpoch.publications, []);
  });

  it('answers ping', async () => {
    const a = await client(srv);
    const r = await a.request('ping');
    assert.deepEqual(r, { id: r.id, result: {} });
    // String ids are echoed too.
    a.send({ id: 'abc', method: 'ping' });
    assert.deepEqual(await a.next((m) => m.id === 'abc'), { id: 'abc', result: {} });
  });

  it('closes every connection of a user on POST /api/disconnect with 4502', async () => {
    const c1 = await client(srv, 'carol');
    const c2 = await client(srv, 'carol');
    const other = await client(srv, 'dave');
    const r = await srv.api('POST', '/api/disconnect', { user: 'carol' });
    assert.equal(r.status, 200);
    assert.deepEqual(await c1.waitClosed(), { code: 4502, reason: 'disconnected by server' });
    assert.deepEqual(await c2.waitClosed(), { code: 4502, reason: 'disconnected by server' });
    assert.deepEqual(await other.call('ping'), {});
    assert.equal(other.isClosed, false);
  });

  it('closes with the code and reason given to POST /api/disconnect', async () => {
    const c = await client(srv, 'erin');
    const r = await srv.api('POST', '/api/disconnect', { user: 'erin', code: 4100, reason: 'go away' });
    assert.equal(r.status, 200);
    assert.deepEqual(await c.waitClosed(), { code: 4100, reason: 'go away' });
    const bad = await srv.api('POST', '/api/disconnect', { user: 'erin', code: 1000 });
    assert.equal(bad.status, 400);
  });
});

describe('websocket: bad frames', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--websocket.maxMessageSize', '1024', '--websocket.maxBadFrames', '100']);
  });
  after(() => srv.close());

  /** Sends a raw frame and returns the next error frame. */
  async function errorFor(c: WsClient, frame: unknown): Promise<Frame> {
    c.send(frame);
    return c.next((m) => 'error' in m);
  }

  it('answers every malformed frame with a coded error and stays usable', async () => {
    const c = await client(srv, 'eve');
    const cases: { frame: unknown; id: unknown; code: string }[] = [
      { frame: 'not json', id: null, code: 'invalid_json' },
      { frame: '{"id":1,', id: null, code: 'invalid_json' },
      { frame: '[1,2,3]', id: null, code: 'invalid_json' },
      { frame: '"a string"', id: null, code: 'invalid_json' },
      { frame: 'null', id: null, code: 'invalid_json' },
      { frame: { id: 1, nomethod: true }, id: 1, code: 'bad_request' },
      { frame: { id: 2, method: 'frobnicate' }, id: 2, code: 'unknown_method' },
      { frame: { id: 3, method: 7 }, id: 3, code: 'bad_request' },
      { frame: { id: 4, method: 'subscribe', params: {} }, id: 4, code: 'bad_request' },
      { frame: { id: 5, method: 'subscribe' }, id: 5, code: 'bad_request' },
      { frame: { id: 6, method: 'subscribe', params: 'news' }, id: 6, code: 'bad_request' },
      { frame: { id: 7, method: 'subscribe', params: { channel: 42 } }, id: 7, code: 'invalid_channel' },
      { frame: { id: 8, method: 'subscribe', params: { channel: 'news', since: 'yesterday' } }, id: 8, code: 'bad_request' },
      { frame: { id: 9, method: 'subscribe', params: { channel: 'news', since: { epoch: 'ABC!', offset: 1 } } }, id: 9, code: 'bad_request' },
      { frame: { id: 10, method: 'subscribe', params: { channel: 'news', since: { epoch: 'abc', offset: -1 } } }, id: 10, code: 'bad_request' },
      { frame: { id: 11, method: 'history', params: { channel: 'news', limit: 1001 } }, id: 11, code: 'bad_request' },
      { frame: { id: 12, method: 'history', params: { channel: 'news', limit: 'ten' } }, id: 12, code: 'bad_request' },
      { frame: { id: 13, method: 'history', params: { channel: 'news', reverse: 'yes' } }, id: 13, code: 'bad_request' },
      { frame: { id: 14, method: 'subscribe', params: { channel: 'has space' } }, id: 14, code: 'invalid_channel' },
      { frame: { id: 15, method: 'subscribe', params: { channel: 'ünïcode' } }, id: 15, code: 'invalid_channel' },
      { frame: { id: 16, method: 'subscribe', params: { channel: '' } }, id: 16, code: 'invalid_channel' },
      { frame: { id: 17, method: 'subscribe', params: { channel: 'x'.repeat(256) } }, id: 17, code: 'invalid_channel' },
      { frame: { id: 18, method: 'publish', params: { channel: 'news', event: 'bad event', data: 1 } }, id: 18, code: 'invalid_event' },
      { frame: { id: 19, method: 'publish', params: { channel: 'news' } }, id: 19, code: 'bad_request' },
      { frame: { id: { nested: true }, method: 'ping' }, id: null, code: 'bad_request' },
      { frame: { id: 'x'.repeat(65), method: 'ping' }, id: null, code: 'bad_request' },
      { frame: 'x'.repeat(1500), id: null, code: 'message_too_large' },
      { frame: Buffer.from('{"id":20,"method":"ping"}'), id: null, code: 'binary_not_allowed' },
    ];
    for (const k of cases) {
      const e = await errorFor(c, k.frame);
      const label = typeof k.frame === 'string' ? k.frame.slice(0, 40) : Buffer.isBuffer(k.frame) ? 'binary' : JSON.stringify(k.frame).slice(0, 80);
      assert.equal(e.error.code, k.code, `code for ${label}`);
      assert.equal(e.id, k.id, `id for ${label}`);
      assert.equal(typeof e.error.message, 'string');
      assert.ok(e.error.message.length > 0);
      assert.deepEqual(Object.keys(e).sort(), ['error', 'id']);
    }
    assert.equal(c.isClosed, false);
    // Still usable after all of that.
    assert.deepEqual(await c.call('ping'), {});
    await c.call('subscribe', { channel: 'still-ok' });
    await srv.publish('still-ok', 'yes');
    assert.equal((await c.nextPush(isPub('still-ok'))).payload, 'yes');
  });

  it('replies message_too_large to a frame over websocket.maxMessageSize and keeps the connection', async () => {
    const c = await client(srv);
    const big = JSON.stringify({ id: 1, method: 'publish', params: { channel: 'big', data: 'y'.repeat(1100) } });
    assert.ok(big.length > 1024);
    const e = await errorFor(c, big);
    assert.equal(e.error.code, 'message_too_large');
    assert.match(e.error.message, /1024/);
    // Just under the limit is fine.
    const ok = JSON.stringify({ id: 2, method: 'publish', params: { channel: 'big', data: 'y'.repeat(900) } });
    assert.ok(ok.length <= 1024);
    c.send(ok);
    const r = await c.next((m) => m.id === 2);
    assert.equal(r.result.offset, 1);
  });

  it('answers already_subscribed and not_subscribed without counting them as bad frames', async () => {
    const c = await client(srv);
    await c.call('subscribe', { channel: 'dup' });
    const again = await c.request('subscribe', { channel: 'dup' });
    assert.equal(again.error?.code, 'already_subscribed');
    const notSub = await c.request('unsubscribe', { channel: 'never' });
    assert.equal(notSub.error?.code, 'not_subscribed');
    await c.call('unsubscribe', { channel: 'dup' });
    const twice = await c.request('unsubscribe', { channel: 'dup' });
    assert.equal(twice.error?.code, 'not_subscribed');
    assert.deepEqual(await c.call('ping'), {});
  });

  it('closes with 1009 on a frame over twice websocket.maxMessageSize (not even read)', async () => {
    const c = await client(srv, 'huge');
    c.send('z'.repeat(2049));
    const closed = await c.waitClosed();
    assert.equal(closed.code, 1009);
    await waitFor(() => nodeOf(srv.sb).hub.connectionsOf('huge') === 0, { label: 'server to forget the connection' });
  });
});

describe('websocket: limits and liveness', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--client.maxSubscriptions', '2', '--websocket.pingInterval', '200ms', '--websocket.pongTimeout', '200ms']);
  });
  after(() => srv.close());

  it('refuses a subscription past client.maxSubscriptions with limit_exceeded', async () => {
    const c = await client(srv);
    await c.call('subscribe', { channel: 'l1' });
    await c.call('subscribe', { channel: 'l2' });
    const r = await c.request('subscribe', { channel: 'l3' });
    assert.equal(r.error?.code, 'limit_exceeded');
    assert.match(r.error!.message, /client\.maxSubscriptions/);
    await c.call('unsubscribe', { channel: 'l1' });
    await c.call('subscribe', { channel: 'l3' });
  });

  it('closes a connection that stops answering pings, and keeps one that answers', async () => {
    const { client: mute } = await connectReady(srv.wsUrl, 3000, { autoPong: false });
    srv.track(mute);
    const alive = await client(srv);
    const closed = await mute.waitClosed(5000);
    assert.ok(closed.code === 4002 || closed.code === 1006, `closed with ${closed.code}`);
    assert.equal(alive.isClosed, false);
    assert.deepEqual(await alive.call('ping'), {});
  });
});

describe('websocket: bad frame limit', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--websocket.maxBadFrames', '5']);
  });
  after(() => srv.close());

  it('closes with 4500 after websocket.maxBadFrames bad frames, but not for ordinary errors', async () => {
    const c = await client(srv);
    // Ordinary command errors do not count.
    for (let i = 0; i < 8; i++) assert.equal((await c.request('unsubscribe', { channel: 'nope' })).error?.code, 'not_subscribed');
    for (let i = 0; i < 4; i++) {
      c.send('garbage');
      await c.next((m) => m.error?.code === 'invalid_json');
    }
    assert.deepEqual(await c.call('ping'), {}, 'still open after 4 bad frames');
    c.send('garbage');
    const closed = await c.waitClosed();
    assert.deepEqual(closed, { code: 4500, reason: 'bad protocol' });
    // The fifth error was answered before the close.
    assert.equal(c.messages.filter((m) => m.error?.code === 'invalid_json').length, 5);
  });
});

describe('websocket: seed 002 vocabulary', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('joins, sends to a room with the server-set user_id, and leaves', async () => {
    const alice = await client(srv, 'alice');
    const bob = await client(srv, 'bob');
    alice.send({ type: 'join_room', payload: { room_id: 'lobby' } });
    bob.send({ type: 'join_room', payload: { room_id: 'lobby' } });
    // Frames are handled in order per connection: a ping reply means the join is done.
    await alice.call('ping');
    await bob.call('ping');
    alice.send({ type: 'send_to_room', payload: { room_id: 'lobby', content: 'hi', user_id: 'mallory' } });
    const got = await bob.nextPush(isPub('lobby'));
    assert.equal(got.type, 'chat_message');
    assert.deepEqual(got.payload, { room_id: 'lobby', content: 'hi', user_id: 'alice' });
    const echo = await alice.nextPush(isPub('lobby'));
    assert.equal(echo.payload.user_id, 'alice');

    bob.send({ type: 'leave_room', payload: { room_id: 'lobby' } });
    await bob.call('ping');
    await bob.call('subscribe', { channel: 'seed-sentinel' });
    alice.send({ type: 'send_to_room', payload: { room_id: 'lobby', content: 'after leave' } });
    await alice.nextPush((m) => isPub('lobby')(m) && m.payload.content === 'after leave');
    await srv.publish('seed-sentinel', 1);
    await bob.nextPush(isPub('seed-sentinel'));
    assert.deepEqual(bob.pushes.filter(isPub('lobby')).map((m) => m.payload.content), ['hi']);
  });

  it('sends to every connection of a user as direct_message with from_user_id', async () => {
    const a1 = await client(srv, 'amy');
    const a2 = await client(srv, 'amy');
    const bob = await client(srv, 'bob');
    bob.send({ type: 'send_to_user', payload: { user_id: 'amy', content: 'psst' } });
    for (const c of [a1, a2]) {
      const m = await c.nextPush((x) => x.push === 'message');
      assert.equal(m.type, 'direct_message');
      assert.equal(m.payload.from_user_id, 'bob');
      assert.equal(m.payload.content, 'psst');
      assert.ok(!Number.isNaN(Date.parse(m.timestamp)));
    }
    // A spoofed from_user_id is overwritten.
    bob.send({ type: 'send_to_user', payload: { user_id: 'amy', content: 'again', from_user_id: 'admin' } });
    assert.equal((await a1.nextPush((x) => x.push === 'message')).payload.from_user_id, 'bob');
    assert.equal(bob.pushes.filter((m) => m.push === 'message').length, 0);
  });

  it('answers seed errors in the seed shape', async () => {
    const c = await client(srv);
    const cases: { frame: unknown; code: string }[] = [
      { frame: { type: 'join_room', payload: {} }, code: 'bad_request' },
      { frame: { type: 'join_room', payload: { room_id: 'bad room' } }, code: 'invalid_channel' },
      { frame: { type: 'teleport', payload: {} }, code: 'unknown_method' },
      { frame: { type: 'send_to_user', payload: { content: 'x' } }, code: 'bad_request' },
      { frame: { type: 'join_room', payload: 'lobby' }, code: 'bad_request' },
      { frame: { type: 5 }, code: 'bad_request' },
      { frame: { type: 'leave_room', payload: { room_id: 'never-joined' } }, code: 'not_subscribed' },
    ];
    for (const k of cases) {
      c.send(k.frame);
      const e = await c.nextPush((m) => m.type === 'error');
      assert.deepEqual(Object.keys(e.payload).sort(), ['code', 'message'], JSON.stringify(k.frame));
      assert.equal(e.payload.code, k.code, JSON.stringify(k.frame));
      assert.equal(typeof e.payload.message, 'string');
    }
    c.send({ type: 'join_room', payload: { room_id: 'dup-room' } });
    c.send({ type: 'join_room', payload: { room_id: 'dup-room' } });
    const dup = await c.nextPush((m) => m.type === 'error');
    assert.equal(dup.payload.code, 'already_subscribed');
  });
});

describe('websocket: seed 000 vocabulary', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('answers ping with pong and broadcasts chat to other seed clients', async () => {
    const c1 = await client(srv);
    const c2 = await client(srv);
    c1.send({ action: 'ping' });
    assert.deepEqual(await c1.nextPush((m) => 'action' in m), { action: 'pong' });
    c2.send({ action: 'ping' });
    assert.deepEqual(await c2.nextPush((m) => 'action' in m), { action: 'pong' });
    c1.send({ action: 'chat', data: { text: 'hello', n: 1 } });
    const got = await c2.nextPush((m) => m.action === 'chat');
    assert.deepEqual(got.data, { text: 'hello', n: 1 });
    assert.equal(got.push, 'publication');
    assert.equal(got.channel, 'broadcast');
    assert.deepEqual(got.payload, { text: 'hello', n: 1 });
    const own = await c1.nextPush((m) => m.action === 'chat');
    assert.deepEqual(own.data, { text: 'hello', n: 1 });
    c2.send({ action: 'dance' });
    const e = await c2.nextPush((m) => m.action === 'error');
    assert.equal(e.data.code, 'unknown_method');
    c2.send({ action: 'chat' });
    assert.equal((await c2.nextPush((m) => m.action === 'error')).data.code, 'bad_request');
  });
});

describe('websocket: join and leave events', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--channel.joinLeave', 'true']);
  });
  after(() => srv.close());

  it('tells members who joins and leaves, by unsubscribe and by disconnect', async () => {
    const alice = await client(srv, 'alice');
    await alice.call('subscribe', { channel: 'jl' });
    const bob = await client(srv, 'bob');
    const bobSub = await bob.call('subscribe', { channel: 'jl' });
    assert.equal(bobSub.channel, 'jl');
    const join = await alice.nextPush((m) => m.push === 'join');
    assert.equal(join.channel, 'jl');
    assert.equal(join.user, 'bob');
    assert.equal(join.type, 'join');
    assert.equal(join.payload.user, 'bob');
    assert.equal(typeof join.client, 'string');
    await bob.call('unsubscribe', { channel: 'jl' });
    const leave = await alice.nextPush((m) => m.push === 'leave');
    assert.equal(leave.user, 'bob');
    assert.equal(leave.client, join.client);

    await bob.call('subscribe', { channel: 'jl' });
    await alice.nextPush((m) => m.push === 'join' && m.user === 'bob');
    await bob.close();
    const leave2 = await alice.nextPush((m) => m.push === 'leave');
    assert.equal(leave2.user, 'bob');
    // Nobody is told about their own join.
    assert.equal(alice.pushes.filter((m) => (m.push === 'join' || m.push === 'leave') && m.user === 'alice').length, 0);
  });
});
