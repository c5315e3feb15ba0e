/**
 * The SDK's WebSocket client against a real Switchboard (and, for what a real server never does, a scripted one):
 * commands, reconnect and resume with zero loss and zero duplicates while publishing continues, the
 * reconnect-or-not codes, failed recovery, backoff bounds, dead-connection detection and gap repair.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type Client, type ClientOptions, type Publication } from '../../src/client/index.js';
import { CLIENT_EVENTS, of, record, scriptedServer } from '../helpers/sdk.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** A client with fast reconnects, disconnected when the server closes. */
function sdk(srv: TestServer, user: string, extra: Partial<ClientOptions> = {}): Client {
  const c = createClient({ url: srv.wsUrl, params: { user }, minReconnectDelay: 20, maxReconnectDelay: 200, ...extra });
  srv.track({ close: () => c.disconnect() });
  return c;
}

const offsets = (pubs: Publication[]) => pubs.map((p) => p.offset);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('client: commands on a real server', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--channel.joinLeave', 'true']);
  });
  after(() => srv.close());

  it('connects, subscribes, publishes, reads presence and history, sees join/leave', async () => {
    const a = sdk(srv, 'alice');
    const rec = record(a, CLIENT_EVENTS);
    const sub = a.subscribe('room');
    const pubs: Publication[] = [];
    sub.on('publication', (p) => pubs.push(p));
    a.connect();
    await sub.ready();
    assert.equal(a.state, 'connected');
    assert.equal(a.info?.user, 'alice');
    assert.equal(sub.recovered, false);

    const r = await sub.publish({ text: 'hi' }, { event: 'chat' });
    assert.equal(r.offset, 1);
    await waitFor(() => pubs.length === 1, { label: 'own publication' });
    assert.deepEqual({ ...pubs[0], timestamp: undefined }, { channel: 'room', event: 'chat', data: { text: 'hi' }, epoch: r.epoch, offset: 1, timestamp: undefined });

    const b = sdk(srv, 'bob');
    const bsub = b.subscribe('room');
    b.connect();
    await bsub.ready();
    await waitFor(() => of(rec, 'join').length === 1, { label: 'join' });
    assert.equal(of(rec, 'join')[0].user, 'bob');
    const members = await a.presence('room');
    assert.deepEqual(members.map((m) => m.user).sort(), ['alice', 'bob']);
    b.disconnect();
    await waitFor(() => of(rec, 'leave').length === 1, { label: 'leave' });

    const h = await a.history('room', { limit: 10 });
    assert.deepEqual(offsets(h.publications), [1]);
    assert.equal(h.publications[0]!.event, 'chat');
    await a.ping();
    await assert.rejects(a.publish('room', 1, { event: 'connected' }), (e: any) => e.name === 'ServerError' && e.code === 'invalid_event');
    assert.deepEqual(of(rec, 'connecting'), [{ attempt: 0, delay: 0 }]);
  });

  it('queues commands made while connecting; disconnect() fails what is pending with client_closed', async () => {
    const a = sdk(srv, 'queue');
    a.connect();
    const r = await a.publish('q', 1);
    assert.equal(r.offset, 1);
    a.disconnect();
    await assert.rejects(a.publish('q', 2), (e: any) => e.code === 'client_closed');
    assert.equal(a.state, 'disconnected');
  });
});

describe('client: reconnect and resume', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '5000']);
  });
  after(() => srv.close());

  it('zero loss, zero duplicates, in order, while publishing continues and connections keep dropping', async () => {
    const N = 400;
    const users = ['r1', 'r2', 'r3'];
    const got = new Map<string, Publication[]>();
    const clients = users.map((u) => {
      const c = sdk(srv, u);
      const pubs: Publication[] = [];
      got.set(u, pubs);
      c.subscribe('stream').on('publication', (p) => pubs.push(p));
      c.connect();
      return c;
    });
    const recs = clients.map((c) => record(c, ['subscribed', 'disconnected']));
    await Promise.all(clients.map((c) => c.getSubscription('stream')!.ready()));
    for (let i = 1; i <= N; i++) {
      await srv.publish('stream', { i });
      // Drop every client now and then, with a code that says "reconnect", while publishing goes on.
      if (i % 40 === 0) for (const u of users) void srv.api('POST', '/api/disconnect', { user: u, code: 4000 + (i % 400) });
    }
    await waitFor(() => users.every((u) => got.get(u)!.length >= N), { timeout: 20_000, label: 'all publications', describe: () => users.map((u) => got.get(u)!.length).join(',') });
    for (const u of users) {
      assert.deepEqual(offsets(got.get(u)!), range(N), `${u} saw 1..${N} once each, in order`);
      assert.deepEqual(got.get(u)!.map((p) => (p.data as { i: number }).i), range(N));
    }
    for (const rec of recs) {
      assert.ok(of(rec, 'disconnected').length >= 5, 'connections were dropped repeatedly');
      assert.ok(of(rec, 'disconnected').every((d) => d.reconnect === true));
      // Every resume after the first subscribe was gap-free.
      assert.ok(of(rec, 'subscribed').slice(1).every((s) => s.wasRecovering && s.recovered));
    }
  });

  it('stays disconnected when the server says not to reconnect (4502)', async () => {
    const c = sdk(srv, 'banned');
    const rec = record(c, CLIENT_EVENTS);
    c.connect();
    await c.ready();
    await srv.api('POST', '/api/disconnect', { user: 'banned' });
    await waitFor(() => c.state === 'disconnected', { label: 'disconnected' });
    assert.deepEqual(of(rec, 'disconnected'), [{ code: 4502, reason: 'disconnected by server', reconnect: false }]);
    assert.equal(of(rec, 'connecting').length, 1);
  });

  it('reports a failed recovery (too_old) and continues from the channel top', async () => {
    const small = await startServer(['--history.size', '2']);
    try {
      const c = sdk(small, 'away');
      const rec = record(c, CLIENT_EVENTS);
      const sub = c.subscribe('trim');
      const pubs: Publication[] = [];
      sub.on('publication', (p) => pubs.push(p));
      c.connect();
      await sub.ready();
      await small.publish('trim', 1);
      await waitFor(() => pubs.length === 1);
      c.disconnect();
      for (let i = 2; i <= 6; i++) await small.publish('trim', i);
      c.connect();
      await waitFor(() => of(rec, 'recoveryFailed').length === 1, { label: 'recoveryFailed' });
      const rf = of(rec, 'recoveryFailed')[0];
      assert.equal(rf.reason, 'too_old');
      assert.deepEqual(rf.since, { epoch: pubs[0]!.epoch, offset: 1 });
      assert.equal(rf.offset, 6);
      await sub.ready();
      assert.equal(sub.recovered, false);
      assert.deepEqual(sub.position, { epoch: pubs[0]!.epoch, offset: 6 });
      await small.publish('trim', 7);
      await waitFor(() => pubs.length === 2);
      assert.deepEqual(offsets(pubs), [1, 7]);
    } finally {
      await small.close();
    }
  });

  it('reconnects after the server restarts on the same port; recovery fails with epoch_changed', async () => {
    const first = await startServer();
    const port = first.port;
    const c = createClient({ url: first.wsUrl, params: { user: 'restart' }, minReconnectDelay: 20, maxReconnectDelay: 200 });
    try {
      const rec = record(c, CLIENT_EVENTS);
      const pubs: Publication[] = [];
      const sub = c.subscribe('life');
      sub.on('publication', (p) => pubs.push(p));
      c.connect();
      await sub.ready();
      await first.publish('life', 'before');
      await waitFor(() => pubs.length === 1);
      await first.close();
      await waitFor(() => of(rec, 'disconnected').length >= 1, { label: 'disconnected' });
      assert.equal(of(rec, 'disconnected')[0].reconnect, true);
      const second = await startServer(['--port', String(port)]);
      try {
        await waitFor(() => of(rec, 'recoveryFailed').length === 1, { timeout: 10_000, label: 'recoveryFailed after restart' });
        assert.equal(of(rec, 'recoveryFailed')[0].reason, 'epoch_changed');
        await sub.ready();
        await second.publish('life', 'after');
        await waitFor(() => pubs.length === 2);
        assert.notEqual(pubs[1]!.epoch, pubs[0]!.epoch);
        assert.deepEqual(offsets(pubs), [1, 1]);
      } finally {
        c.disconnect();
        await second.close();
      }
    } finally {
      c.disconnect();
    }
  });
});

describe('client: backoff, liveness, gaps, timeouts (scripted server)', () => {
  it('keeps reconnect delays within the configured bounds while the server is down', async () => {
    // Port 1: privileged, nothing listens, every attempt is refused at once (a freed ephemeral port may be reused).
    const c = createClient({ url: 'ws://127.0.0.1:1/ws', minReconnectDelay: 10, maxReconnectDelay: 80, timeout: 2000 });
    try {
      const rec = record(c, CLIENT_EVENTS);
      c.connect();
      await waitFor(() => of(rec, 'connecting').length >= 10, { timeout: 10_000, label: '10 attempts' });
      c.disconnect();
      const attempts = of(rec, 'connecting');
      attempts.forEach((a, i) => {
        assert.equal(a.attempt, i);
        if (i === 0) return assert.equal(a.delay, 0);
        const ceiling = Math.min(80, 10 * 2 ** i);
        assert.ok(a.delay >= 10 && a.delay <= ceiling, `attempt ${i}: delay ${a.delay} outside [10, ${ceiling}]`);
      });
      assert.ok(of(rec, 'disconnected').slice(0, -1).every((d) => d.reconnect));
    } finally {
      c.disconnect();
    }
  });

  it('detects a silent connection with its own ping and replaces it', async () => {
    // Says `connected`, then never sends another frame (ws pongs to protocol pings happen below the SDK).
    const silent = await scriptedServer((conn) => conn.send({ push: 'connected', client: 'c1', user: 'u', version: 't', protocol: 1, ping: 0 }));
    const c = createClient({ url: silent.url, pingInterval: 150, pingTimeout: 150, minReconnectDelay: 10, maxReconnectDelay: 20 });
    try {
      const rec = record(c, CLIENT_EVENTS);
      c.connect();
      await waitFor(() => silent.connections.length >= 2, { timeout: 10_000, label: 'a second connection' });
      assert.deepEqual(of(rec, 'disconnected')[0], { code: 3001, reason: 'ping timeout', reconnect: true });
      assert.ok(silent.connections[0]!.received.some((f) => f.method === 'ping' && f.id !== undefined), 'the client pinged before giving up');
    } finally {
      c.disconnect();
      await silent.close();
    }
  });

  it('repairs a gap in a live stream by resubscribing from its last position, dropping duplicates', async () => {
    const pub = (offset: number) => ({ push: 'publication', channel: 'g', type: 'message', payload: offset, epoch: 'e1', offset, timestamp: 't' });
    const srv = await scriptedServer((conn) => {
      conn.send({ push: 'connected', client: 'c1', user: 'u', version: 't', protocol: 1, ping: 0 });
      conn.ws.on('message', (data) => {
        const f = JSON.parse(String(data));
        if (f.method === 'subscribe' && !f.params.since) {
          conn.send({ id: f.id, result: { channel: 'g', epoch: 'e1', offset: 0, recovered: false, missed: 0 } });
          for (const o of [1, 2, 4, 5]) conn.send(pub(o));
        } else if (f.method === 'subscribe') {
          conn.send({ id: f.id, result: { channel: 'g', epoch: 'e1', offset: 5, recovered: true, missed: 3 } });
          for (const o of [2, 3, 4, 5, 5, 6]) conn.send(pub(o));
        } else if (f.id !== undefined) conn.send({ id: f.id, result: {} });
      });
    });
    const c = createClient({ url: srv.url });
    try {
      const pubs: Publication[] = [];
      c.subscribe('g').on('publication', (p) => pubs.push(p));
      c.connect();
      await waitFor(() => pubs.length >= 6, { label: 'six publications', describe: () => JSON.stringify(offsets(pubs)) });
      assert.deepEqual(offsets(pubs), [1, 2, 3, 4, 5, 6]);
      const sent = srv.connections[0]!.received.map((f) => [f.method, f.params?.since?.offset]);
      assert.deepEqual(sent, [['subscribe', undefined], ['unsubscribe', undefined], ['subscribe', 2]]);
      assert.equal(srv.connections.length, 1, 'repaired on the same connection');
    } finally {
      c.disconnect();
      await srv.close();
    }
  });

  it('rejects a command whose reply does not come within the timeout', async () => {
    const mute = await scriptedServer((conn) => conn.send({ push: 'connected', client: 'c1', user: 'u', version: 't', protocol: 1, ping: 0 }));
    const c = createClient({ url: mute.url, timeout: 200 });
    try {
      c.connect();
      await c.ready(5000);
      await assert.rejects(c.publish('x', 1), (e: any) => e.name === 'TimeoutError' && e.code === 'timeout');
    } finally {
      c.disconnect();
      await mute.close();
    }
  });
});
