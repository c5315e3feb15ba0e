/**
 * Behind a reverse proxy (`proxy.trusted`): per-IP limits count the forwarded client address, logs name it, and the
 * server API's loopback rule judges the client, not the proxy on the same host. Real sockets: the "proxy" is this
 * test on 127.0.0.1 sending X-Forwarded-For.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectReady, connectWs } from '../helpers/ws-client.js';
import { rawSse } from '../helpers/sse-client.js';

const xff = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

describe('proxy.trusted', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));
  const start = async (flags: string[]) => {
    const s = await startServer(flags);
    servers.push(s);
    return s;
  };

  it('per-IP connection limits count each forwarded client, not the proxy', async () => {
    const s = await start(['--limits.connectionsPerIp', '1', '--proxy.trusted', '127.0.0.1']);
    const a = s.track((await connectReady(`${s.wsUrl}?user=a`, 3000, xff('198.51.100.1'))).client);
    const b = s.track((await connectReady(`${s.wsUrl}?user=b`, 3000, xff('198.51.100.2'))).client);
    assert.ok(a && b);
    await assert.rejects(connectWs(`${s.wsUrl}?user=c`, 3000, xff('198.51.100.1')), /HTTP 429/);
    // SSE streams count the same way.
    const sse = s.track(await rawSse(`${s.url}/events?channel=x&user=d`, { 'x-forwarded-for': '198.51.100.3' }));
    assert.equal(sse.status, 200);
  });

  it('without it, X-Forwarded-For is ignored: every connection counts against the peer', async () => {
    const s = await start(['--limits.connectionsPerIp', '1']);
    s.track((await connectReady(`${s.wsUrl}?user=a`, 3000, xff('198.51.100.1'))).client);
    await assert.rejects(connectWs(`${s.wsUrl}?user=b`, 3000, xff('198.51.100.2')), /HTTP 429/);
  });

  it('the API without a key answers local callers only: a forwarded request is not local', async () => {
    const plain = await start([]);
    assert.equal((await plain.api('GET', '/api/stats')).status, 200);
    const forwarded: Record<string, string>[] = [{ 'x-forwarded-for': '203.0.113.9' }, { forwarded: 'for=203.0.113.9' }, { 'x-real-ip': '203.0.113.9' }];
    for (const h of forwarded) {
      assert.equal((await plain.api('GET', '/api/stats', undefined, h)).status, 401, JSON.stringify(h));
    }
    const proxied = await start(['--proxy.trusted', '127.0.0.1']);
    assert.equal((await proxied.api('GET', '/api/stats')).status, 200, 'a local caller straight to the server');
    assert.equal((await proxied.api('GET', '/api/stats', undefined, { 'x-forwarded-for': '127.0.0.1' })).status, 200, 'a local caller through the local proxy');
    assert.equal((await proxied.api('GET', '/api/stats', undefined, { 'x-forwarded-for': '203.0.113.9' })).status, 401, 'a remote client through the proxy');
    assert.equal((await proxied.api('GET', '/api/stats', undefined, { 'x-forwarded-for': '127.0.0.1, 203.0.113.9' })).status, 401, 'a remote client claiming to be local');
  });
});
