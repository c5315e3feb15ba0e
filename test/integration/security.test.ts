/**
 * Safe defaults and connection admission: the refusal to listen beyond loopback without auth, the WebSocket Origin
 * check, per-IP/per-user/per-node connection limits, the connect rate, and the API's loopback rule.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { isLoopbackAddress, isLoopbackHost } from '../../src/core/loopback.js';
import { ConfigError } from '../../src/config/index.js';
import { nodeOf, createSwitchboard, type Switchboard } from '../../src/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'security-test-secret-0123456789abcdef';

async function start(config: Record<string, unknown>): Promise<{ sb: Switchboard; port: number }> {
  const sb = createSwitchboard({ env: {}, config: { port: 0, host: '127.0.0.1', logLevel: 'silent', shutdown: { timeout: '1s' }, ...config } });
  const { port } = await sb.listen();
  return { sb, port };
}

/** Opens a WebSocket; resolves with the HTTP status of a refusal, or 101 and the open socket. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body?: any; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    ws.once('error', () => {});
  });
}

function sseStatus(url: string): Promise<{ status: number; body: any; res: http.IncomingMessage }> {
  return new Promise((resolve) => {
    http.get(url, (res) => {
      if (res.statusCode === 200) return resolve({ status: 200, body: undefined, res });
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), res }));
    });
  });
}

describe('safe defaults', () => {
  it('refuses to listen beyond loopback without JWT auth and an API key, naming what is missing', async () => {
    for (const [config, missing] of [
      [{}, /JWT authentication.*and an API key/],
      [{ jwt: { secret: SECRET } }, /an API key/],
      [{ apiKey: 'k' }, /JWT authentication/],
    ] as const) {
      const sb = createSwitchboard({ env: {}, config: { port: 0, host: '0.0.0.0', logLevel: 'silent', ...config } });
      await assert.rejects(() => sb.listen(), (err: Error) => err instanceof ConfigError && missing.test(err.message) && /--insecure/.test(err.message));
      await sb.shutdown();
    }
  });

  it('--insecure lets a development server listen beyond loopback', async () => {
    const sb = createSwitchboard({ env: {}, config: { port: 0, host: '0.0.0.0', logLevel: 'silent', insecure: true } });
    const { port } = await sb.listen();
    assert.ok(port > 0);
    await sb.shutdown();
  });

  it('treats 127.0.0.0/8, ::1 and IPv4-mapped loopback as loopback, and nothing else', () => {
    for (const a of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(a), true, a);
    for (const a of ['10.0.0.1', '192.168.1.1', '::ffff:10.0.0.1', '2001:db8::1', '127.evil.example', 'localhost', '', undefined]) {
      assert.equal(isLoopbackAddress(a), false, String(a));
    }
  });

  it('treats localhost and loopback addresses (bracketed IPv6 too) as loopback hosts, and no look-alike name', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['127.evil.example', 'localhost.evil.example', '0.0.0.0', '[::2]', '10.0.0.1', '', undefined]) assert.equal(isLoopbackHost(h), false, String(h));
  });
});

describe('WebSocket Origin check (with auth on)', () => {
  it('allows no Origin, the same origin and listed origins; refuses others with 403 forbidden_origin', async () => {
    const { sb, port } = await start({ jwt: { secret: SECRET }, apiKey: 'k', websocket: { allowedOrigins: ['https://app.example'] } });
    try {
      const token = await mintHs256(SECRET, { sub: 'alice' });
      const url = `ws://127.0.0.1:${port}/ws?token=${token}`;
      for (const origin of [undefined, `http://127.0.0.1:${port}`, 'https://app.example']) {
        const r = await upgrade(url, origin ? { origin } : {});
        assert.equal(r.status, 101, String(origin));
        r.ws!.close();
      }
      // The own origin and listed ones match by scheme too: https:// is not this plain-HTTP server's origin, and an
      // https-only entry does not admit its http:// twin.
      for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:1', `https://127.0.0.1:${port}`, 'http://app.example']) {
        const r = await upgrade(url, { origin });
        assert.equal(r.status, 403, origin);
        assert.equal(r.body.error.code, 'forbidden_origin');
      }
    } finally {
      await sb.shutdown();
    }
  });

  it('behind a trusted proxy, X-Forwarded-Proto gives the scheme of the own origin; from others it is ignored', async () => {
    const { sb, port } = await start({ jwt: { secret: SECRET }, apiKey: 'k', proxy: { trusted: ['127.0.0.1'] } });
    try {
      const url = `ws://127.0.0.1:${port}/ws?token=${await mintHs256(SECRET, { sub: 'alice' })}`;
      const viaTls = await upgrade(url, { origin: `https://127.0.0.1:${port}`, 'x-forwarded-proto': 'https' });
      assert.equal(viaTls.status, 101);
      viaTls.ws!.close();
      assert.equal((await upgrade(url, { origin: `http://127.0.0.1:${port}`, 'x-forwarded-proto': 'https' })).status, 403);
    } finally {
      await sb.shutdown();
    }
    const untrusted = await start({ jwt: { secret: SECRET }, apiKey: 'k', proxy: { trusted: [] } });
    try {
      const url = `ws://127.0.0.1:${untrusted.port}/ws?token=${await mintHs256(SECRET, { sub: 'alice' })}`;
      assert.equal((await upgrade(url, { origin: `https://127.0.0.1:${untrusted.port}`, 'x-forwarded-proto': 'https' })).status, 403);
    } finally {
      await untrusted.sb.shutdown();
    }
  });

  it('development mode allows any origin', async () => {
    const { sb, port } = await start({});
    try {
      const r = await upgrade(`ws://127.0.0.1:${port}/ws`, { origin: 'https://anything.example' });
      assert.equal(r.status, 101);
      r.ws!.close();
    } finally {
      await sb.shutdown();
    }
  });
});

describe('connection admission limits', () => {
  it('per IP: the third connection is refused with 429 limit_exceeded, and admitted again after one closes', async () => {
    const { sb, port } = await start({ limits: { connectionsPerIp: 2, connectRate: 0 } });
    try {
      const a = await upgrade(`ws://127.0.0.1:${port}/ws`);
      const b = await sseStatus(`http://127.0.0.1:${port}/events?channel=x`);
      assert.equal(a.status, 101);
      assert.equal(b.status, 200);
      const c = await upgrade(`ws://127.0.0.1:${port}/ws`);
      assert.equal(c.status, 429);
      assert.equal(c.body.error.code, 'limit_exceeded');
      assert.match(c.body.error.message, /limits\.connectionsPerIp/);
      const d = await sseStatus(`http://127.0.0.1:${port}/events?channel=x`);
      assert.equal(d.status, 429);
      a.ws!.close();
      // The slot is given back when the server's socket closes, before the session leaves the hub.
      await waitFor(() => (nodeOf(sb).hub.stats().connectionsByTransport.websocket ?? 0) === 0, { label: 'the server to close the first WebSocket' });
      const e = await upgrade(`ws://127.0.0.1:${port}/ws`);
      assert.equal(e.status, 101);
      e.ws!.close();
      b.res.destroy();
    } finally {
      await sb.shutdown();
    }
  });

  it('per user, per node and SSE streams per IP', async () => {
    const { sb, port } = await start({ limits: { connectionsPerUser: 1, sseStreamsPerIp: 1, connectRate: 0 } });
    try {
      const a = await upgrade(`ws://127.0.0.1:${port}/ws?user=u1`);
      assert.equal(a.status, 101);
      const b = await upgrade(`ws://127.0.0.1:${port}/ws?user=u1`);
      assert.equal(b.status, 429);
      assert.match(b.body.error.message, /connectionsPerUser/);
      const s1 = await sseStatus(`http://127.0.0.1:${port}/events?channel=x&user=u2`);
      assert.equal(s1.status, 200);
      const s2 = await sseStatus(`http://127.0.0.1:${port}/events?channel=x&user=u3`);
      assert.equal(s2.status, 429);
      assert.match(s2.body.error.message, /sseStreamsPerIp/);
      a.ws!.close();
      s1.res.destroy();
    } finally {
      await sb.shutdown();
    }
    const node = await start({ limits: { connections: 1, connectRate: 0 } });
    try {
      const a = await upgrade(`ws://127.0.0.1:${node.port}/ws`);
      const b = await upgrade(`ws://127.0.0.1:${node.port}/ws`);
      assert.equal(b.status, 503);
      assert.match(b.body.error.message, /limits\.connections\b/);
      a.ws!.close();
    } finally {
      await node.sb.shutdown();
    }
  });

  it('connect rate per IP: a burst of twice the rate, then 429; counted in switchboard_limits_hit_total', async () => {
    const { sb, port } = await start({ limits: { connectRate: 2 } });
    try {
      const statuses: number[] = [];
      const open: WebSocket[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await upgrade(`ws://127.0.0.1:${port}/ws`);
        statuses.push(r.status);
        if (r.ws) open.push(r.ws);
      }
      assert.deepEqual(statuses.slice(0, 4), [101, 101, 101, 101]);
      assert.ok(statuses.slice(4).every((s) => s === 429), statuses.join(','));
      for (const ws of open) ws.close();
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /switchboard_limits_hit_total\{limit="connect_rate"\} [1-9]/);
    } finally {
      await sb.shutdown();
    }
  });
});
