/**
 * Several Pusher apps on one server (issue #17, `pusher.apps`), with the real `pusher-js` and `pusher` libraries:
 * the default app (the `pusher.appId` shorthand, channel names one to one) beside app B (namespace `appb`) and app C
 * (namespace `appc`, client events off). Apps are isolated: the same channel name is another channel per app, each
 * app's secret signs only its own channels and requests, users are per app, and an unknown key or id is refused as
 * Pusher refuses it.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectReady, connectWs } from '../helpers/ws-client.js';
import { sleep, waitFor, withTimeout } from '../helpers/wait.js';
import { APP, collect, connected, nextEvent, PUSHER_FLAGS, pusherClient, pusherServer, subscribed, type AppCredentials, type ClientOptions, type PusherClient } from '../helpers/pusher.js';

const B: AppCredentials = { appId: '5151', key: 'app-b-key', secret: 'app-b-secret' };
const C: AppCredentials = { appId: '6161', key: 'app-c-key', secret: 'app-c-secret' };
const APPS = [{ ...B, namespace: 'appb' }, { ...C, namespace: 'appc', clientEvents: false }];
// Namespaces declared: the apps' own (presence members need presence and joinLeave; client events need publish).
const NAMESPACES = [
  { name: 'appb', subscribe: 'authenticated', publish: true, presence: true, joinLeave: true },
  { name: 'appc', subscribe: 'authenticated', publish: true, presence: true, joinLeave: true },
];

let srv: TestServer;
const clients: PusherClient[] = [];
before(async () => {
  srv = await startServer([...PUSHER_FLAGS, '--channel.subscribe', 'anonymous', '--pusher.apps', JSON.stringify(APPS), '--namespaces', JSON.stringify(NAMESPACES)]);
});
after(async () => {
  for (const c of clients) c.disconnect();
  await srv.close();
});

function client(o: ClientOptions = {}): PusherClient {
  const c = pusherClient(srv.port, o);
  clients.push(c);
  return c;
}

describe('two Pusher apps on one server', () => {
  it('the same channel name is another channel in each app, both ways with the pusher library', async () => {
    const a = client();
    const b = client({ app: B });
    await Promise.all([connected(a), connected(b)]);
    await subscribed(a, 'news');
    await subscribed(b, 'news');
    const aGot = collect(a, 'news', 'headline');
    const bGot = collect(b, 'news', 'headline');
    await pusherServer(srv.port).trigger('news', 'headline', { from: 'default' });
    await pusherServer(srv.port, undefined, B).trigger('news', 'headline', { from: 'b' });
    await waitFor(() => aGot.length >= 1 && bGot.length >= 1, { timeout: 3000, interval: 20 });
    await sleep(100);
    assert.deepEqual(aGot, [{ from: 'default' }]);
    assert.deepEqual(bGot, [{ from: 'b' }]);
  });

  it('a native client reaches an app\'s channel deliberately through its namespace, and back', async () => {
    const a = client();
    const b = client({ app: B });
    await Promise.all([connected(a), connected(b)]);
    await subscribed(a, 'feed');
    await subscribed(b, 'feed');
    const aGot = collect(a, 'feed', 'tick');
    const bGot = nextEvent(b, 'feed', 'tick');
    await srv.publish('appb:feed', { n: 1 }, 'tick');
    assert.deepEqual(await bGot, { n: 1 });
    const { client: ws } = await connectReady(`${srv.wsUrl}?user=native1`);
    srv.track(ws);
    await ws.call('subscribe', { channel: 'appb:feed' });
    await pusherServer(srv.port, undefined, B).trigger('feed', 'tock', { n: 2 });
    const push = await ws.nextPush((m) => m.push === 'publication' && m.type === 'tock');
    assert.equal(push.channel, 'appb:feed');
    assert.deepEqual(push.payload, { n: 2 });
    await sleep(100);
    assert.deepEqual(aGot, []);
  });

  it('each app\'s auth endpoint signs its own private and presence channels; another app\'s signature is refused', async () => {
    const b = client({ app: B, user: 'bea' });
    await connected(b);
    assert.deepEqual(await subscribed(b, 'private-room'), {});
    // Connected with B's key, signed by the default app's auth endpoint (its key and secret): refused.
    const crossSigned = client({ app: B, signWith: APP });
    await connected(crossSigned);
    await assert.rejects(subscribed(crossSigned, 'private-room'), (e: { data: { status: number } }) => e.data.status === 401);
    // B's key with a wrong secret: refused.
    const wrong = client({ app: B, secret: 'not-b-secret' });
    await connected(wrong);
    await assert.rejects(subscribed(wrong, 'private-room'), (e: { data: { status: number } }) => e.data.status === 401);
    // The default app's key with B's signature (B's key in `auth`): refused.
    const other = client({ signWith: B });
    await connected(other);
    await assert.rejects(subscribed(other, 'private-room'), (e: { data: { status: number } }) => e.data.status === 401);
    // Presence members are per app: the default app's presence-room has its own members.
    const a = client({ user: 'ann' });
    await connected(a);
    const aPresence = await subscribed(a, 'presence-room');
    const bPresence = await subscribed(b, 'presence-room');
    assert.deepEqual(Object.keys(aPresence.members), ['ann']);
    assert.deepEqual(Object.keys(bPresence.members), ['bea']);
    // Client events stay in the app: B's whisper reaches B's other subscriber, not the default app's.
    const b2 = client({ app: B, user: 'bob' });
    await connected(b2);
    await subscribed(b2, 'private-room');
    await subscribed(a, 'private-room');
    const aWhispers = collect(a, 'private-room', 'client-typing');
    const got = nextEvent(b2, 'private-room', 'client-typing');
    b.channel('private-room').trigger('client-typing', { who: 'bea' });
    assert.deepEqual(await got, { who: 'bea' });
    await sleep(100);
    assert.deepEqual(aWhispers, []);
  });

  it('client events follow the app\'s own clientEvents', async () => {
    const c = client({ app: C });
    await connected(c);
    await subscribed(c, 'private-x');
    const err = new Promise<any>((resolve) => c.connection.bind('error', resolve));
    c.channel('private-x').trigger('client-x', {});
    assert.match((await withTimeout(err, 3000, 'pusher:error')).data.message, /turned off for this app/);
  });

  it('signed-in users are per app: sendToUser and terminate_connections reach only that app\'s user', async () => {
    const signedIn = async (o: ClientOptions) => {
      const p = client(o);
      await connected(p);
      p.signin();
      await waitFor(() => p.user.serverToUserChannel?.subscribed, { timeout: 5000, interval: 20 });
      return p;
    };
    const a = await signedIn({ user: 'carol' });
    const b = await signedIn({ app: B, user: 'carol' });
    const aNotes = new Array<unknown>();
    a.user.bind('note', (d: unknown) => aNotes.push(d));
    const bNote = new Promise((resolve) => b.user.bind('note', resolve));
    await pusherServer(srv.port, undefined, B).sendToUser('carol', 'note', { to: 'b' });
    assert.deepEqual(await withTimeout(bNote, 3000, 'user event'), { to: 'b' });
    // B's user carol is the native user appb:carol.
    assert.equal((await srv.api('POST', '/api/send', { user: 'appb:carol', event: 'note', data: { native: true } })).status, 200);
    const gone = new Promise<void>((resolve) => b.connection.bind('state_change', (s: { current: string }) => s.current !== 'connected' && resolve()));
    await pusherServer(srv.port, undefined, B).terminateUserConnections('carol');
    await withTimeout(gone, 3000, 'terminated');
    await sleep(150);
    assert.equal(a.connection.state, 'connected');
    assert.deepEqual(aNotes, []);
  });

  it('an unknown key gets pusher:error 4001 and close 4001; pusher-js does not reconnect', async () => {
    const raw = await connectWs(`ws://127.0.0.1:${srv.port}/app/no-such-key?protocol=7`);
    const error = await raw.next((m) => m.event === 'pusher:error');
    assert.equal(error.data.code, 4001);
    assert.equal((await raw.waitClosed()).code, 4001);
    const p = client({ app: { appId: '1', key: 'no-such-key', secret: 'x' } });
    const states: string[] = [];
    p.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    const err = new Promise<any>((resolve) => p.connection.bind('error', resolve));
    // pusher-js reports an error read during its handshake inside a WebSocketError.
    assert.equal((await withTimeout(err, 5000, 'pusher-js error')).error.data.code, 4001);
    await sleep(1500);
    // It went from connecting (in the constructor) to disconnected, and did not try again.
    assert.deepEqual(states, ['disconnected']);
    // An unsupported protocol version of a known key: 4007.
    const old = await connectWs(`ws://127.0.0.1:${srv.port}/app/${B.key}?protocol=3`);
    assert.equal((await old.next((m) => m.event === 'pusher:error')).data.code, 4007);
    assert.equal((await old.waitClosed()).code, 4007);
  });
});

describe('the HTTP API of two apps', () => {
  it('routes by app id: an unknown id is 404, another app\'s secret is 401, channel lists are the app\'s own', async () => {
    const a = client();
    const b = client({ app: B });
    await Promise.all([connected(a), connected(b)]);
    await subscribed(a, 'list-a');
    await subscribed(b, 'list-b');
    await subscribed(b, 'presence-list');
    await assert.rejects(pusherServer(srv.port, undefined, { appId: '999', key: B.key, secret: B.secret }).trigger('x', 'e', {}), (e: { status: number }) => e.status === 404);
    // The id of B, signed with the default app's key and secret.
    await assert.rejects(pusherServer(srv.port, undefined, { ...APP, appId: B.appId }).trigger('x', 'e', {}), (e: { status: number }) => e.status === 401);
    // The id of B, B's key, a wrong secret.
    await assert.rejects(pusherServer(srv.port, 'not-b-secret', B).trigger('x', 'e', {}), (e: { status: number }) => e.status === 401);
    // A name Pusher would refuse cannot reach into a namespace (the default app naming B's channel natively; the
    // pusher library itself refuses to send it, so a request signed here).
    const body = JSON.stringify({ name: 'e', data: '{}', channels: ['appb:list-b'] });
    const q = `auth_key=${APP.key}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=1.0&body_md5=${createHash('md5').update(body).digest('hex')}`;
    const sig = createHmac('sha256', APP.secret).update(`POST\n/apps/${APP.appId}/events\n${q}`).digest('hex');
    const refused = await srv.api('POST', `/apps/${APP.appId}/events?${q}&auth_signature=${sig}`, body);
    assert.equal(refused.status, 400);
    assert.equal((refused.body as { error: { code: string } }).error.code, 'invalid_channel');
    const bList = await (await pusherServer(srv.port, undefined, B).get({ path: '/channels' })).json();
    // B's channels of the earlier tests are open too; none of the default app's, all by their Pusher names.
    const bNames = Object.keys(bList.channels);
    assert.ok(bNames.includes('list-b') && bNames.includes('presence-list'), bNames.join());
    assert.ok(!bNames.includes('list-a') && bNames.every((n) => !n.includes(':')), bNames.join());
    const aList = await (await pusherServer(srv.port).get({ path: '/channels', params: { filter_by_prefix: 'list-' } })).json();
    assert.deepEqual(aList, { channels: { 'list-a': {} } });
    const info = await (await pusherServer(srv.port, undefined, B).get({ path: '/channels/list-b', params: { info: 'subscription_count' } })).json();
    assert.deepEqual(info, { occupied: true, subscription_count: 1 });
    assert.deepEqual(await (await pusherServer(srv.port).get({ path: '/channels/list-b' })).json(), { occupied: false });
    const users = await (await pusherServer(srv.port, undefined, B).get({ path: '/channels/presence-list/users' })).json();
    assert.deepEqual(users, { users: [{ id: 'anon' }] });
  });
});
