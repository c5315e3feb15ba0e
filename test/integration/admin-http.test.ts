/**
 * The admin console's access rules over plain HTTP (the browser flows are in test/e2e/admin-browser.test.ts): closed
 * unless enabled, sign-in with the API key or admin.secret, the session cookie's flags (HttpOnly, SameSite=Strict,
 * Secure only behind TLS), the CSRF header on state changes through the server API, the limit on failed sign-ins,
 * and the operator named in the log of every action.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { captureLogs, type LogCapture } from '../helpers/log-capture.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { makeCertificate, startTlsServer, tempDir } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const KEY = 'admin-test-api-key';
const SECRET = 'an-admin-secret-of-at-least-32-bytes!!';
const JWT = 'a-jwt-secret-that-is-at-least-32-bytes-long';

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** `name=value` of the Set-Cookie header. */
function cookiePair(res: Response): string {
  const c = res.headers.get('set-cookie');
  assert.ok(c, 'a Set-Cookie header');
  return c.split(';')[0]!;
}

describe('admin console: closed unless enabled', () => {
  it('is absent with JWT auth and admin.enabled off, present in development mode on loopback', async () => {
    const prod = await startServer(['--jwt.secret', JWT, '--apiKey', KEY]);
    const dev = await startServer([]);
    try {
      for (const path of ['/admin', '/admin/session', '/admin/stream']) assert.equal((await prod.api('GET', path)).status, 404, path);
      assert.equal((await post(prod.url, '/admin/sign-in', { name: 'x', secret: KEY })).status, 404);
      const page = await fetch(`${dev.url}/admin`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.match(await page.text(), /Switchboard · admin/);
      // No credential configured: a loopback caller signs in without a secret.
      const r = await post(dev.url, '/admin/sign-in', { name: 'local-dev' });
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { operator: { via: string } }).operator.via, 'local');
    } finally {
      await prod.close();
      await dev.close();
    }
  });
});

describe('admin console: sign-in, cookie, CSRF, operator log', () => {
  let sb: Switchboard;
  let base: string;
  let logs: LogCapture;
  before(async () => {
    logs = captureLogs('info');
    const config = loadConfig({ argv: ['--port', '0', '--host', '127.0.0.1', '--jwt.secret', JWT, '--apiKey', KEY, '--admin.enabled', '--admin.secret', SECRET,
      '--admin.signInAttempts', '3', '--limits.connectRate', '0', '--shutdown.timeout', '1s', '--proxy.trusted', '127.0.0.1'] });
    sb = createSwitchboard({ config, logger: logs.logger });
    base = `http://127.0.0.1:${(await sb.listen()).port}`;
  });
  after(() => sb.shutdown());

  it('signs in with admin.secret or the API key; the cookie is HttpOnly, SameSite=Strict and not Secure on plain HTTP', async () => {
    for (const [secret, via] of [[SECRET, 'secret'], [KEY, 'apikey']] as const) {
      const r = await post(base, '/admin/sign-in', { name: 'ops alice', secret });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { operator: { via: string }; csrf: string };
      assert.equal(body.operator.via, via);
      assert.ok(body.csrf.length >= 32);
      const cookie = r.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^sb_admin=[A-Za-z0-9_-]{43};/);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Strict/);
      assert.match(cookie, /; Path=\//);
      assert.doesNotMatch(cookie, /Secure/);
      // The session tells the page its CSRF token; without the cookie it is 401.
      const s = await fetch(`${base}/admin/session`, { headers: { cookie: cookiePair(r) } });
      assert.equal(((await s.json()) as { csrf: string }).csrf, body.csrf);
    }
    assert.equal((await fetch(`${base}/admin/session`)).status, 401);
  });

  it('the server API accepts the session for reads, and for state changes only with the CSRF header', async () => {
    const r = await post(base, '/admin/sign-in', { name: 'ops-bob', secret: SECRET });
    const { csrf } = (await r.json()) as { csrf: string };
    const cookie = cookiePair(r);
    assert.equal((await fetch(`${base}/api/stats`)).status, 401);
    assert.equal((await fetch(`${base}/api/stats`, { headers: { cookie } })).status, 200);
    assert.equal((await fetch(`${base}/api/stats`, { headers: { cookie: 'sb_admin=forged' } })).status, 401);
    const pub = { channel: 'news', event: 'note', data: { n: 1 } };
    const noCsrf = await post(base, '/api/publish', pub, { cookie });
    assert.equal(noCsrf.status, 403);
    assert.match(((await noCsrf.json()) as { error: { message: string } }).error.message, /X-CSRF-Token/);
    assert.equal((await post(base, '/api/publish', pub, { cookie, 'x-csrf-token': `${csrf.slice(1)}x` })).status, 403);
    const ok = await post(base, '/api/publish', pub, { cookie, 'x-csrf-token': csrf });
    assert.equal(ok.status, 200);
    // Logged with the operator's identity; a refused one too (with its status).
    await waitFor(() => logs.lines.some((l) => l.msg === 'admin action' && l.status === 200));
    const actions = logs.lines.filter((l) => l.msg === 'admin action' && l.operator === 'ops-bob');
    assert.deepEqual(actions.map((l) => [l.action, l.status, l.channel, l.via]), [
      ['POST /api/publish', 403, undefined, 'secret'],
      ['POST /api/publish', 403, undefined, 'secret'],
      ['POST /api/publish', 200, 'news', 'secret'],
    ]);
    // Sign-out needs the header too, then the cookie is dead.
    assert.equal((await post(base, '/admin/sign-out', {}, { cookie })).status, 403);
    assert.equal((await post(base, '/admin/sign-out', {}, { cookie, 'x-csrf-token': csrf })).status, 200);
    assert.equal((await fetch(`${base}/api/stats`, { headers: { cookie } })).status, 401);
  });

  it('refuses a sign-in that is not JSON (a cross-site form cannot send one)', async () => {
    const r = await fetch(`${base}/admin/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=x&secret=${SECRET}` });
    assert.equal(r.status, 415);
  });

  it('limits failed sign-ins per address: after admin.signInAttempts failures even the right secret gets 429', async () => {
    // A trusted proxy's client address, so this test's failures do not lock out 127.0.0.1 for the others.
    const peer = { 'x-forwarded-for': '192.0.2.7' };
    for (let i = 0; i < 3; i++) assert.equal((await post(base, '/admin/sign-in', { name: 'mallory', secret: 'wrong' }, peer)).status, 401);
    const limited = await post(base, '/admin/sign-in', { name: 'mallory', secret: SECRET }, peer);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.ok(logs.lines.some((l) => l.msg === 'admin sign-in failed' && l.operator === 'mallory'));
    // Another address is not affected.
    assert.equal((await post(base, '/admin/sign-in', { name: 'alice', secret: SECRET })).status, 200);
  });
});

describe('admin console behind TLS', () => {
  it('marks the session cookie Secure', async () => {
    const tmp = tempDir();
    const files = makeCertificate(tmp.dir, 'admin');
    const s = await startTlsServer(files, ['--admin.enabled', '--admin.secret', SECRET, '--apiKey', KEY, '--jwt.secret', JWT]);
    try {
      const cookie = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: s.port, path: '/admin/sign-in', method: 'POST', servername: 'localhost', ca: [files.pem], headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(String(res.headers['set-cookie'] ?? ''));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ name: 'tls-op', secret: SECRET }));
      });
      assert.match(cookie, /; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/);
    } finally {
      await s.sb.shutdown();
      tmp.remove();
    }
  });
});
