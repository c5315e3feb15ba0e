/**
 * The real `centrifuge` npm client (5.x, JSON protocol) against Switchboard's `/connection/websocket`: connect with a
 * Switchboard JWT, subscribe, publications made through `POST /api/publish`, client publish, presence, presence
 * stats, history, a newline-batched frame of commands, a connection token refresh, and permission refusals that come from the native checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Centrifuge, type PublicationContext, type Subscription } from 'centrifuge';
import WebSocket from 'ws';
import type { Switchboard } from '../../src/server.js';
import { startBackend, type TestBackend } from '../helpers/proxy-backend.js';
import { startJwtServer } from '../helpers/server.js';
import { mintHs256, nowSec } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'centrifuge-test-secret-of-32-bytes!!';

describe('centrifuge npm client', () => {
  let sb: Switchboard;
  let base: string;
  let endpoint: string;
  const clients: Centrifuge[] = [];

  let backend: TestBackend;

  before(async () => {
    backend = await startBackend((call) => {
      // A connection without a token: the connect proxy names the user and answers the client's connect data.
      if (call.path === '/connect') return { result: { user: 'gina', data: { hello: call.body.data } } };
      if (call.path === '/subscribe') return { result: { data: { granted: call.body.data } } };
      return { result: { data: { user: call.body.user, echo: call.body.data } } };
    });
    const s = await startJwtServer(SECRET, {
      namespaces: [
        { name: 'ro', subscribe: 'authenticated', publish: false },
        { name: 'sec', subscribe: 'token' },
        { name: 'px', proxy: { subscribe: `${backend.url}/subscribe` } },
      ],
      proxy: { rpc: { url: `${backend.url}/rpc` }, connect: { url: `${backend.url}/connect` } },
    });
    sb = s.sb;
    base = s.wsUrl.replace('ws://', 'http://').replace('/ws', '');
    endpoint = s.wsUrl.replace('/ws', '/connection/websocket');
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await sb.shutdown();
    await backend.close();
  });

  const client = (opts: ConstructorParameters<typeof Centrifuge>[1]): Centrifuge => {
    const c = new Centrifuge(endpoint, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 200, ...opts });
    clients.push(c);
    return c;
  };
  const apiPublish = async (channel: string, data: unknown) => {
    const r = await fetch(`${base}/api/publish`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify({ channel, data }) });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as { epoch: string; offset: number };
  };
  const collect = (sub: Subscription) => {
    const got: PublicationContext[] = [];
    sub.on('publication', (ctx) => got.push(ctx));
    return got;
  };

  it('connects with a token, subscribes, receives API publications, publishes through the native checks', async () => {
    const c = client({ token: await mintHs256(SECRET, { sub: 'alice' }) });
    const connected = new Promise<{ client: string }>((resolve) => c.once('connected', resolve));
    c.connect();
    assert.ok((await connected).client);
    const sub = c.newSubscription('news');
    const got = collect(sub);
    sub.subscribe();
    await sub.ready(5000);
    const pos = await apiPublish('news', { n: 1 });
    await c.publish('news', { n: 2 });
    await waitFor(() => got.length === 2, { label: 'two publications' });
    assert.deepEqual(got.map((p) => p.data), [{ n: 1 }, { n: 2 }]);
    assert.equal(got[0]!.offset, pos.offset);
    // `ro:` allows no client publish: the native publish check answers, in Centrifuge's error shape (103).
    await assert.rejects(c.publish('ro:x', { n: 3 }), (e: { code: number }) => e.code === 103);
    // A `token` namespace without a subscription token, and an undeclared namespace: the native subscribe checks.
    const denied = c.newSubscription('sec:y');
    const refused = new Promise<{ code: number }>((resolve) => denied.once('unsubscribed', resolve));
    denied.subscribe();
    // A permanent subscribe error ends the subscription on the client with that code.
    assert.equal((await refused).code, 103);
    await assert.rejects(c.history('nope:x', { limit: 1 }), (e: { code: number }) => e.code === 102);
  });

  it('unsubscribes: no publication after it, and out of presence', async () => {
    const c = client({ token: await mintHs256(SECRET, { sub: 'ivan' }) });
    c.connect();
    const sub = c.newSubscription('leaving');
    const got = collect(sub);
    sub.subscribe();
    await sub.ready(5000);
    await apiPublish('leaving', 1);
    await waitFor(() => got.length === 1, { label: 'first publication' });
    sub.unsubscribe();
    await waitFor(async () => Object.keys((await c.presence('leaving')).clients).length === 0, { label: 'out of presence' });
    await apiPublish('leaving', 2);
    // A second subscription on the same connection proves the server sent nothing more for the first.
    const probe = c.newSubscription('leaving-probe');
    const probeGot = collect(probe);
    probe.subscribe();
    await probe.ready(5000);
    await apiPublish('leaving-probe', 'p');
    await waitFor(() => probeGot.length === 1, { label: 'probe publication' });
    assert.deepEqual(got.map((p) => p.data), [1]);
  });

  it('turns the token\'s channels into server-side subscriptions, recovered on reconnect', async () => {
    // `sec:` needs a grant: the claim is one. `nope:` is undeclared: left out of `subs`, the connection goes on.
    const c = client({ token: await mintHs256(SECRET, { sub: 'frank', channels: ['sec:feed', 'nope:x'] }) });
    const subscribed: { channel: string; wasRecovering: boolean; recovered: boolean }[] = [];
    const got: unknown[] = [];
    c.on('subscribed', (ctx) => subscribed.push(ctx));
    c.on('publication', (ctx) => got.push([ctx.channel, ctx.data]));
    c.connect();
    await c.ready(5000);
    await waitFor(() => subscribed.length === 1, { label: 'server-side subscribed' });
    assert.equal(subscribed[0]!.channel, 'sec:feed');
    await apiPublish('sec:feed', 1);
    await waitFor(() => got.length === 1, { label: 'server-side publication' });

    // Missed while disconnected: the reconnect sends the position, the reply recovers, the two follow.
    const down = new Promise((resolve) => c.once('disconnected', resolve));
    c.disconnect();
    await down;
    await apiPublish('sec:feed', 2);
    await apiPublish('sec:feed', 3);
    c.connect();
    await waitFor(() => subscribed.length === 2, { label: 'server-side resubscribed' });
    assert.equal(subscribed[1]!.wasRecovering, true);
    assert.equal(subscribed[1]!.recovered, true);
    await apiPublish('sec:feed', 4);
    await waitFor(() => got.length >= 4, { label: 'recovered and live' });
    assert.deepEqual(got, [['sec:feed', 1], ['sec:feed', 2], ['sec:feed', 3], ['sec:feed', 4]]);
  });

  it('passes connect and subscribe data to the proxies and returns their data', async () => {
    const c = client({ data: { ticket: 't1' } });
    const connected = new Promise<{ data?: unknown }>((resolve) => c.once('connected', resolve));
    c.connect();
    assert.deepEqual((await connected).data, { hello: { ticket: 't1' } });
    assert.deepEqual(backend.callsTo('/connect').at(-1)!.body.data, { ticket: 't1' });
    const presenceOf = async (ch: string) => Object.values((await c.presence(ch)).clients).map((m) => m.user);

    const sub = c.newSubscription('px:room', { data: { want: 'seat' } });
    const ready = new Promise<{ data?: unknown }>((resolve) => sub.once('subscribed', resolve));
    sub.subscribe();
    assert.deepEqual((await ready).data, { granted: { want: 'seat' } });
    assert.equal(backend.callsTo('/subscribe').at(-1)!.body.data.want, 'seat');
    assert.deepEqual(await presenceOf('px:room'), ['gina']);

    // Without a subscribe proxy, subscribe data is accepted and ignored.
    const plain = c.newSubscription('plain', { data: { ignored: true } });
    const plainReady = new Promise<{ data?: unknown }>((resolve) => plain.once('subscribed', resolve));
    plain.subscribe();
    assert.equal((await plainReady).data, undefined);
  });

  it('answers presence, presence stats and history', async () => {
    const c = client({ token: await mintHs256(SECRET, { sub: 'bob' }) });
    c.connect();
    const sub = c.newSubscription('room');
    const other = c.newSubscription('room2');
    const otherGot = collect(other);
    // Both subscribes go in one frame after the connect reply (newline-separated batch).
    sub.subscribe();
    other.subscribe();
    await sub.ready(5000);
    await other.ready(5000);
    await apiPublish('room2', 'z');
    await waitFor(() => otherGot.length === 1, { label: 'batched subscription delivers' });
    await apiPublish('room', 'a');
    await apiPublish('room', 'b');
    const presence = await c.presence('room');
    assert.deepEqual(Object.values(presence.clients).map((m) => m.user), ['bob']);
    const stats = await c.presenceStats('room');
    assert.deepEqual(stats, { numClients: 1, numUsers: 1 });
    const h = await c.history('room', { limit: 10 });
    assert.deepEqual(h.publications.map((p) => p.data), ['a', 'b']);
    assert.equal(h.offset, h.publications[1]!.offset);
    const top = await c.history('room', { limit: 0 });
    assert.deepEqual(top.publications, []);
    assert.equal(top.offset, h.offset);
  });

  it('refreshes an expiring connection token through getToken', async () => {
    let calls = 0;
    const c = client({
      // The first token expires in 2 s: the server's connect reply says so (ttl) and the client refreshes before.
      token: await mintHs256(SECRET, { sub: 'carol', exp: nowSec() + 2 }),
      getToken: async () => {
        calls++;
        return mintHs256(SECRET, { sub: 'carol' });
      },
    });
    const disconnected: unknown[] = [];
    c.on('disconnected', (ctx) => disconnected.push(ctx));
    c.connect();
    await c.ready(5000);
    await waitFor(() => calls >= 1, { timeout: 5000, label: 'token refreshed' });
    await new Promise((r) => setTimeout(r, 2500)); // past the first token's expiry
    assert.equal(c.state, 'connected');
    assert.deepEqual(disconnected, []);
  });

  it('calls the rpc proxy and refreshes a subscription token (sub_refresh)', async () => {
    const c = client({ token: await mintHs256(SECRET, { sub: 'erin' }) });
    c.connect();
    await c.ready(5000);
    const r = await c.rpc('echo', { q: 1 });
    assert.deepEqual(r.data, { user: 'erin', echo: { q: 1 } });

    let subTokens = 0;
    const sub = c.newSubscription('sec:x', {
      // The first subscription token expires in 2 s: the reply's ttl makes the client send sub_refresh before.
      token: await mintHs256(SECRET, { sub: 'erin', channel: 'sec:x', exp: nowSec() + 2 }),
      getToken: async () => {
        subTokens++;
        return mintHs256(SECRET, { sub: 'erin', channel: 'sec:x' });
      },
    });
    const got = collect(sub);
    const unsubscribed: unknown[] = [];
    sub.on('unsubscribed', (ctx) => unsubscribed.push(ctx));
    sub.subscribe();
    await sub.ready(5000);
    await waitFor(() => subTokens >= 1, { timeout: 5000, label: 'subscription token refreshed' });
    await new Promise((r) => setTimeout(r, 2500)); // past the first token's expiry
    await apiPublish('sec:x', 'still here');
    await waitFor(() => got.length === 1, { label: 'publication after sub_refresh' });
    assert.deepEqual(unsubscribed, []);
  });

  it('answers malformed commands in Centrifuge error shape and closes on a bad handshake', async () => {
    const open = async (): Promise<WebSocket> => {
      const ws = new WebSocket(endpoint);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      return ws;
    };
    // Not a connect first: closed with Centrifuge's 3501 (bad request, no reconnect).
    const bad = await open();
    const closed = new Promise<number>((resolve) => bad.once('close', resolve));
    bad.send('{"id":1,"subscribe":{"channel":"x"}}');
    assert.equal(await closed, 3501);

    const ws = await open();
    const replies: Record<string, any>[] = [];
    ws.on('message', (d) => {
      for (const line of d.toString().split('\n')) if (line.trim()) replies.push(JSON.parse(line));
    });
    ws.send(JSON.stringify({ id: 1, connect: { token: await mintHs256(SECRET, { sub: 'mallory' }) } }));
    await waitFor(() => replies.length === 1, { label: 'connect reply' });
    assert.equal(typeof replies[0]!.connect.client, 'string');
    ws.send(['{"id":2,"subscribe":"x"}', '{"id":3,"nope":{}}', '{"id":4,"subscribe":{"channel":7}}', 'not json', '{"id":5,"connect":{}}'].join('\n'));
    await waitFor(() => replies.length === 6, { label: 'five error replies' });
    assert.deepEqual(replies.slice(1).map((r) => [r.id, r.error?.code]), [[2, 107], [3, 104], [4, 107], [undefined, 107], [5, 107]]);
    ws.close();
  });

  it('answers an expired connection token with 109: the client gets a new one through getToken and connects', async () => {
    let calls = 0;
    const c = client({
      token: await mintHs256(SECRET, { sub: 'hank', exp: nowSec() - 60 }),
      getToken: async () => {
        calls++;
        return mintHs256(SECRET, { sub: 'hank' });
      },
    });
    const errors: { error?: { code: number } }[] = [];
    c.on('error', (e) => errors.push(e as unknown as { error?: { code: number } }));
    c.connect();
    await c.ready(5000);
    assert.equal(calls, 1);
    assert.equal(errors[0]?.error?.code, 109);
  });

  it('refuses a bad token without reconnecting (101), like the native endpoint', async () => {
    const c = client({ token: 'not-a-jwt' });
    const errors: { error: { code: number } }[] = [];
    c.on('error', (e) => errors.push(e as unknown as { error: { code: number } }));
    const gone = new Promise<{ code: number }>((resolve) => c.once('disconnected', resolve));
    c.connect();
    assert.equal((await gone).code, 101);
  });
});

describe('centrifuge anonymous connections', () => {
  it('connects without a token when client.allowAnonymous, and refuses it (101) when not', async () => {
    const open = await startJwtServer(SECRET, { client: { allowAnonymous: true }, channel: { subscribe: 'anonymous', publish: true } });
    const closed = await startJwtServer(SECRET);
    const clients: Centrifuge[] = [];
    try {
      const url = (wsUrl: string) => wsUrl.replace('/ws', '/connection/websocket');
      const anon = new Centrifuge(url(open.wsUrl), { websocket: WebSocket });
      clients.push(anon);
      anon.connect();
      await anon.ready(5000);
      const sub = anon.newSubscription('lobby');
      sub.subscribe();
      await sub.ready(5000);
      // Anonymous connections may not publish (the native rule).
      await assert.rejects(anon.publish('lobby', 1), (e: { code: number }) => e.code === 103);

      const refused = new Centrifuge(url(closed.wsUrl), { websocket: WebSocket });
      clients.push(refused);
      const gone = new Promise<{ code: number }>((resolve) => refused.once('disconnected', resolve));
      refused.connect();
      assert.equal((await gone).code, 101);
    } finally {
      for (const c of clients) c.disconnect();
      await open.sb.shutdown();
      await closed.sb.shutdown();
    }
  });
});

describe('compat.centrifuge off', () => {
  it('has no /connection/websocket', async () => {
    const { sb, wsUrl } = await startJwtServer(SECRET, { compat: { centrifuge: false } });
    try {
      const ws = new WebSocket(wsUrl.replace('/ws', '/connection/websocket'));
      const outcome = await new Promise<string>((resolve) => {
        ws.once('open', () => resolve('open'));
        ws.once('error', () => resolve('refused'));
      });
      ws.terminate();
      assert.equal(outcome, 'refused');
    } finally {
      await sb.shutdown();
    }
  });
});
