/**
 * The demo page's HTTP side, without a browser: what `/` and `/demo/*` serve (types, caching, security headers, no
 * directory traversal), `demo.enabled: false`, the producer's `data_update` stream, and `POST /demo/notify` (only
 * with the producer, same-origin JSON only, validated, delivered to that user only).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createClient, type DirectMessage } from '../../src/client/index.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { DemoPage } from '../../src/demo/page.js';
import { ensureDemoBuilt } from '../helpers/browser.js';
import { captureLogs } from '../helpers/log-capture.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path sent byte for byte (fetch would normalise `..` and `%2e%2e` before sending). */
function raw(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

describe('demo page: static files', () => {
  let srv: TestServer;
  let html: string;
  before(async () => {
    await ensureDemoBuilt();
    srv = await startServer();
  });
  after(() => srv.close());

  it('GET / serves the page with a strict CSP, nosniff and no-cache; it loads nothing from another origin', async () => {
    const r = await raw(srv.port, '/?user=alice');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['content-security-policy'], CSP);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    html = r.body.toString('utf8');
    assert.match(html, /<script type="module" src="\/demo\/app-[A-Z0-9]{8}\.js"><\/script>/);
    assert.match(html, /<link rel="stylesheet" href="\/demo\/styles-[A-Z0-9]{8}\.css">/);
    // Every src/href is a path on this server: no CDN, no web fonts from elsewhere.
    for (const [, url] of html.matchAll(/(?:src|href)="([^"]*)"/g)) assert.match(url!, /^\//, `${url} is not a local path`);
  });

  it('serves the hashed assets with their content type, an immutable cache, gzip, ETag/304 and HEAD', async () => {
    const js = /src="(\/demo\/app-[A-Z0-9]{8}\.js)"/.exec(html)![1]!;
    const css = /href="(\/demo\/styles-[A-Z0-9]{8}\.css)"/.exec(html)![1]!;
    const a = await raw(srv.port, js, { headers: { 'accept-encoding': 'gzip, deflate' } });
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(a.headers['content-encoding'], 'gzip');
    assert.equal(a.headers['x-content-type-options'], 'nosniff');
    const code = gunzipSync(a.body).toString('utf8');
    assert.ok(!/https?:\/\/(?!localhost)[a-z0-9.-]+\.[a-z]{2,}\//i.test(code.replace(/https?:\/\/(www\.)?w3\.org[^"'`]*/g, '')), 'the bundle names no remote URL');
    const plain = await raw(srv.port, js);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString('utf8'), code);
    const again = await raw(srv.port, js, { headers: { 'if-none-match': String(a.headers.etag) } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const head = await raw(srv.port, css, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(head.body.length, 0);
    const icon = await raw(srv.port, '/demo/favicon.svg');
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    assert.equal(icon.headers['cache-control'], 'no-cache');
  });

  it('never serves a file outside the build directory (traversal attempts get 404, never file contents)', async () => {
    const attempts = [
      '/demo/../package.json',
      '/demo/..%2fpackage.json',
      '/demo/%2e%2e/package.json',
      '/demo/%2e%2e%2f%2e%2e%2fpackage.json',
      '/demo/..%5c..%5cpackage.json',
      '/demo/..\\..\\package.json',
      '/demo//etc/passwd',
      '/demo/%2fetc%2fpasswd',
      '/demo/....//....//package.json',
      '/demo/index.html%00.js',
      '/demo/../../../../etc/passwd',
      '/demo/../src/server.ts',
      '/demo/',
      '/demo/.',
      '/..%2f..%2fpackage.json',
      '//etc/passwd',
    ];
    for (const path of attempts) {
      const r = await raw(srv.port, path);
      assert.equal(r.status, 404, `${path} → ${r.status}`);
      const text = r.body.toString('utf8');
      assert.ok(!text.includes('"devDependencies"') && !text.includes('root:x:0:0') && !text.includes('createSwitchboard'), `${path} leaked a file`);
    }
  });

  it('answers other methods with 405, and /demo/config.json describes this server', async () => {
    const post = await raw(srv.port, '/', { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const c = await raw(srv.port, '/demo/config.json');
    assert.equal(c.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(c.body.toString('utf8')), {
      auth: 'development', websocket: '/ws', sse: '/events',
      stream: { channel: 'demo.stream', producer: false, intervalMs: 1000 }, notify: false, version: JSON.parse(c.body.toString('utf8')).version,
    });
    // No producer: no notify endpoint.
    const n = await raw(srv.port, '/demo/notify', { method: 'POST', headers: { 'content-type': 'application/json', origin: srv.url }, body: '{}' });
    assert.equal(n.status, 405);
  });
});

describe('demo page: turned off, or not built', () => {
  it('demo.enabled false: / answers the JSON index and /demo/* is not found', async () => {
    await ensureDemoBuilt();
    const srv = await startServer(['--demo.enabled', 'false']);
    try {
      const r = await srv.api('GET', '/');
      assert.equal(r.status, 200);
      assert.equal(r.body.name, 'switchboard');
      assert.equal(r.body.websocket, '/ws');
      assert.equal((await srv.api('GET', '/demo/config.json')).status, 404);
    } finally {
      await srv.close();
    }
  });

  it('without a build, the page stays out of the way and says how to build it', () => {
    const logs = captureLogs('warn');
    const page = new DemoPage(loadConfig({}), { insecure: true, version: '0', logger: logs.logger as never, sendToUser: async () => {}, dir: '/nonexistent/dist/web' });
    assert.equal(page.built, false);
    assert.equal(page.handle({ method: 'GET' } as never, {} as never, '/'), false);
    assert.match(logs.lines[0]!.msg, /npm run build/);
  });

  it('refuses a producer interval under 100ms, naming the option', () => {
    assert.throws(() => loadConfig({ argv: ['--demo.producer', '--demo.producerInterval', '50ms'] }), (err: unknown) => err instanceof ConfigError && /demo\.producerInterval/.test(err.message));
  });
});

describe('demo producer and POST /demo/notify', () => {
  let srv: TestServer;
  before(async () => {
    await ensureDemoBuilt();
    srv = await startServer(['--demo.producer', '--demo.producerInterval', '100ms']);
  });
  after(() => srv.close());

  it('publishes seed-002 data_update events to demo.stream', async () => {
    const h = await waitFor(async () => {
      const r = await srv.api('GET', '/api/history?channel=demo.stream&limit=10');
      return r.body.publications?.length >= 3 ? r.body : undefined;
    }, { timeout: 20_000, interval: 100, label: '3 data_update publications' });
    const pubs = h.publications as { type: string; payload: Record<string, number> }[];
    for (const p of pubs) {
      assert.equal(p.type, 'data_update');
      assert.deepEqual(Object.keys(p.payload).sort(), ['cpu', 'humidity', 'seq', 'temperature', 'timestamp']);
      assert.ok(p.payload.temperature! >= 15 && p.payload.temperature! <= 35);
    }
    assert.ok(pubs[1]!.payload.seq! > pubs[0]!.payload.seq!);
  });

  it('validates the request: same origin, JSON, a known shape', async () => {
    const body = JSON.stringify({ user: 'bob', title: 'Hi' });
    const json = { 'content-type': 'application/json' };
    const cases: [Record<string, string>, string, number, string][] = [
      [json, body, 403, 'forbidden_origin'],
      [{ ...json, origin: 'https://evil.example' }, body, 403, 'forbidden_origin'],
      [{ 'content-type': 'text/plain', origin: srv.url }, body, 415, 'bad_request'],
      [{ ...json, origin: srv.url }, '{not json', 400, 'bad_request'],
      [{ ...json, origin: srv.url }, JSON.stringify({ user: 'bob' }), 400, 'bad_request'],
      [{ ...json, origin: srv.url }, JSON.stringify({ user: 'bob', title: 'x', extra: 1 }), 400, 'bad_request'],
      [{ ...json, origin: srv.url }, JSON.stringify({ user: 'bob', title: 'x', link: 'javascript:alert(1)' }), 400, 'bad_request'],
      [{ ...json, origin: srv.url }, JSON.stringify({ user: 'bob', title: 'x'.repeat(5000) }), 413, 'message_too_large'],
    ];
    for (const [headers, b, status, code] of cases) {
      const r = await raw(srv.port, '/demo/notify', { method: 'POST', headers, body: b });
      assert.equal(r.status, status, `${JSON.stringify(headers)} ${b.slice(0, 60)}: ${r.body}`);
      assert.equal(JSON.parse(r.body.toString('utf8')).error.code, code);
    }
  });

  it('sends the notification to that user only', async () => {
    const got: Record<string, DirectMessage[]> = { bob: [], carol: [] };
    for (const user of ['bob', 'carol']) {
      const c = createClient({ url: srv.wsUrl, params: { user } });
      srv.track({ close: () => c.disconnect() });
      c.on('message', (m) => got[user]!.push(m));
      c.connect();
      await c.ready();
    }
    const note = { user: 'bob', title: 'Deploy finished', body: 'v1.2 is live', priority: 'high', from: 'alice' };
    const r = await raw(srv.port, '/demo/notify', { method: 'POST', headers: { 'content-type': 'application/json', origin: srv.url }, body: JSON.stringify(note) });
    assert.equal(r.status, 200, r.body.toString());
    await waitFor(() => got.bob!.length === 1, { timeout: 5000, label: 'bob notified' });
    assert.equal(got.bob![0]!.event, 'notification');
    assert.deepEqual(got.bob![0]!.data, { title: 'Deploy finished', body: 'v1.2 is live', priority: 'high', from: 'alice' });
    // A later one to carol arrives, and she never got bob's.
    await raw(srv.port, '/demo/notify', { method: 'POST', headers: { 'content-type': 'application/json', origin: srv.url }, body: JSON.stringify({ user: 'carol', title: 'Yours' }) });
    await waitFor(() => got.carol!.length === 1, { timeout: 5000, label: 'carol notified' });
    assert.equal((got.carol![0]!.data as { title: string }).title, 'Yours');
    assert.equal(got.bob!.length, 1);
  });
});
