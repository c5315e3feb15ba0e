/**
 * Backend proxies (issue #16, docs/proxy.md) against real HTTP backends on loopback: the connect proxy (allow-listed
 * headers and cookies, the `data` payload, auto-subscribed channels, refusals), the subscribe, publish and rpc
 * proxies chosen per namespace, publish data replacement, the rpc round trip through the SDK, a seed 002
 * `send_to_room` through the publish proxy, cached answers, and backends that are slow, down or answer garbage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient, ServerError } from '../../src/client/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { startTracedServer } from '../helpers/traced-server.js';
import { downUrl, startBackend, type BackendCall, type TestBackend } from '../helpers/proxy-backend.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady, seedOutcome, type WsClient } from '../helpers/ws-client.js';

const SECRET = 'proxy-shared-secret';
const TIMEOUT_MS = 400;

/** The application: cookie sessions, a ticket in the connect payload, and rules per channel and method. */
function app(call: BackendCall): unknown {
  const b = call.body;
  switch (call.path) {
    case '/connect': {
      if (b.cookies.session === 'alice-session') {
        return { result: { user: 'alice', info: { name: 'Alice' }, channels: ['news:welcome'], expires: Math.floor(Date.now() / 1000) + 3600 } };
      }
      if (b.data?.ticket === 'carol-ticket') return { result: { user: 'carol' } };
      if (b.data?.ticket === 'dave-2s') return { result: { user: 'dave', expires: Math.floor(Date.now() / 1000) + 2 } };
      return { error: { code: 'unauthorized', message: 'no session' } };
    }
    case '/subscribe':
      if (b.channel.endsWith(':secret')) return { error: { code: 'permission_denied', message: `${b.user} may not read ${b.channel}` } };
      return b.channel.includes('cached') ? { result: {}, cache_ttl: 60 } : { result: {} };
    case '/publish':
      if (b.data?.text === 'forbidden') return { error: { message: 'that word is not allowed' } };
      return { result: { data: { ...b.data, checked_by: 'backend', user: b.user } } };
    case '/rpc':
      if (b.method === 'deny') return { error: { code: 'permission_denied', message: 'no rpc for you' } };
      return { result: { data: { method: b.method, echo: b.data, user: b.user } } };
  }
  return { error: {} };
}

interface Server {
  sb: Switchboard;
  wsUrl: string;
}

const servers: Switchboard[] = [];
const clients: WsClient[] = [];
const backends: TestBackend[] = [];

async function start(proxy: Record<string, unknown>, namespaces: unknown[] = []): Promise<Server> {
  const sb = createSwitchboard({
    env: {},
    config: { port: 0, host: '127.0.0.1', logLevel: 'silent', apiKey: 'k', limits: { connectRate: 0 }, jwt: { clockTolerance: 0 }, proxy: { secret: SECRET, timeout: TIMEOUT_MS, ...proxy }, namespaces },
  });
  servers.push(sb);
  const { port } = await sb.listen();
  return { sb, wsUrl: `ws://127.0.0.1:${port}/ws` };
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<{ client: WsClient; connected: Record<string, any> }> {
  const r = await connectReady(url, 3000, { headers });
  clients.push(r.client);
  return r;
}

/** The status and JSON body of a refused WebSocket upgrade. */
function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; ms: number }> {
  const started = Date.now();
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => reject(new Error('upgrade was accepted')));
      ws.once('error', () => {});
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), ms: Date.now() - started }));
      });
    }),
    5000,
    'refused upgrade',
  );
}

const alice = { cookie: 'session=alice-session; other=do-not-forward', 'user-agent': 'proxy-test', 'x-app': 'v1', 'x-private': 'no' };

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const s of servers) await s.shutdown();
  for (const b of backends) await b.close();
});

describe('backend proxies', () => {
  let main: TestBackend;
  let other: TestBackend;
  let slow: TestBackend;
  let garbage: TestBackend;
  let down: string;
  let srv: Server;

  before(async () => {
    main = await startBackend(app);
    other = await startBackend(() => ({ result: {} }));
    slow = await startBackend(() => ({ hang: true }));
    garbage = await startBackend(() => ({ raw: '<html>oops</html>' }));
    down = await downUrl();
    backends.push(main, other, slow, garbage);
    srv = await start(
      {
        connect: { url: `${main.url}/connect`, cookies: ['session'], headers: ['user-agent', 'x-app'] },
        subscribe: { url: `${main.url}/subscribe` },
        publish: { url: `${main.url}/publish` },
        rpc: { url: `${main.url}/rpc` },
      },
      [
        { name: 'news' },
        { name: 'chat', publish: true },
        { name: 'other', proxy: { subscribe: `${other.url}/subscribe` } },
        { name: 'open', proxy: { subscribe: '' } },
        { name: 'slow', publish: true, proxy: { subscribe: `${slow.url}/subscribe`, publish: `${slow.url}/publish`, rpc: `${slow.url}/rpc` } },
        { name: 'down', proxy: { subscribe: `${down}/subscribe`, rpc: `${down}/rpc` } },
        { name: 'garbage', proxy: { subscribe: `${garbage.url}/subscribe`, rpc: `${garbage.url}/rpc` } },
      ],
    );
  });

  it('connect: allow-listed headers and cookies reach the backend with the secret; its user, info and channels hold', async () => {
    const { client, connected } = await connect(srv.wsUrl, alice);
    assert.equal(connected.user, 'alice');
    assert.ok(connected.expires > Date.now() / 1000, 'the backend\'s expiry is the connection\'s');
    const sub = await client.nextPush((m) => m.push === 'subscribed');
    assert.equal(sub.channel, 'news:welcome', 'channels of the connect answer are subscribed at once');
    const call = main.callsTo('/connect').at(-1)!;
    assert.deepEqual(call.body.cookies, { session: 'alice-session' }, 'only allow-listed cookies');
    assert.deepEqual(call.body.headers, { 'user-agent': 'proxy-test', 'x-app': 'v1' }, 'only allow-listed headers');
    assert.equal(call.body.transport, 'websocket');
    assert.equal(call.body.ip, '127.0.0.1');
    assert.equal(call.headers['x-switchboard-proxy-secret'], SECRET);
    // Presence is added just after the `subscribed` push: wait for it.
    const members = await waitFor(async () => (await client.call('presence', { channel: 'news:welcome' })).members[0], { label: 'presence' });
    assert.deepEqual(members.info, { name: 'Alice' });
  });

  it('connect: a refusal is the upgrade\'s answer, with the backend\'s code', async () => {
    const r = await refusal(srv.wsUrl, { cookie: 'session=stolen' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body.error, { code: 'unauthorized', message: 'no session' });
  });

  it('subscribe: the backend allows or refuses; each namespace asks its own proxy', async () => {
    const { client } = await connect(srv.wsUrl, alice);
    await client.call('subscribe', { channel: 'news:sports' });
    const refused = await client.request('subscribe', { channel: 'news:secret' });
    assert.deepEqual(refused.error, { code: 'permission_denied', message: 'alice may not read news:secret' });
    const mainBefore = main.callsTo('/subscribe').length;
    await client.call('subscribe', { channel: 'other:x' });
    assert.equal(other.calls.length, 1, 'namespace "other" asks its own backend');
    assert.equal(other.calls[0]!.body.channel, 'other:x');
    assert.equal(other.calls[0]!.body.user, 'alice');
    await client.call('subscribe', { channel: 'open:x' });
    assert.equal(main.callsTo('/subscribe').length, mainBefore, 'neither "other" nor "open" (proxy off) asked the default backend');
    const asked = main.callsTo('/subscribe').map((c) => c.body.channel);
    assert.ok(asked.includes('news:sports') && !asked.includes('news:welcome'), 'a channel granted at connect is not asked about');
  });

  it('subscribe: an answer is reused only when the backend says so (cache_ttl)', async () => {
    const { client } = await connect(srv.wsUrl, alice);
    const count = (ch: string) => main.callsTo('/subscribe').filter((c) => c.body.channel === ch).length;
    for (let i = 0; i < 3; i++) {
      await client.call('subscribe', { channel: 'news:cached' });
      await client.call('unsubscribe', { channel: 'news:cached' });
      await client.call('subscribe', { channel: 'news:plain' });
      await client.call('unsubscribe', { channel: 'news:plain' });
    }
    assert.equal(count('news:cached'), 1, 'cache_ttl: asked once');
    assert.equal(count('news:plain'), 3, 'no cache_ttl: asked every time');
  });

  it('publish: the backend may replace the data, or refuse with its message', async () => {
    const { client } = await connect(srv.wsUrl, alice);
    await client.call('subscribe', { channel: 'chat:lobby' });
    await client.call('publish', { channel: 'chat:lobby', data: { text: 'hello' } });
    const pub = await client.nextPush((m) => m.push === 'publication' && m.channel === 'chat:lobby');
    assert.deepEqual(pub.payload, { text: 'hello', checked_by: 'backend', user: 'alice' });
    const refused = await client.request('publish', { channel: 'chat:lobby', data: { text: 'forbidden' } });
    assert.deepEqual(refused.error, { code: 'permission_denied', message: 'that word is not allowed' });
    const kept = await srv.sb.history('chat:lobby');
    assert.deepEqual(kept.map((p) => JSON.parse(p.data).text), ['hello'], 'the refused publication never reached history');
  });

  it('a seed 002 send_to_room goes through the publish proxy too', async () => {
    const { client } = await connect(srv.wsUrl, alice);
    assert.equal(await seedOutcome(client, { type: 'send_to_room', payload: { room_id: 'chat:legacy', text: 'forbidden' } }), 'permission_denied');
    assert.equal(await seedOutcome(client, { type: 'send_to_room', payload: { room_id: 'chat:legacy', text: 'hi' } }), 'ok');
    const kept = (await srv.sb.history('chat:legacy')).map((p) => JSON.parse(p.data));
    assert.deepEqual(kept, [{ room_id: 'chat:legacy', text: 'hi', user_id: 'alice', checked_by: 'backend', user: 'alice' }]);
    const asked = main.callsTo('/publish').filter((c) => c.body.channel === 'chat:legacy');
    assert.deepEqual(asked.map((c) => c.body.event), ['chat_message', 'chat_message']);
  });

  it('rpc: a round trip through the SDK, with the connect payload as the credentials', async () => {
    const c = createClient({ url: srv.wsUrl, params: { data: JSON.stringify({ ticket: 'carol-ticket' }) }, minReconnectDelay: 20 });
    try {
      c.connect();
      await c.ready(3000);
      const reply = await c.rpc<{ method: string; echo: unknown; user: string }>('getStats', { day: 3 });
      assert.deepEqual(reply, { method: 'getStats', echo: { day: 3 }, user: 'carol' });
      // A method in an undeclared namespace is refused before any backend is asked.
      await assert.rejects(c.rpc('nope:x'), (e: unknown) => e instanceof ServerError && e.code === 'unknown_namespace');
      await assert.rejects(c.rpc('deny'), (e: unknown) => e instanceof ServerError && e.code === 'permission_denied' && e.message.includes('no rpc for you'));
    } finally {
      c.disconnect();
    }
  });

  it('an expiry from the backend ends the connection (4005); the SDK without tokens reconnects, and the backend is asked again', async () => {
    const c = createClient({ url: srv.wsUrl, params: { data: JSON.stringify({ ticket: 'dave-2s' }) }, minReconnectDelay: 20, maxReconnectDelay: 100 });
    const codes: number[] = [];
    c.on('disconnected', (d) => codes.push(d.code));
    try {
      const before = main.callsTo('/connect').length;
      c.connect();
      await c.ready(3000);
      await waitFor(() => codes.includes(4005), { timeout: 6000, label: '4005' });
      await c.ready(3000);
      assert.ok(main.callsTo('/connect').length >= before + 2, 'the reconnect asked the backend again');
    } finally {
      c.disconnect();
    }
  });

  for (const [ns, code] of [['slow', 'backend_timeout'], ['down', 'backend_unavailable'], ['garbage', 'backend_invalid']] as const) {
    it(`a backend that is ${ns}: ${code}, answered within the deadline`, async () => {
      const { client } = await connect(srv.wsUrl, alice);
      for (const [method, params] of [['subscribe', { channel: `${ns}:x` }], ['rpc', { method: `${ns}:m`, data: 1 }]] as const) {
        const started = Date.now();
        const r = await client.request(method, params, 5000);
        assert.equal(r.error?.code, code, `${method}: ${JSON.stringify(r)}`);
        assert.ok(Date.now() - started < TIMEOUT_MS + 1500, `${method} answered in ${Date.now() - started} ms`);
      }
      // The connection still works after the failure.
      await client.call('ping');
    });
  }

  for (const [kind, status, code] of [['slow', 504, 'backend_timeout'], ['down', 503, 'backend_unavailable'], ['garbage', 502, 'backend_invalid']] as const) {
    it(`connect to a backend that is ${kind}: HTTP ${status} ${code}`, async () => {
      const base = kind === 'slow' ? slow.url : kind === 'down' ? down : garbage.url;
      const s = await start({ connect: { url: `${base}/connect` } });
      const r = await refusal(s.wsUrl);
      assert.equal(r.status, status);
      assert.equal(r.body.error.code, code);
      assert.ok(r.ms < TIMEOUT_MS + 1500, `refused in ${r.ms} ms`);
    });
  }

  it('counts calls by kind and outcome in switchboard_proxy_calls_total', async () => {
    const port = new URL(srv.wsUrl).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { 'x-api-key': 'k' } })).text();
    assert.match(text, /switchboard_proxy_calls_total\{kind="connect",outcome="ok"\} [1-9]/);
    assert.match(text, /switchboard_proxy_calls_total\{kind="subscribe",outcome="refused"\} [1-9]/);
    assert.match(text, /switchboard_proxy_calls_total\{kind="rpc",outcome="backend_timeout"\} [1-9]/);
  });
});

describe('backend proxies over SSE and with tracing on', () => {
  it('SSE: the connect proxy reads the cookie, the subscribe proxy refuses a channel with stream_error', async () => {
    const main = await startBackend(app);
    backends.push(main);
    const s = await start(
      { connect: { url: `${main.url}/connect`, cookies: ['session'] }, subscribe: { url: `${main.url}/subscribe` } },
      [{ name: 'news' }],
    );
    const base = s.wsUrl.replace('ws://', 'http://').replace('/ws', '/events');
    const read = async (channel: string) => {
      const res = await fetch(`${base}?channel=${channel}`, { headers: { cookie: 'session=alice-session' } });
      const reader = res.body!.getReader();
      let text = '';
      while (!/event: (connected|stream_error)\n.*\n\n/s.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      return text;
    };
    assert.match(await read('news:sports'), /event: connected\ndata: \{[^\n]*"user":"alice"/);
    assert.match(await read('news:secret'), /event: stream_error\ndata: \{"code":"permission_denied","message":"alice may not read news:secret"/);
    assert.equal(main.callsTo('/subscribe').at(-1)!.body.transport, 'sse');
  });

  it('with JWT configured too, a connection with a token is verified as a JWT, one without goes to the backend', async () => {
    const main = await startBackend(app);
    backends.push(main);
    const jwtSecret = 'proxy-and-jwt-secret-0123456789abcdef';
    const sb = createSwitchboard({
      env: {},
      config: { port: 0, host: '127.0.0.1', logLevel: 'silent', apiKey: 'k', limits: { connectRate: 0 }, jwt: { secret: jwtSecret },
        proxy: { connect: { url: `${main.url}/connect`, cookies: ['session'] } } },
    });
    servers.push(sb);
    const ws = `ws://127.0.0.1:${(await sb.listen()).port}/ws`;
    const withToken = await connect(`${ws}?token=${await mintHs256(jwtSecret, { sub: 'erin' })}`);
    assert.equal(withToken.connected.user, 'erin');
    assert.equal(main.callsTo('/connect').length, 0, 'a token needs no backend');
    const withCookie = await connect(ws, { cookie: 'session=alice-session' });
    assert.equal(withCookie.connected.user, 'alice');
    assert.equal(main.callsTo('/connect').length, 1);
    // Token refresh keeps working beside the proxy.
    assert.equal(typeof (await withToken.client.call('refresh', { token: await mintHs256(jwtSecret, { sub: 'erin' }) })).expires, 'number');
  });

  it('the backend gets the handshake\'s and the command\'s trace context (traceparent)', async () => {
    const receiver = await startOtlpReceiver();
    const main = await startBackend(app);
    backends.push(main);
    const s = await startTracedServer(receiver.url, [
      '--proxy.connect.url', `${main.url}/connect`, '--proxy.connect.cookies', 'session', '--proxy.publish.url', `${main.url}/publish`,
    ]);
    try {
      const { client } = await connectReady(s.wsUrl, 3000, { headers: { cookie: 'session=alice-session' } });
      s.track(client);
      const tp = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/;
      assert.match(String(main.callsTo('/connect')[0]!.headers.traceparent), tp, 'connect: the handshake span');
      const traceId = 'a'.repeat(32);
      await client.call('publish', { channel: 'room', data: { text: 'x' }, traceparent: `00-${traceId}-${'b'.repeat(16)}-01` });
      const sent = String(main.callsTo('/publish')[0]!.headers.traceparent);
      assert.equal(tp.exec(sent)?.[1], traceId, `publish: a span of the client's trace, got ${sent}`);
    } finally {
      await s.close();
      await receiver.close();
    }
  });
});
