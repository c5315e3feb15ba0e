/**
 * The server HTTP API against a real server on a random port: every endpoint with fetch, real WebSocket clients for
 * send/disconnect/presence, error bodies `{"error": {"code", "message"}}` with their stable codes, the API key,
 * CORS, health endpoints and shutdown.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const ROUTES: [string, string][] = [
  ['POST', '/api/publish'],
  ['POST', '/api/broadcast'],
  ['POST', '/api/send'],
  ['POST', '/api/disconnect'],
  ['GET', '/api/presence'],
  ['GET', '/api/history'],
  ['GET', '/api/channels'],
  ['GET', '/api/online'],
  ['GET', '/api/stats'],
];

interface Server {
  sb: Switchboard;
  base: string;
  port: number;
}

async function start(flags: string[] = []): Promise<Server> {
  const sb = createSwitchboard({ config: loadConfig({ argv: ['--port', '0', '--log-level', 'silent', ...flags] }) });
  const { port } = await sb.listen();
  return { sb, port, base: `http://127.0.0.1:${port}` };
}

interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function call(base: string, method: string, path: string, opts: { body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers },
    body,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts an error response: status, `{"error": {"code", "message"}}` and nothing else, JSON content type. */
function assertError(r: Res, status: number, code: string): void {
  assert.equal(r.status, status, `status (body ${r.text})`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(r.json ?? {}), ['error'], r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 0);
}

/** A WebSocket client that keeps every parsed frame and can wait for one. */
class Client {
  readonly frames: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private listeners: (() => void)[] = [];
  private nextId = 1;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      this.frames.push(JSON.parse(d.toString('utf8')));
      for (const l of this.listeners) l();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(port: number, user: string): Promise<Client> {
    const c = new Client(new WebSocket(`ws://127.0.0.1:${port}/ws?user=${encodeURIComponent(user)}`));
    await c.wait((f) => f.push === 'connected');
    return c;
  }

  wait(pred: (f: any) => boolean, ms = 3000): Promise<any> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(this.frames)}`)), ms);
      const l = () => {
        const f = this.frames.find(pred);
        if (!f) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((x) => x !== l);
        resolve(f);
      };
      this.listeners.push(l);
    });
  }

  async call(method: string, params: unknown): Promise<any> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    const reply = await this.wait((f) => f.id === id);
    if (reply.error) throw new Error(`${method}: ${reply.error.code}`);
    return reply.result;
  }

  waitClosed(ms = 3000): Promise<{ code: number; reason: string }> {
    return Promise.race([this.closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('socket did not close')), ms).unref())]);
  }

  close(): void {
    this.ws.terminate();
  }
}

describe('server API', () => {
  let s: Server;
  const clients: Client[] = [];
  const connect = async (user: string) => {
    const c = await Client.connect(s.port, user);
    clients.push(c);
    return c;
  };
  const api = (method: string, path: string, opts?: Parameters<typeof call>[3]) => call(s.base, method, path, opts);
  const publish = async (body: Record<string, unknown>, headers?: Record<string, string>) => {
    const r = await api('POST', '/api/publish', { body, headers });
    assert.equal(r.status, 200, r.text);
    return r.json as { channel: string; epoch: string; offset: number };
  };
  const history = async (query: string) => {
    const r = await api('GET', `/api/history?${query}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };

  before(async () => {
    s = await start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await s.sb.shutdown();
  });

  describe('POST /api/publish', () => {
    it('returns the position; offsets increase by one in the channel', async () => {
      const a = await publish({ channel: 'pub1', data: { n: 1 } });
      assert.deepEqual(Object.keys(a), ['channel', 'epoch', 'offset']);
      assert.equal(a.channel, 'pub1');
      assert.match(a.epoch, /^[a-z0-9]{1,32}$/);
      assert.equal(a.offset, 1);
      const b = await publish({ channel: 'pub1', data: { n: 2 } });
      assert.deepEqual(b, { channel: 'pub1', epoch: a.epoch, offset: 2 });
      // Another channel is another stream.
      const c = await publish({ channel: 'pub1-other', data: 1 });
      assert.equal(c.offset, 1);
    });

    it('event defaults to "message"; a chosen event is kept; data of any JSON type', async () => {
      await publish({ channel: 'pub2', data: 'default' });
      await publish({ channel: 'pub2', data: null, event: 'chat.v2:x' });
      await publish({ channel: 'pub2', data: [1, { a: false }] });
      await publish({ channel: 'pub2', data: 0 });
      const h = await history('channel=pub2');
      assert.deepEqual(
        h.publications.map((p: any) => [p.type, p.payload]),
        [
          ['message', 'default'],
          ['chat.v2:x', null],
          ['message', [1, { a: false }]],
          ['message', 0],
        ],
      );
    });

    it('keeps the traceparent and tracestate headers with the publication', async () => {
      await publish({ channel: 'pub3', data: 1 }, { traceparent: TRACEPARENT, tracestate: 'vendor=abc' });
      const [p] = (await history('channel=pub3')).publications;
      assert.equal(p.traceparent, TRACEPARENT);
      assert.equal(p.tracestate, 'vendor=abc');
      assert.equal(p.trace_id, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(p.span_id, 'b7ad6b7169203331');
    });

    it('ignores a malformed traceparent header; the body field wins over the header', async () => {
      await publish({ channel: 'pub4', data: 1 }, { traceparent: 'garbage' });
      const bodyTp = '00-11111111111111111111111111111111-2222222222222222-01';
      await publish({ channel: 'pub4', data: 2, traceparent: bodyTp }, { traceparent: TRACEPARENT });
      const [p1, p2] = (await history('channel=pub4')).publications;
      assert.equal('traceparent' in p1, false);
      assert.equal(p2.traceparent, bodyTp);
    });

    it('refuses a malformed traceparent body field with bad_request, and stores nothing', async () => {
      const r = await api('POST', '/api/publish', { body: { channel: 'pub5', data: 1, traceparent: '00-"}-x-01' } });
      assert.equal(r.status, 400);
      assert.equal(r.json.error.code, 'bad_request');
      const h = await history('channel=pub5');
      assert.equal(h.publications.length, 0);
    });

    it('delivers to a WebSocket subscriber as a publication push', async () => {
      const c = await connect('sub-pub');
      await c.call('subscribe', { channel: 'pub6' });
      const pos = await publish({ channel: 'pub6', data: { hello: 'ws' }, event: 'greet' }, { traceparent: TRACEPARENT });
      const push = await c.wait((f) => f.push === 'publication' && f.channel === 'pub6');
      assert.equal(push.type, 'greet');
      assert.deepEqual(push.payload, { hello: 'ws' });
      assert.equal(push.epoch, pos.epoch);
      assert.equal(push.offset, pos.offset);
      assert.equal(push.trace_id, '0af7651916cd43dd8448eb211c80319c');
    });

    it('refuses data nested too deeply to serialize with 400, not 500', async () => {
      const depth = 20_000;
      const raw = `{"channel":"pub7","data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const r = await call(s.base, 'POST', '/api/publish', { raw });
      assertError(r, 400, 'bad_request');
    });
  });

  describe('bad requests', () => {
    it('empty body → 400 invalid_json', async () => {
      assertError(await api('POST', '/api/publish', { raw: '' }), 400, 'invalid_json');
      assertError(await api('POST', '/api/publish'), 400, 'invalid_json');
    });

    it('not JSON → 400 invalid_json', async () => {
      assertError(await api('POST', '/api/publish', { raw: 'channel=a&data=1' }), 400, 'invalid_json');
      assertError(await api('POST', '/api/publish', { raw: '{"channel":"a",' }), 400, 'invalid_json');
    });

    it('JSON that is not an object → 400 bad_request', async () => {
      for (const raw of ['[]', '[{"channel":"a","data":1}]', '1', '"x"', 'null', 'true']) {
        assertError(await api('POST', '/api/publish', { raw }), 400, 'bad_request');
      }
    });

    it('missing channel, data missing, unknown field → 400 bad_request', async () => {
      assertError(await api('POST', '/api/publish', { body: { data: 1 } }), 400, 'bad_request');
      assertError(await api('POST', '/api/publish', { body: { channel: 'a' } }), 400, 'bad_request');
      const unknown = await api('POST', '/api/publish', { body: { channel: 'a', data: 1, evnt: 'x' } });
      assertError(unknown, 400, 'bad_request');
      assert.match(unknown.json.error.message, /unknown field.*"evnt"/);
      assertError(await api('POST', '/api/send', { body: { data: 1 } }), 400, 'bad_request');
      assertError(await api('POST', '/api/send', { body: { user: 'u' } }), 400, 'bad_request');
      assertError(await api('POST', '/api/disconnect', { body: {} }), 400, 'bad_request');
      assertError(await api('POST', '/api/disconnect', { body: { user: 'u', code: 1000 } }), 400, 'bad_request');
      assertError(await api('POST', '/api/broadcast', { body: { channels: [], data: 1 } }), 400, 'bad_request');
      assertError(await api('POST', '/api/broadcast', { body: { channels: 'a', data: 1 } }), 400, 'bad_request');
    });

    it('invalid channel name → 400 invalid_channel; invalid event → 400 invalid_event (as on the WebSocket)', async () => {
      for (const channel of ['', 'a b', 'c'.repeat(256), 'ä', 5, null, []]) {
        assertError(await api('POST', '/api/publish', { body: { channel, data: 1 } }), 400, 'invalid_channel');
      }
      assertError(await api('POST', '/api/broadcast', { body: { channels: ['ok', 'not ok'], data: 1 } }), 400, 'invalid_channel');
      for (const event of ['', 'a b', 'e'.repeat(65), 'a/b']) {
        assertError(await api('POST', '/api/publish', { body: { channel: 'a', data: 1, event } }), 400, 'invalid_event');
      }
      assertError(await api('POST', '/api/send', { body: { user: 'u', data: 1, event: 'a b' } }), 400, 'invalid_event');
    });

    it('wrong method → 405 method_not_allowed; unknown path → 404 not_found', async () => {
      for (const [method, path] of ROUTES) {
        const wrong = method === 'GET' ? 'POST' : 'GET';
        assertError(await api(wrong, path, wrong === 'POST' ? { body: {} } : {}), 405, 'method_not_allowed');
      }
      assertError(await api('DELETE', '/api/publish'), 405, 'method_not_allowed');
      assertError(await api('GET', '/api/nope'), 404, 'not_found');
      assertError(await api('POST', '/api/publish/extra', { body: { channel: 'a', data: 1 } }), 404, 'not_found');
      assertError(await api('GET', '/api/'), 404, 'not_found');
      assertError(await api('GET', '/nope'), 404, 'not_found');
    });
  });

  describe('POST /api/broadcast', () => {
    it('publishes to every channel and returns one result per channel, in order', async () => {
      await publish({ channel: 'bc2', data: 0 });
      const r = await api('POST', '/api/broadcast', { body: { channels: ['bc1', 'bc2', 'bc3'], data: { all: true }, event: 'notice' } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(
        r.json.results.map((x: any) => [x.channel, x.offset]),
        [
          ['bc1', 1],
          ['bc2', 2],
          ['bc3', 1],
        ],
      );
      for (const x of r.json.results) assert.match(x.epoch, /^[a-z0-9]+$/);
      const [p] = (await history('channel=bc3')).publications;
      assert.equal(p.type, 'notice');
      assert.deepEqual(p.payload, { all: true });
    });
  });

  describe('POST /api/send', () => {
    it('delivers {"push":"message"} to every connection of the user and to no one else', async () => {
      const a1 = await connect('send-alice');
      const a2 = await connect('send-alice');
      const b = await connect('send-bob');
      const r = await api('POST', '/api/send', { body: { user: 'send-alice', data: { secret: 42 } } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, {});
      for (const c of [a1, a2]) {
        const m = await c.wait((f) => f.push === 'message');
        assert.equal(m.type, 'message');
        assert.deepEqual(m.payload, { secret: 42 });
        assert.ok(!Number.isNaN(Date.parse(m.timestamp)));
        assert.equal('offset' in m, false);
      }
      const e = await api('POST', '/api/send', { body: { user: 'send-alice', data: 'x', event: 'alert' } });
      assert.equal(e.status, 200);
      assert.equal((await a1.wait((f) => f.push === 'message' && f.type === 'alert')).payload, 'x');
      await new Promise((r) => setTimeout(r, 50)); // the point: nothing reaches b within this window
      assert.equal(b.frames.filter((f) => f.push === 'message').length, 0);
    });

    it('to a user without connections: 200 and nothing happens', async () => {
      const r = await api('POST', '/api/send', { body: { user: 'nobody-here', data: 1 } });
      assert.equal(r.status, 200);
    });
  });

  describe('POST /api/disconnect', () => {
    it('closes the user\'s WebSocket with 4502 "disconnected by server"', async () => {
      const c = await connect('disc-carol');
      const other = await connect('disc-dave');
      const r = await api('POST', '/api/disconnect', { body: { user: 'disc-carol' } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(await c.waitClosed(), { code: 4502, reason: 'disconnected by server' });
      assert.equal(other.ws.readyState, WebSocket.OPEN);
    });

    it('takes a custom code (4000-4999) and reason', async () => {
      const c = await connect('disc-erin');
      const r = await api('POST', '/api/disconnect', { body: { user: 'disc-erin', code: 4100, reason: 'come back later' } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(await c.waitClosed(), { code: 4100, reason: 'come back later' });
    });

    it('a reason longer than a close frame holds (123 bytes) is refused with 400, and nobody is left half-closed', async () => {
      const c = await connect('disc-frank');
      const r = await api('POST', '/api/disconnect', { body: { user: 'disc-frank', reason: 'é'.repeat(100) } });
      assertError(r, 400, 'bad_request');
      assert.equal(c.ws.readyState, WebSocket.OPEN);
      const ok = await api('POST', '/api/disconnect', { body: { user: 'disc-frank', reason: 'x'.repeat(100) } });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(await c.waitClosed(), { code: 4502, reason: 'x'.repeat(100) });
    });
  });

  describe('GET endpoints', () => {
    it('presence lists the members of a channel', async () => {
      const c = await connect('pres-gina');
      const sub = await c.call('subscribe', { channel: 'pres1' });
      assert.equal(sub.channel, 'pres1');
      const connected = c.frames.find((f) => f.push === 'connected');
      const r = await api('GET', '/api/presence?channel=pres1');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { channel: 'pres1', members: [{ user: 'pres-gina', client: connected.client }] });
      const empty = await api('GET', '/api/presence?channel=pres-empty');
      assert.deepEqual(empty.json, { channel: 'pres-empty', members: [] });
      assertError(await api('GET', '/api/presence'), 400, 'bad_request');
      assertError(await api('GET', '/api/presence?channel=a%20b'), 400, 'invalid_channel');
    });

    it('history: all, limit, reverse, since', async () => {
      const first = await publish({ channel: 'hist1', data: 1 });
      for (let i = 2; i <= 5; i++) await publish({ channel: 'hist1', data: i });
      const all = await history('channel=hist1');
      assert.deepEqual(Object.keys(all), ['channel', 'epoch', 'offset', 'earliest', 'publications']);
      assert.equal(all.channel, 'hist1');
      assert.equal(all.epoch, first.epoch);
      assert.equal(all.offset, 5);
      assert.equal(all.earliest, 1);
      assert.deepEqual(all.publications.map((p: any) => p.offset), [1, 2, 3, 4, 5]);
      const p = all.publications[0];
      assert.equal(p.push, 'publication');
      assert.equal(p.channel, 'hist1');
      assert.equal(p.payload, 1);
      assert.equal(p.epoch, first.epoch);
      assert.ok(!Number.isNaN(Date.parse(p.timestamp)));

      const offsets = async (q: string) => (await history(`channel=hist1&${q}`)).publications.map((x: any) => x.offset);
      assert.deepEqual(await offsets('limit=2'), [1, 2]);
      assert.deepEqual(await offsets('limit=0'), []);
      assert.deepEqual(await offsets('reverse=true'), [5, 4, 3, 2, 1]);
      assert.deepEqual(await offsets('reverse=true&limit=2'), [5, 4]);
      assert.deepEqual(await offsets('reverse=false&limit=2'), [1, 2]);
      assert.deepEqual(await offsets(`since=${first.epoch}:3`), [4, 5]);
      assert.deepEqual(await offsets(`since=${first.epoch}:1&limit=2`), [2, 3]);
      assert.deepEqual(await offsets(`since=${first.epoch}:1&limit=2&reverse=true`), [5, 4]);
      assert.deepEqual(await offsets(`since=${first.epoch}:5`), []);
      // A position of another epoch: nothing can be said to follow it; the current position is in the reply.
      const foreign = await history('channel=hist1&since=zzzzzzzz:1');
      assert.deepEqual(foreign.publications, []);
      assert.equal(foreign.epoch, first.epoch);
      assert.equal(foreign.offset, 5);
      // A channel nobody used has an epoch and offset 0.
      const fresh = await history('channel=hist-fresh');
      assert.equal(fresh.offset, 0);
      assert.equal(fresh.earliest, 1);
      assert.deepEqual(fresh.publications, []);
    });

    it('history: bad since, bad limit, bad channel', async () => {
      for (const since of ['', 'abc', 'ABC:1', 'abc:-1', 'abc:1.5', 'abc:', ':1', 'a:1,b:2']) {
        assertError(await api('GET', `/api/history?channel=hist1&since=${encodeURIComponent(since)}`), 400, 'bad_request');
      }
      for (const limit of ['-1', '1001', 'abc', '1.5']) {
        assertError(await api('GET', `/api/history?channel=hist1&limit=${limit}`), 400, 'bad_request');
      }
      assertError(await api('GET', '/api/history'), 400, 'bad_request');
      assertError(await api('GET', '/api/history?channel='), 400, 'invalid_channel');
      assertError(await api('GET', '/api/history?channel=a*b'), 400, 'invalid_channel');
    });

    it('channels lists channels with subscribers on this node', async () => {
      const c = await connect('chan-hank');
      await c.call('subscribe', { channel: 'chan1' });
      const c2 = await connect('chan-ida');
      await c2.call('subscribe', { channel: 'chan1' });
      const r = await api('GET', '/api/channels');
      assert.equal(r.status, 200);
      assert.ok(Array.isArray(r.json.channels));
      assert.deepEqual(
        r.json.channels.find((x: any) => x.channel === 'chan1'),
        { channel: 'chan1', subscribers: 2 },
      );
      assert.equal(r.json.channels.find((x: any) => x.channel === 'pub1'), undefined, 'published-to but unsubscribed channels are not listed');
    });

    it('online lists connected users with their connection counts', async () => {
      await connect('online-jo');
      await connect('online-jo');
      const r = await api('GET', '/api/online');
      assert.equal(r.status, 200);
      assert.equal(r.json.count, r.json.users.length);
      assert.deepEqual(r.json.users.find((u: any) => u.user === 'online-jo'), { user: 'online-jo', connections: 2 });
    });

    it('stats', async () => {
      const r = await api('GET', '/api/stats');
      assert.equal(r.status, 200);
      const st = r.json;
      assert.match(st.node, /^[0-9a-f]{16}$/);
      assert.equal(st.state, 'ready');
      assert.equal(st.broker, 'memory');
      for (const k of ['uptimeSeconds', 'connections', 'users', 'channels', 'subscriptions', 'messagesIn', 'publications', 'deliveries', 'drops', 'slowDisconnects', 'writeRounds', 'delayedWriteRounds']) {
        assert.equal(typeof st[k], 'number', k);
      }
      assert.equal(typeof st.connectionsByTransport, 'object');
      assert.ok(st.connections >= 1);
      assert.ok(st.publications >= 1);
    });

    it('openapi.json is OpenAPI 3.1.0 with every route', async () => {
      const r = await api('GET', '/api/openapi.json');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(r.json.openapi, '3.1.0');
      assert.equal(typeof r.json.info.title, 'string');
      for (const [method, path] of ROUTES) {
        assert.ok(r.json.paths[path], `path ${path}`);
        assert.ok(r.json.paths[path][method.toLowerCase()], `${method} ${path}`);
      }
      assert.deepEqual(r.json.security, []);
    });
  });

  describe('health', () => {
    it('/healthz and /readyz answer 200 while running', async () => {
      const h = await api('GET', '/healthz');
      assert.equal(h.status, 200);
      assert.deepEqual(h.json, { status: 'ok' });
      const r = await api('GET', '/readyz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'ready' });
    });
  });
});

describe('server API with --apiKey', () => {
  let s: Server;
  before(async () => {
    s = await start(['--apiKey', 'secret']);
  });
  after(() => s.sb.shutdown());

  it('no key → 401 unauthorized on every route', async () => {
    for (const [method, path] of ROUTES) {
      const r = await call(s.base, method, path, method === 'POST' ? { body: { channel: 'k', data: 1 } } : {});
      assertError(r, 401, 'unauthorized');
    }
  });

  it('Authorization: apikey <key> and X-API-Key: <key> → 200', async () => {
    const good: Record<string, string>[] = [{ authorization: 'apikey secret' }, { authorization: 'ApiKey secret' }, { 'x-api-key': 'secret' }];
    for (const headers of good) {
      const r = await call(s.base, 'POST', '/api/publish', { body: { channel: 'k', data: 1 }, headers });
      assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.text}`);
      assert.equal((await call(s.base, 'GET', '/api/stats', { headers })).status, 200);
    }
  });

  it('a wrong key → 401', async () => {
    const wrong: Record<string, string>[] = [
      { authorization: 'apikey wrong' },
      { authorization: 'apikey secretx' },
      { authorization: 'apikey ' },
      { authorization: 'Bearer wrong' },
      { authorization: 'secret' },
      { 'x-api-key': 'Secret' },
      { 'x-api-key': '' },
    ];
    for (const headers of wrong) {
      assertError(await call(s.base, 'GET', '/api/stats', { headers }), 401, 'unauthorized');
    }
  });

  it('/api/openapi.json, /healthz and /readyz stay public; openapi declares the key', async () => {
    const r = await call(s.base, 'GET', '/api/openapi.json');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.security, [{ apiKey: [] }]);
    assert.equal(r.json.components.securitySchemes.apiKey.name, 'X-API-Key');
    assert.equal((await call(s.base, 'GET', '/healthz')).status, 200);
    assert.equal((await call(s.base, 'GET', '/readyz')).status, 200);
  });

  it('an unknown path is 404 and a wrong method 405 even without a key', async () => {
    assertError(await call(s.base, 'GET', '/api/nope'), 404, 'not_found');
    assertError(await call(s.base, 'GET', '/api/publish'), 405, 'method_not_allowed');
  });
});

describe('server API limits and CORS', () => {
  let s: Server;
  before(async () => {
    s = await start(['--api.maxBodySize', '1000', '--cors.origins', 'http://a.test']);
  });
  after(() => s.sb.shutdown());

  it('a body over api.maxBodySize → 413 message_too_large (declared length)', async () => {
    const r = await call(s.base, 'POST', '/api/publish', { body: { channel: 'big', data: 'x'.repeat(1000) } });
    assertError(r, 413, 'message_too_large');
    const ok = await call(s.base, 'POST', '/api/publish', { body: { channel: 'big', data: 'x'.repeat(900) } });
    assert.equal(ok.status, 200, ok.text);
  });

  it('a chunked body over api.maxBodySize → 413 message_too_large', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${s.base}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('{"channel":"big","data":"');
      req.write('y'.repeat(1500));
      req.end('"}');
    });
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).error.code, 'message_too_large');
  });

  it('OPTIONS preflight from an allowed origin → 204 with CORS headers', async () => {
    const r = await call(s.base, 'OPTIONS', '/api/publish', {
      headers: { origin: 'http://a.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-api-key' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://a.test');
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /content-type/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /x-api-key/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.equal(r.headers.get('access-control-max-age'), '600');
    assert.match(r.headers.get('vary') ?? '', /Origin/);
  });

  it('a preflight from another origin gets no allow-origin; responses echo an allowed origin only', async () => {
    const other = await call(s.base, 'OPTIONS', '/api/publish', { headers: { origin: 'http://b.test', 'access-control-request-method': 'POST' } });
    assert.equal(other.status, 204);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const get = await call(s.base, 'GET', '/api/stats', { headers: { origin: 'http://a.test' } });
    assert.equal(get.headers.get('access-control-allow-origin'), 'http://a.test');
    assert.equal(get.headers.get('access-control-expose-headers'), 'traceparent');
    const err = await call(s.base, 'GET', '/api/nope', { headers: { origin: 'http://a.test' } });
    assert.equal(err.status, 404);
    assert.equal(err.headers.get('access-control-allow-origin'), 'http://a.test', 'errors carry CORS headers too');
    const none = await call(s.base, 'GET', '/api/stats', { headers: { origin: 'http://b.test' } });
    assert.equal(none.headers.get('access-control-allow-origin'), null);
  });
});

describe('health during shutdown', () => {
  it('/readyz is 200, then 503 (or the connection is refused) once shutdown begins; WebSockets close with 1001', async () => {
    const s = await start(['--shutdown.timeout', '2s']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = httpRequest(`${s.base}${path}`, { agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      assert.deepEqual(await get('/readyz'), { status: 200, body: { status: 'ready' } });
      // A WebSocket keeps the drain waiting a moment (until its close handshake ends).
      const ws = await Client.connect(s.port, 'shutdown-kim');
      const stopping = s.sb.shutdown();
      let after: { status: number; body: any } | undefined;
      try {
        after = await get('/readyz');
      } catch (err) {
        assert.match(String((err as NodeJS.ErrnoException).code), /ECONNREFUSED|ECONNRESET|EPIPE/);
      }
      if (after) {
        assert.equal(after.status, 503);
        assert.match(after.body.status, /^(draining|stopped)$/);
      }
      assert.deepEqual(await ws.waitClosed(), { code: 1001, reason: 'shutdown' });
      await stopping;
      await assert.rejects(fetch(`${s.base}/healthz`, { signal: AbortSignal.timeout(2000) }));
    } finally {
      agent.destroy();
      await s.sb.shutdown();
    }
  });
});

describe('history.maxChannels (memory broker)', () => {
  it('a new channel evicts an idle one; refused with limit_exceeded only while every channel is subscribed', async () => {
    const { startServer } = await import('../helpers/server.js');
    const { connectReady } = await import('../helpers/ws-client.js');
    const srv = await startServer(['--history.maxChannels', '2']);
    try {
      const { client } = await connectReady(`${srv.wsUrl}?user=u`);
      srv.track(client);
      await client.call('subscribe', { channel: 'one' });
      await client.call('subscribe', { channel: 'two' });
      const refused = await srv.api('POST', '/api/publish', { channel: 'three', data: 3 });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.code, 'limit_exceeded');
      assert.match(refused.body.error.message, /history\.maxChannels/);
      await assert.rejects(client.call('subscribe', { channel: 'four' }), /limit_exceeded/);
      assert.equal((await srv.api('POST', '/api/publish', { channel: 'one', data: 4 })).status, 200, 'known channels go on');
      await client.call('unsubscribe', { channel: 'two' });
      assert.equal((await srv.api('POST', '/api/publish', { channel: 'three', data: 3 })).status, 200, '"two" is idle now: evicted for room');
      assert.equal((await srv.api('GET', '/api/history?channel=two')).body.epoch, 'none');
    } finally {
      await srv.close();
    }
  });
});
