/**
 * Pusher Channels compatibility (issue #17) with the real clients: `pusher-js` (Node build) subscribes, its channel
 * authorizations signed by the real `pusher` server library, which also publishes through the Pusher HTTP API.
 * Publications cross between Pusher, native WebSocket and SSE subscribers in both directions.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectReady, connectWs } from '../helpers/ws-client.js';
import { openEventSource } from '../helpers/sse-client.js';
import { sleep, waitFor, withTimeout } from '../helpers/wait.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { encodeCounts } from '../../src/delivery/encoded.js';
import { APP, collect, connected, nextEvent, PUSHER_FLAGS, pusherClient, pusherServer, subscribed, type PusherClient } from '../helpers/pusher.js';

let srv: TestServer;
const clients: PusherClient[] = [];
before(async () => {
  srv = await startServer([...PUSHER_FLAGS, '--channel.subscribe', 'anonymous']);
});
after(async () => {
  for (const c of clients) c.disconnect();
  await srv.close();
});

function client(user?: string, secret?: string): PusherClient {
  const c = pusherClient(srv.port, { ...(user ? { user } : {}), ...(secret ? { secret } : {}) });
  clients.push(c);
  return c;
}

describe('Pusher WebSocket endpoint with pusher-js', () => {
  it('connects with a Pusher socket id and subscribes a public channel', async () => {
    const a = client();
    assert.match(await connected(a), /^\d+\.\d+$/);
    assert.deepEqual(await subscribed(a, 'public-news'), {});
    const got = nextEvent(a, 'public-news', 'headline');
    await pusherServer(srv.port).trigger('public-news', 'headline', { title: 'hi' });
    assert.deepEqual(await got, { title: 'hi' });
  });

  it('authorizes private channels by the app signature and refuses a wrong one', async () => {
    const a = client();
    await connected(a);
    assert.deepEqual(await subscribed(a, 'private-orders'), {});
    const bad = client(undefined, 'not-the-secret');
    await connected(bad);
    await assert.rejects(subscribed(bad, 'private-orders'), (e: { data: { status: number; error: string } }) => {
      assert.equal(e.data.status, 401);
      assert.match(e.data.error, /invalid signature/);
      return true;
    });
    // The refused connection gets nothing of the channel.
    const missed = collect(bad, 'private-orders', 'order');
    const got = nextEvent(a, 'private-orders', 'order');
    await pusherServer(srv.port).trigger('private-orders', 'order', { n: 1 });
    assert.deepEqual(await got, { n: 1 });
    await sleep(100);
    assert.deepEqual(missed, []);
  });

  it('lists presence members and announces joins and leaves once per user', async () => {
    const a = client('alice');
    await connected(a);
    const first = await subscribed(a, 'presence-room');
    assert.equal(first.count, 1);
    assert.equal(first.me.id, 'alice');
    const added = nextEvent(a, 'presence-room', 'pusher:member_added');
    const b = client('bob');
    await connected(b);
    const second = await subscribed(b, 'presence-room');
    assert.equal(second.count, 2);
    assert.deepEqual(Object.keys(second.members).sort(), ['alice', 'bob']);
    assert.deepEqual(await added, { id: 'bob', info: { name: 'bob' } });
    // A second connection of bob is no new member for alice; bob's last leaving is.
    const joins = collect(a, 'presence-room', 'pusher:member_added');
    const b2 = client('bob');
    await connected(b2);
    await subscribed(b2, 'presence-room');
    await sleep(150);
    assert.deepEqual(joins, []);
    const removed = nextEvent(a, 'presence-room', 'pusher:member_removed');
    b.disconnect();
    await sleep(150);
    b2.disconnect();
    assert.deepEqual(await removed, { id: 'bob', info: { name: 'bob' } });
    const users = await pusherServer(srv.port).get({ path: '/channels/presence-room/users' });
    assert.deepEqual(await users.json(), { users: [{ id: 'alice' }] });
  });

  it('relays client events on private channels to the others, not to the sender', async () => {
    const a = client();
    const b = client();
    await Promise.all([connected(a), connected(b)]);
    await subscribed(a, 'private-chat');
    await subscribed(b, 'private-chat');
    const own = collect(a, 'private-chat', 'client-typing');
    const got = nextEvent(b, 'private-chat', 'client-typing');
    a.channel('private-chat').trigger('client-typing', { who: 'a' });
    assert.deepEqual(await got, { who: 'a' });
    await sleep(100);
    assert.deepEqual(own, []);
  });

  it('signs a user in: events sent to the user reach it, and terminate_connections closes it', async () => {
    const u = client('carol');
    const other = client('dave');
    await Promise.all([connected(u), connected(other)]);
    u.signin();
    // pusher-js subscribes to #server-to-user-carol once signed in; the user channel is carol's alone.
    await withTimeout(new Promise<void>((resolve) => u.user.serverToUserChannel ? resolve() : u.bind('pusher:signin_success', () => resolve())), 5000, 'signin');
    await waitFor(() => u.user.serverToUserChannel?.subscribed, { timeout: 5000, interval: 20 });
    // Another connection asking for carol's user channel (pusher-js itself will not ask: a raw Pusher frame).
    const raw = srv.track(await connectWs(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`));
    await raw.next((m) => m.event === 'pusher:connection_established');
    raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-carol' } });
    const refused = await raw.next((m) => m.event === 'pusher:subscription_error');
    assert.equal(refused.channel, '#server-to-user-carol');
    assert.equal(refused.data.status, 403);
    const note = new Promise((resolve) => u.user.bind('note', resolve));
    await pusherServer(srv.port).sendToUser('carol', 'note', { hi: 'carol' });
    assert.deepEqual(await withTimeout(note, 3000, 'user event'), { hi: 'carol' });
    const gone = new Promise<void>((resolve) => u.connection.bind('state_change', (s: { current: string }) => s.current !== 'connected' && resolve()));
    await pusherServer(srv.port).terminateUserConnections('carol');
    await withTimeout(gone, 3000, 'terminated');
    assert.equal(other.connection.state, 'connected');
  });

  it('refuses a presence channel_data changed after signing, and a sign-in with a wrong signature', async () => {
    const raw = srv.track(await connectWs(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`));
    const socketId = JSON.parse((await raw.next((m) => m.event === 'pusher:connection_established')).data).socket_id as string;
    const signed = JSON.stringify({ user_id: 'eve', user_info: {} });
    const { auth } = pusherServer(srv.port).authorizeChannel(socketId, 'presence-signed', { user_id: 'eve', user_info: {} });
    // The signature is for user eve; the channel_data sent names mallory.
    raw.send({ event: 'pusher:subscribe', data: { channel: 'presence-signed', auth, channel_data: signed.replace('eve', 'mallory') } });
    const refused = await raw.next((m) => m.event === 'pusher:subscription_error');
    assert.equal(refused.data.status, 401);
    const users = await (await pusherServer(srv.port).get({ path: '/channels/presence-signed/users' })).json();
    assert.deepEqual(users, { users: [] });
    // pusher-js signing in through an auth endpoint with a wrong secret: an error, and the user channel stays closed.
    const u = client('mallory', 'not-the-secret');
    await connected(u);
    const err = new Promise<any>((resolve) => u.connection.bind('error', resolve));
    u.signin();
    assert.match((await withTimeout(err, 3000, 'sign-in error')).data.message, /invalid sign-in signature/);
    await sleep(100);
    assert.equal(u.user.serverToUserChannel?.subscribed ?? false, false);
  });

  it('refuses client events on public channels', async () => {
    const a = client();
    await connected(a);
    await subscribed(a, 'public-x');
    const err = new Promise<any>((resolve) => a.connection.bind('error', resolve));
    a.channel('public-x').trigger('client-x', {});
    const e = await err;
    assert.equal(e.type, 'PusherError');
    assert.match(e.data.message, /private and presence/);
  });

  it('skips the connection named by socket_id', async () => {
    const a = client();
    const b = client();
    const [aId] = await Promise.all([connected(a), connected(b)]);
    await subscribed(a, 'excl');
    await subscribed(b, 'excl');
    const own = collect(a, 'excl', 'ev');
    const got = nextEvent(b, 'excl', 'ev');
    await pusherServer(srv.port).trigger('excl', 'ev', { k: 1 }, { socket_id: aId });
    assert.deepEqual(await got, { k: 1 });
    // The next publication is delivered to `a` as usual: skipping one is no gap.
    const next = nextEvent(a, 'excl', 'ev2');
    await pusherServer(srv.port).trigger('excl', 'ev2', { k: 2 });
    assert.deepEqual(await next, { k: 2 });
    assert.deepEqual(own, []);
  });
});

describe('one node, every protocol', () => {
  it('a publication from the pusher library reaches native WebSocket and SSE subscribers', async () => {
    const { client: ws } = await connectReady(`${srv.wsUrl}?user=w1`);
    srv.track(ws);
    await ws.call('subscribe', { channel: 'mixed' });
    const es = srv.track(openEventSource(`${srv.url}/events?channel=mixed&user=s1`, { events: ['price'] }));
    await es.next((m) => m.type === 'connected');
    await sleep(100);
    await pusherServer(srv.port).trigger('mixed', 'price', { eur: 10 });
    const push = await ws.nextPush((m) => m.push === 'publication');
    assert.equal(push.type, 'price');
    assert.deepEqual(push.payload, { eur: 10 });
    assert.deepEqual(JSON.parse((await es.next((m) => m.type === 'price')).data).payload, { eur: 10 });
  });

  it('a native publication (API and WebSocket) reaches pusher-js', async () => {
    const a = client();
    await connected(a);
    await subscribed(a, 'native-src');
    const got = nextEvent(a, 'native-src', 'tick');
    await srv.publish('native-src', { v: 1 }, 'tick');
    assert.deepEqual(await got, { v: 1 });
    const { client: ws } = await connectReady(`${srv.wsUrl}?user=w2`);
    srv.track(ws);
    const again = nextEvent(a, 'native-src', 'tock');
    await ws.call('publish', { channel: 'native-src', event: 'tock', data: 'plain text' });
    assert.equal(await again, 'plain text');
  });
});

describe('Pusher frames are built once per publication', () => {
  it('one Pusher frame for every Pusher subscriber of a publication', async () => {
    const subs = [client(), client(), client()];
    await Promise.all(subs.map(connected));
    for (const c of subs) await subscribed(c, 'fanout');
    const before = encodeCounts.dialectFrame;
    const got = subs.map((c) => nextEvent(c, 'fanout', 'f'));
    await srv.publish('fanout', { n: 1 }, 'f');
    for (const g of got) assert.deepEqual(await g, { n: 1 });
    assert.equal(encodeCounts.dialectFrame - before, 1);
  });
});

describe('two nodes on Redis', () => {
  const prefix = `sbtest-pusher-${process.pid}`;
  const nodes: TestServer[] = [];
  after(async () => {
    for (const n of nodes) await n.close();
    await deleteRedisPrefix(prefix);
  });

  it('an event published on one node reaches Pusher clients on the other, skipping the socket_id there', async () => {
    for (let i = 0; i < 2; i++) nodes.push(await startServer([...PUSHER_FLAGS, '--redis.url', SHARED_REDIS_URL, '--redis.prefix', prefix]));
    const [n1, n2] = nodes as [TestServer, TestServer];
    const a = pusherClient(n2.port);
    const b = pusherClient(n2.port);
    clients.push(a, b);
    const [aId] = await Promise.all([connected(a), connected(b)]);
    await subscribed(a, 'across');
    await subscribed(b, 'across');
    const own = collect(a, 'across', 'x');
    const got = nextEvent(b, 'across', 'x');
    await pusherServer(n1.port).trigger('across', 'x', { from: 'n1' }, { socket_id: aId });
    assert.deepEqual(await got, { from: 'n1' });
    const next = nextEvent(a, 'across', 'y');
    await pusherServer(n1.port).trigger('across', 'y', { from: 'n1' });
    assert.deepEqual(await next, { from: 'n1' });
    assert.deepEqual(own, []);
  });
});

describe('Pusher HTTP API', () => {
  it('answers the pusher library: batch events and channel info', async () => {
    const p = pusherServer(srv.port);
    const a = client();
    await connected(a);
    await subscribed(a, 'batch-1');
    const got = nextEvent(a, 'batch-1', 'b');
    const res = await p.triggerBatch([{ channel: 'batch-1', name: 'b', data: { i: 1 } }]);
    assert.equal(res.status, 200);
    assert.deepEqual(await got, { i: 1 });
    const info = await (await p.get({ path: '/channels/batch-1', params: { info: 'subscription_count' } })).json();
    assert.deepEqual(info, { occupied: true, subscription_count: 1 });
    const list = await (await p.get({ path: '/channels', params: { filter_by_prefix: 'batch-' } })).json();
    assert.deepEqual(list, { channels: { 'batch-1': {} } });
  });

  it('refuses a wrong signature, a wrong key and a stale timestamp', async () => {
    await assert.rejects(pusherServer(srv.port, 'wrong-secret').trigger('x', 'e', {}), (e: { status: number }) => e.status === 401);
    const body = JSON.stringify({ name: 'e', data: '{}', channels: ['x'] });
    const signed = (ts: number, key: string = APP.key) => {
      const q = `auth_key=${key}&auth_timestamp=${ts}&auth_version=1.0&body_md5=${createHash('md5').update(body).digest('hex')}`;
      const sig = createHmac('sha256', APP.secret).update(`POST\n/apps/${APP.appId}/events\n${q}`).digest('hex');
      return `/apps/${APP.appId}/events?${q}&auth_signature=${sig}`;
    };
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await srv.api('POST', signed(now), body)).status, 200);
    assert.equal((await srv.api('POST', signed(now - 3600), body)).status, 401);
    assert.equal((await srv.api('POST', signed(now, 'other-key'), body)).status, 401);
    // A body changed after signing.
    assert.equal((await srv.api('POST', signed(now), body.replace('"x"', '"y"'))).status, 401);
  });
});
