/**
 * JWT authentication end to end, against a real server with `jwt.secret`: WebSocket upgrades and SSE streams with
 * a token in each place it may travel, refusals as HTTP 401 with a JSON body, `auth_failed` log lines that never
 * carry the token, token refresh, the expiry disconnect (4005), the `channels` claim and subscription tokens for
 * `token` namespaces.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { httpGet, openEventSource, rawSse } from '../helpers/sse-client.js';
import { mintHs256 as mintRaw, nowSec, type Claims } from '../helpers/tokens.js';
import { Cleanup, sleep, waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady, connectWs } from '../helpers/ws-client.js';
import { captureLogs } from '../helpers/log-capture.js';

const SECRET = 'test-secret-e2e-0123456789abcdef0123456789';
const API_KEY = 'k';

/** Every token minted here, so the last test can check that no log line carries one. */
const minted: string[] = [];
async function mintHs256(secret: string, claims: Claims): Promise<string> {
  const t = await mintRaw(secret, claims);
  minted.push(t);
  return t;
}

/** An upgrade request read as plain HTTP, to see the status and JSON body of a refused upgrade. */
function rawUpgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = httpRequest(url.replace(/^ws:/, 'http:'), {
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
        agent: false,
      });
      req.on('upgrade', (_res, socket) => {
        socket.destroy();
        reject(new Error('the upgrade was accepted'));
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end();
    }),
    3000,
    `upgrade ${url}`,
  );
}

describe('JWT authentication end to end', () => {
  const { lines, raw, logger } = captureLogs('info');
  const cleanup = new Cleanup();
  let sb: Switchboard;
  let base: string;
  let wsUrl: string;

  before(async () => {
    sb = createSwitchboard({
      config: {
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
        apiKey: API_KEY,
        jwt: { secret: SECRET, clockTolerance: '0s' },
        namespaces: [{ name: 'vip', subscribe: 'token', publish: true }, { name: 'news', subscribe: 'authenticated' }],
        limits: { connectRate: 0 },
        shutdown: { timeout: '1s' },
      },
      env: {},
      logger,
    });
    const { port } = await sb.listen();
    base = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}/ws`;
  });
  after(async () => {
    await cleanup.run();
    await sb.shutdown();
  });

  const publish = async (channel: string, data: unknown) => {
    const res = await fetch(`${base}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify({ channel, data }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return res.json();
  };
  const token = (sub: string, claims: Record<string, unknown> = {}) => mintHs256(SECRET, { sub, ...claims });
  const expired = (sub: string) => mintHs256(SECRET, { sub, iat: nowSec() - 120, exp: nowSec() - 60 });

  describe('WebSocket', () => {
    it('a valid token in Authorization: Bearer connects as its sub; connected carries the expiry', async () => {
      const exp = nowSec() + 600;
      const t = await token('alice', { exp });
      const { client, connected } = await connectReady(wsUrl, 3000, { headers: { authorization: `Bearer ${t}` } });
      cleanup.add(client);
      assert.equal(connected.user, 'alice');
      assert.equal(connected.expires, exp);
    });

    it('a valid token in ?token= connects too', async () => {
      const { client, connected } = await connectReady(`${wsUrl}?token=${await token('bob')}`);
      cleanup.add(client);
      assert.equal(connected.user, 'bob');
    });

    it('?user= is ignored: the identity comes from the token only', async () => {
      const { client, connected } = await connectReady(`${wsUrl}?user=admin&token=${await token('carol')}`);
      cleanup.add(client);
      assert.equal(connected.user, 'carol');
    });

    it('no token: the upgrade is refused with HTTP 401 and a JSON error body', async () => {
      const r = await rawUpgrade(wsUrl);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'unauthorized');
      assert.match(r.body.error.message, /a connection token is required \(Authorization: Bearer, \?token= or the switchboard_token cookie\)/);
      await assert.rejects(connectWs(wsUrl), /upgrade refused: HTTP 401/);
      await assert.rejects(connectWs(`${wsUrl}?user=alice`), /upgrade refused: HTTP 401/);
    });

    it('an expired token: 401 token_expired', async () => {
      const r = await rawUpgrade(`${wsUrl}?token=${await expired('alice')}`);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'token_expired');
      assert.match(r.body.error.message, /expired/);
    });

    it('a token with a bad signature: 401 unauthorized saying why, without the token', async () => {
      const t = await mintHs256('not-the-server-secret-0123456789', { sub: 'mallory' });
      const r = await rawUpgrade(wsUrl, { authorization: `Bearer ${t}` });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'unauthorized');
      assert.match(r.body.error.message, /bad signature/);
      assert.ok(!JSON.stringify(r.body).includes(t.split('.')[2]!));
    });
  });

  describe('SSE', () => {
    it('a valid token in ?token=: the stream opens as the sub', async () => {
      const es = cleanup.add(openEventSource(`${base}/events?channel=news&token=${await token('dave')}`));
      const connected = await es.nextJson('connected');
      assert.equal(connected.user, 'dave');
    });

    it('a valid token in the cookie (among other cookies): the stream opens as the sub', async () => {
      const t = await token('erin');
      const es = cleanup.add(openEventSource(`${base}/events?channel=news`, { headers: { cookie: `theme=dark; switchboard_token=${t}; lang=en` } }));
      const connected = await es.nextJson('connected');
      assert.equal(connected.user, 'erin');
      await publish('news', { n: 1 });
      assert.deepEqual((await es.nextJson('message')).payload, { n: 1 });
    });

    it('no token: 401 with a JSON body, and EventSource stops retrying', async () => {
      const r = await httpGet(`${base}/events?channel=news`);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'unauthorized');
      const es = cleanup.add(openEventSource(`${base}/events?channel=news`));
      await waitFor(() => es.es.readyState === es.es.CLOSED, { label: 'EventSource closed' });
      await sleep(300); // the point: no retry within this window
      assert.equal(es.attempts.length, 1, 'no retry after 401');
      assert.equal(es.opens, 0);
    });

    it('an expired token: 401 token_expired', async () => {
      const r = await httpGet(`${base}/events?channel=news&token=${await expired('frank')}`);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'token_expired');
    });
  });

  describe('logs', () => {
    it('a refused connection logs auth_failed with the reason, never the token', async () => {
      const t = await mintHs256('wrong-secret-for-the-log-test-0123', { sub: 'logged' });
      await rawUpgrade(`${wsUrl}?token=${t}`);
      const r = await httpGet(`${base}/events?channel=news&token=${t}`);
      assert.equal(r.status, 401);
      const ws = await waitFor(() => lines.find((l) => l.event === 'auth_failed' && l.transport === 'websocket' && /bad signature/.test(l.reason)), { label: 'ws auth_failed' });
      const sse = await waitFor(() => lines.find((l) => l.event === 'auth_failed' && l.transport === 'sse' && /bad signature/.test(l.reason)), { label: 'sse auth_failed' });
      for (const l of [ws, sse]) {
        assert.equal(l.code, 'unauthorized');
        assert.equal(l.client_ip, '127.0.0.1');
      }
      const [head, body, sig] = t.split('.') as [string, string, string];
      for (const text of raw) {
        assert.ok(!text.includes(sig) && !text.includes(body) && !text.includes(head), `a log line carries the token: ${text}`);
      }
    });
  });

  describe('refresh', () => {
    it('a fresh token for the same user extends the connection; another user or an expired token is refused', async () => {
      const { client } = await connectReady(`${wsUrl}?token=${await token('gina', { exp: nowSec() + 60 })}`);
      cleanup.add(client);
      const exp = nowSec() + 3600;
      assert.deepEqual(await client.call('refresh', { token: await token('gina', { exp }) }), { expires: exp });

      const other = await client.request('refresh', { token: await token('henry') });
      assert.equal(other.error?.code, 'permission_denied');
      const old = await client.request('refresh', { token: await expired('gina') });
      assert.equal(old.error?.code, 'token_expired');
      const forged = await mintHs256('another-secret-0123456789abcdef', { sub: 'gina' });
      const bad = await client.request('refresh', { token: forged });
      assert.equal(bad.error?.code, 'unauthorized');
      assert.ok(!bad.error!.message.includes(forged.split('.')[2]!));
      assert.equal(client.isClosed, false);
    });

    it('the token expiring closes the WebSocket with 4005 "token expired"; a refresh in time keeps it open', async () => {
      const exp = nowSec() + 2;
      const { client: lapsing } = await connectReady(`${wsUrl}?token=${await token('ivan', { exp })}`);
      const { client: refreshed } = await connectReady(`${wsUrl}?token=${await token('ivan', { exp })}`);
      cleanup.add(lapsing);
      cleanup.add(refreshed);
      await refreshed.call('refresh', { token: await token('ivan', { exp: nowSec() + 3600 }) });
      const closed = await lapsing.waitClosed(6000);
      assert.deepEqual(closed, { code: 4005, reason: 'token expired' });
      assert.ok(Date.now() >= exp * 1000, 'not closed before exp');
      await sleep(1200); // the point: still open after the next expiry check (once a second) past the old exp
      assert.equal(refreshed.isClosed, false);
      assert.deepEqual(await refreshed.call('ping'), {});
    });

    it('an SSE stream ends with a disconnect event 4005 when its token expires', async () => {
      const stream = cleanup.add(await rawSse(`${base}/events?channel=news&token=${await token('judy', { exp: nowSec() + 2 })}`));
      assert.equal(stream.status, 200);
      const d = await stream.waitEvent((e) => e.event === 'disconnect', 6000);
      assert.deepEqual(JSON.parse(d.data!), { code: 4005, reason: 'token expired', reconnect: true });
      await stream.waitEnded();
    });
  });

  describe('channels claim and token namespaces', () => {
    it('the channels claim subscribes the connection automatically (subscribed pushes), including token-namespace channels', async () => {
      const { client, connected } = await connectReady(`${wsUrl}?token=${await token('kate', { channels: ['news', 'vip:gold'] })}`);
      cleanup.add(client);
      assert.equal(connected.user, 'kate');
      const subs = [await client.nextPush((m) => m.push === 'subscribed'), await client.nextPush((m) => m.push === 'subscribed')];
      assert.deepEqual(subs.map((s) => s.channel).sort(), ['news', 'vip:gold']);
      // Each ends its (empty) catch-up with caught_up at the position it announced.
      for (const s of subs) {
        const cu = await client.nextPush((m) => m.push === 'caught_up' && m.channel === s.channel);
        assert.deepEqual([cu.epoch, cu.offset], [s.epoch, s.offset]);
      }
      await publish('vip:gold', { hello: 'gold' });
      const pub = await client.nextPush((m) => m.push === 'publication' && m.channel === 'vip:gold');
      assert.deepEqual(pub.payload, { hello: 'gold' });
    });

    it('a token namespace refuses a subscribe without a subscription token, and accepts one for this user and channel', async () => {
      const { client } = await connectReady(`${wsUrl}?token=${await token('leo')}`);
      cleanup.add(client);
      const none = await client.request('subscribe', { channel: 'vip:lounge' });
      assert.equal(none.error?.code, 'permission_denied');
      const otherUser = await client.request('subscribe', { channel: 'vip:lounge', token: await token('mia', { channel: 'vip:lounge' }) });
      assert.equal(otherUser.error?.code, 'permission_denied');
      const otherChannel = await client.request('subscribe', { channel: 'vip:lounge', token: await token('leo', { channel: 'vip:other' }) });
      assert.equal(otherChannel.error?.code, 'permission_denied');
      const expiredSub = await client.request('subscribe', { channel: 'vip:lounge', token: await mintHs256(SECRET, { sub: 'leo', channel: 'vip:lounge', iat: nowSec() - 100, exp: nowSec() - 50 }) });
      assert.equal(expiredSub.error?.code, 'permission_denied');
      const forged = await client.request('subscribe', { channel: 'vip:lounge', token: await mintHs256('forged-secret-0123456789abcdef', { sub: 'leo', channel: 'vip:lounge' }) });
      assert.equal(forged.error?.code, 'permission_denied');

      await client.call('subscribe', { channel: 'vip:lounge', token: await token('leo', { channel: 'vip:lounge' }) });
      await publish('vip:lounge', { x: 1 });
      const pub = await client.nextPush((m) => m.push === 'publication' && m.channel === 'vip:lounge');
      assert.deepEqual(pub.payload, { x: 1 });
    });

    it('a subscription token cannot open a connection', async () => {
      const r = await rawUpgrade(`${wsUrl}?token=${await token('leo', { channel: 'vip:lounge' })}`);
      assert.equal(r.status, 401);
      assert.match(r.body.error.message, /subscription token/);
    });

    it('SSE: a token-namespace channel opens with the channels claim, and is refused without it', async () => {
      const ok = cleanup.add(openEventSource(`${base}/events?channel=vip:gold&token=${await token('nina', { channels: ['vip:gold'] })}`));
      assert.equal((await ok.nextJson('connected')).user, 'nina');
      const refused = cleanup.add(await rawSse(`${base}/events?channel=vip:gold&token=${await token('oscar')}`));
      const e = await refused.waitEvent((ev) => ev.event === 'stream_error');
      assert.equal(JSON.parse(e.data!).code, 'permission_denied');
    });
  });

  describe('anonymous connections (client.allowAnonymous)', () => {
    let anon: Switchboard;
    let anonWs: string;
    before(async () => {
      anon = createSwitchboard({
        config: { port: 0, host: '127.0.0.1', logLevel: 'silent', apiKey: API_KEY, jwt: { secret: SECRET }, client: { allowAnonymous: true, anonymousUserPrefix: 'guest-' }, limits: { connectRate: 0 }, shutdown: { timeout: '1s' } },
        env: {},
      });
      anonWs = `ws://127.0.0.1:${(await anon.listen()).port}/ws`;
    });
    after(() => anon.shutdown());

    it('no token connects as an anonymous user; a bad token is still refused; a good one is a user', async () => {
      const { client, connected } = await connectReady(anonWs);
      cleanup.add(client);
      assert.match(connected.user, /^guest-[0-9a-f]{12}$/);
      assert.equal(connected.expires, undefined);
      const denied = await client.request('subscribe', { channel: 'news' });
      assert.equal(denied.error?.code, 'permission_denied', 'the default namespace needs an authenticated user');
      const bad = await rawUpgrade(`${anonWs}?token=${await mintHs256('not-the-secret-0123456789abcdef', { sub: 'x' })}`);
      assert.equal(bad.status, 401);
      const { client: user, connected: c2 } = await connectReady(`${anonWs}?token=${await token('pat')}`);
      cleanup.add(user);
      assert.equal(c2.user, 'pat');
      await user.call('subscribe', { channel: 'news' });
    });
  });

  it('over the whole run, no log line carries a token', () => {
    assert.ok(raw.length > 0 && minted.length > 20);
    for (const t of minted) {
      const sig = t.split('.')[2]!;
      for (const text of raw) assert.ok(!text.includes(sig), `a log line carries a token: ${text}`);
    }
  });
});
