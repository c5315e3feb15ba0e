/**
 * The proxies' HTTP client and answer cache (docs/proxy.md) against real loopback HTTP servers: the secret and trace
 * headers, the bound on calls in flight, the answer-size bound, a deadline that also holds for a body that trickles,
 * and the cache's TTL and byte bound.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ProxyBackend } from '../../src/auth/proxy/backend.js';
import { AnswerCache } from '../../src/auth/proxy/cache.js';
import { parseAnswer } from '../../src/auth/proxy/answer.js';
import { ReplyError } from '../../src/protocol/index.js';
import { startBackend, type TestBackend } from '../helpers/proxy-backend.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const backends: TestBackend[] = [];
after(() => Promise.all(backends.map((b) => b.close())));

// A timeout long enough for a loaded CI machine; the deadline tests set a short one of their own.
const opts = { secret: 's3cret', timeout: 5000, maxConcurrency: 2, maxResponseSize: 1024 };
const code = (c: string) => (e: unknown) => e instanceof ReplyError && e.code === c;

describe('ProxyBackend', () => {
  it('sends the secret and the trace context; counts the outcome', async () => {
    const b = await startBackend(() => ({ result: { fine: true } }));
    backends.push(b);
    const seen: string[] = [];
    const backend = new ProxyBackend(opts, (kind, outcome) => seen.push(`${kind}|${outcome}`));
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const a = await backend.call('subscribe', b.url, { channel: 'x' }, { traceparent, tracestate: 'k=v' });
    assert.deepEqual(a.ok && a.result, { fine: true });
    assert.equal(b.calls[0]!.headers['x-switchboard-proxy-secret'], 's3cret');
    assert.equal(b.calls[0]!.headers.traceparent, traceparent);
    assert.equal(b.calls[0]!.headers.tracestate, 'k=v');
    assert.deepEqual(seen, ['subscribe|ok']);
  });

  it('refuses at once past maxConcurrency calls in flight, instead of queueing', async () => {
    const b = await startBackend(() => ({ hang: true }));
    backends.push(b);
    const backend = new ProxyBackend({ ...opts, timeout: 1000 });
    const first = [backend.call('rpc', b.url, {}), backend.call('rpc', b.url, {})];
    const started = Date.now();
    await assert.rejects(backend.call('rpc', b.url, {}), code('backend_unavailable'));
    assert.ok(Date.now() - started < 500, 'refused without waiting for the 1 s timeout');
    await Promise.all(first.map((p) => assert.rejects(p, code('backend_timeout'))));
    assert.equal(backend.active, 0, 'every slot is given back');
  });

  it('reads at most maxResponseSize bytes of an answer', async () => {
    const b = await startBackend(() => ({ result: { data: 'x'.repeat(2000) } }));
    backends.push(b);
    await assert.rejects(new ProxyBackend(opts).call('rpc', b.url, {}), code('backend_invalid'));
  });

  it('the deadline holds for a body that trickles after the status line', async () => {
    const s = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"result":');
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const started = Date.now();
      await assert.rejects(new ProxyBackend({ ...opts, timeout: 300 }).call('rpc', `http://127.0.0.1:${(s.address() as AddressInfo).port}`, {}), code('backend_timeout'));
      // The body never ends: without the deadline the call would wait forever.
      assert.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`);
    } finally {
      s.closeAllConnections();
      s.close();
    }
  });

  it('an HTTP error status is backend_unavailable; a refusal keeps only known codes', async () => {
    const b = await startBackend(() => ({ raw: 'nope', status: 500 }));
    backends.push(b);
    await assert.rejects(new ProxyBackend(opts).call('publish', b.url, {}), code('backend_unavailable'));
    const r = parseAnswer('{"error":{"code":"internal","message":"m"}}');
    assert.equal(!r.ok && r.error.code, 'permission_denied');
    assert.throws(() => parseAnswer('[1]'), code('backend_invalid'));
    assert.throws(() => parseAnswer('{"result":[1]}'), code('backend_invalid'));
  });
});

describe('AnswerCache', () => {
  const answer = (ttl: number, size = 10) => ({ ok: true as const, result: {}, cacheTtlMs: ttl, size });

  it('keeps only answers with a TTL, until it passes', () => {
    let now = 0;
    const c = new AnswerCache(10_000, () => now);
    c.set('a', answer(0));
    c.set('b', answer(1000));
    assert.equal(c.get('a'), undefined);
    assert.ok(c.get('b'));
    now = 1000;
    assert.equal(c.get('b'), undefined);
    assert.equal(c.bytes, 0);
  });

  it('stays within its byte bound, dropping the least recently used', () => {
    const c = new AnswerCache(1000);
    for (let i = 0; i < 50; i++) {
      c.set(`k${i}`, answer(60_000, 100));
      if (i > 0) c.get('k0'); // k0 stays recently used
      assert.ok(c.bytes <= 1000, `bytes ${c.bytes}`);
    }
    assert.ok(c.get('k0'), 'the recently used entry survived');
    assert.equal(c.get('k1'), undefined, 'the least recently used went');
    assert.ok(c.size < 50);
  });
});
