/**
 * Tokens in the SDK against a real server with JWT authentication: refresh before expiry keeps the connection,
 * a failed refresh ends in 4005 and a reconnect with a fresh token that resumes without loss, a fixed token that
 * expires stops the client, and the SSE client fetches a new token after 4005 and resumes with Last-Event-ID.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, createSseClient, type Publication } from '../../src/client/index.js';
import { CLIENT_EVENTS, of, record } from '../helpers/sdk.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';

const SECRET = 'client-sdk-test-secret-0123456789abcdef';

describe('client tokens', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--jwt.secret', SECRET, '--jwt.clockTolerance', '0s']);
  });
  after(() => srv.close());

  it('refreshes the token before it expires: the connection outlives the first token', async () => {
    let calls = 0;
    const c = createClient({
      url: srv.wsUrl,
      getToken: () => {
        calls++;
        return mintHs256(SECRET, { sub: 'refresher' }, { ttl: 3 });
      },
      refreshBefore: 1000,
      minReconnectDelay: 20,
    });
    srv.track({ close: () => c.disconnect() });
    const rec = record(c, CLIENT_EVENTS);
    c.connect();
    await c.ready();
    const firstExpiry = c.info!.expires!;
    // Past the first token's expiry (the server closes expired connections at exp; tolerance 0 s).
    await waitFor(() => Date.now() > firstExpiry * 1000 + 1500, { timeout: 10_000, interval: 100, label: 'first expiry passed' });
    assert.deepEqual(of(rec, 'disconnected'), []);
    assert.deepEqual(of(rec, 'error'), []);
    assert.ok(calls >= 2, `getToken called ${calls} times`);
    await c.ping();
    c.disconnect();
  });

  it('a refresh that fails ends in 4005; the client reconnects with a fresh token and resumes without loss', async () => {
    let calls = 0;
    const c = createClient({
      url: srv.wsUrl,
      getToken: async () => {
        calls++;
        if (calls === 2) throw new Error('auth service down');
        return mintHs256(SECRET, { sub: 'unlucky' }, { ttl: calls === 1 ? 2 : 3600 });
      },
      minReconnectDelay: 20,
    });
    srv.track({ close: () => c.disconnect() });
    const rec = record(c, CLIENT_EVENTS);
    const pubs: Publication[] = [];
    const sub = c.subscribe('tok');
    sub.on('publication', (p) => pubs.push(p));
    c.on('disconnected', (d) => {
      // Published while the client is away: must arrive after the resume.
      if (d.code === 4005) void srv.publish('tok', 'while away');
    });
    c.connect();
    await sub.ready();
    await srv.publish('tok', 'before');
    await waitFor(() => pubs.length === 2, { timeout: 10_000, label: 'both publications' });
    assert.deepEqual(of(rec, 'disconnected').map((d) => [d.code, d.reconnect]), [[4005, true]]);
    assert.equal(of(rec, 'error')[0].error.code, 'token_failed');
    assert.deepEqual(pubs.map((p) => p.data), ['before', 'while away']);
    assert.equal(sub.recovered, true);
    assert.equal(calls, 3);
    c.disconnect();
  });

  it('a fixed token that expires stops the client (4005, no reconnect)', async () => {
    const c = createClient({ url: srv.wsUrl, token: await mintHs256(SECRET, { sub: 'fixed' }, { ttl: 1 }), minReconnectDelay: 20 });
    srv.track({ close: () => c.disconnect() });
    const rec = record(c, CLIENT_EVENTS);
    c.connect();
    await c.ready();
    await waitFor(() => c.state === 'disconnected', { timeout: 10_000, label: 'stopped' });
    assert.deepEqual(of(rec, 'disconnected'), [{ code: 4005, reason: 'token expired', reconnect: false }]);
    await sleep(100); // the point: no reconnect attempt in 5x minReconnectDelay
    assert.equal(of(rec, 'connecting').length, 1);
  });

  it('Node: a refused upgrade (401) is reported with the server\'s reason and stops a fixed-token client (3009, no reconnect)', async () => {
    const c = createClient({ url: srv.wsUrl, token: 'not-a-jwt', minReconnectDelay: 20 });
    srv.track({ close: () => c.disconnect() });
    const rec = record(c, CLIENT_EVENTS);
    c.connect();
    await waitFor(() => c.state === 'disconnected', { timeout: 5000, label: 'stopped' });
    const [error] = of(rec, 'error').map((e) => e.error);
    assert.equal(error.code, 'unauthorized');
    assert.match(error.message, /^HTTP 401: malformed token/);
    assert.deepEqual(of(rec, 'disconnected'), [{ code: 3009, reason: 'HTTP 401', reconnect: false }]);
    await sleep(100);
    assert.equal(of(rec, 'connecting').length, 1);
  });

  it('Node: after a refused upgrade (401) a token function is asked again and the client connects', async () => {
    let calls = 0;
    const c = createClient({
      url: srv.wsUrl, minReconnectDelay: 20,
      getToken: () => (++calls === 1 ? 'not-a-jwt' : mintHs256(SECRET, { sub: 'second-try' }, { ttl: 60 })),
    });
    srv.track({ close: () => c.disconnect() });
    const rec = record(c, CLIENT_EVENTS);
    c.connect();
    await c.ready(5000);
    assert.equal(calls, 2);
    assert.deepEqual(of(rec, 'disconnected'), [{ code: 3009, reason: 'HTTP 401', reconnect: true }]);
    c.disconnect();
  });

  it('SSE: after 4005 the client gets a fresh token and resumes with Last-Event-ID', async () => {
    let calls = 0;
    const s = createSseClient({
      url: srv.url + '/events',
      getToken: () => {
        calls++;
        return mintHs256(SECRET, { sub: 'sse-user' }, { ttl: calls === 1 ? 2 : 3600 });
      },
      minReconnectDelay: 20,
    });
    srv.track({ close: () => s.disconnect() });
    const rec = record(s, CLIENT_EVENTS);
    const pubs: Publication[] = [];
    s.subscribe('sse-tok').on('publication', (p) => pubs.push(p));
    s.on('disconnected', (d) => {
      if (d.code === 4005) void srv.publish('sse-tok', 'while away');
    });
    s.connect();
    await s.ready();
    await srv.publish('sse-tok', 'before');
    await waitFor(() => pubs.length === 2, { timeout: 10_000, label: 'both publications' });
    assert.deepEqual(of(rec, 'disconnected').map((d) => [d.code, d.reconnect]), [[4005, true]]);
    assert.deepEqual(pubs.map((p) => p.offset), [1, 2]);
    assert.equal(s.getSubscription('sse-tok')!.recovered, true);
    assert.equal(calls, 2);
    s.disconnect();
  });

  it('a subscription token that expires: the SDK subscribes again with a fresh one from its position, missing nothing', async () => {
    const ns = await startServer(['--jwt.secret', SECRET, '--jwt.clockTolerance', '0s', '--namespaces', JSON.stringify([{ name: 'vip', subscribe: 'token' }])]);
    try {
      let subTokens = 0;
      const c = createClient({ url: ns.wsUrl, token: await mintHs256(SECRET, { sub: 'vip-user' }), minReconnectDelay: 20 });
      ns.track({ close: () => c.disconnect() });
      const pubs: Publication[] = [];
      const sub = c.subscribe('vip:lounge', {
        token: () => {
          subTokens++;
          return mintHs256(SECRET, { sub: 'vip-user', channel: 'vip:lounge' }, { ttl: subTokens === 1 ? 2 : 3600 });
        },
      });
      sub.on('publication', (p) => pubs.push(p));
      c.connect();
      await c.ready();
      await waitFor(() => sub.state === 'subscribed', { label: 'subscribed' });
      await ns.publish('vip:lounge', 1);
      // Published around the expiry: either before the server ends the subscription or while the SDK resubscribes.
      await waitFor(() => subTokens === 2, { timeout: 10_000, interval: 50, label: 'a second subscription token fetched' });
      await ns.publish('vip:lounge', 2);
      await ns.publish('vip:lounge', 3);
      await waitFor(() => pubs.length === 3, { timeout: 5000, label: 'every publication' });
      assert.deepEqual(pubs.map((p) => p.offset), [1, 2, 3]);
      assert.equal(sub.state, 'subscribed');
      c.disconnect();
    } finally {
      await ns.close();
    }
  });

  it('send: a message to another user arrives with the sender in "from"', async () => {
    const a = createClient({ url: srv.wsUrl, token: await mintHs256(SECRET, { sub: 'ann' }) });
    const b = createClient({ url: srv.wsUrl, token: await mintHs256(SECRET, { sub: 'ben' }) });
    srv.track({ close: () => a.disconnect() });
    srv.track({ close: () => b.disconnect() });
    const got = record(b, ['message']);
    a.connect();
    b.connect();
    await Promise.all([a.ready(), b.ready()]);
    await a.send('ben', { text: 'hi' }, { event: 'nudge' });
    await waitFor(() => got.length === 1, { label: 'the message' });
    assert.deepEqual([got[0]!.arg.from, got[0]!.arg.event, got[0]!.arg.data], ['ann', 'nudge', { text: 'hi' }]);
    a.disconnect();
    b.disconnect();
  });
});
