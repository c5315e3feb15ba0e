/**
 * The SDK's SSE client against a real server: the fetch reader and a spec EventSource (the `eventsource` package)
 * resume with zero loss and zero duplicates while streams keep dropping, obey "do not reconnect", reopen the stream
 * when channels change; and against a scripted server: a silent stream is detected, `retry` and Last-Event-ID honoured.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { createSseClient, type Publication, type SseClientOptions } from '../../src/client/index.js';
import { CLIENT_EVENTS, of, record } from '../helpers/sdk.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('SSE client on a real server', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '5000', '--sse.retry', '20ms']);
  });
  after(() => srv.close());

  function sse(user: string, extra: Partial<SseClientOptions> = {}) {
    const s = createSseClient({ url: srv.url + '/events', params: { user }, minReconnectDelay: 20, maxReconnectDelay: 200, ...extra });
    srv.track({ close: () => s.disconnect() });
    return s;
  }

  for (const transport of ['fetch', 'eventsource'] as const) {
    it(`${transport}: zero loss and zero duplicates over two channels while streams keep dropping`, async () => {
      const N = 200;
      const user = `sse-${transport}`;
      const s = sse(user, transport === 'eventsource' ? { transport, EventSource, events: ['tick'] } : { transport });
      assert.equal(s.transport, transport);
      const rec = record(s, ['disconnected', 'subscribed']);
      const got: Record<string, Publication[]> = { [`${user}-a`]: [], [`${user}-b`]: [] };
      for (const ch of Object.keys(got)) s.subscribe(ch).on('publication', (p) => got[ch]!.push(p));
      s.connect();
      await s.ready();
      for (let i = 1; i <= N; i++) {
        for (const ch of Object.keys(got)) await srv.publish(ch, { i }, 'tick');
        if (i % 25 === 0) void srv.api('POST', '/api/disconnect', { user, code: 4100 });
      }
      await waitFor(() => Object.values(got).every((g) => g.length >= N), { timeout: 20_000, label: 'all publications', describe: () => Object.values(got).map((g) => g.length).join(',') });
      for (const g of Object.values(got)) {
        assert.deepEqual(g.map((p) => p.offset), range(N));
        assert.ok(g.every((p) => p.event === 'tick'));
      }
      assert.ok(of(rec, 'disconnected').length >= 4, 'streams were dropped repeatedly');
      assert.ok(of(rec, 'subscribed').filter((x) => x.wasRecovering).every((x) => x.recovered));
      s.disconnect();
    });
  }

  it('reopens the stream when a channel is added, resuming the first one', async () => {
    const s = sse('adder');
    const a: Publication[] = [];
    const b: Publication[] = [];
    s.subscribe('add-a').on('publication', (p) => a.push(p));
    s.connect();
    await s.ready();
    await srv.publish('add-a', 1);
    await waitFor(() => a.length === 1);
    const rec = record(s, CLIENT_EVENTS);
    const sub = s.subscribe('add-b');
    sub.on('publication', (p) => b.push(p));
    await srv.publish('add-a', 2);
    await sub.ready();
    await srv.publish('add-b', 'b1');
    await waitFor(() => a.length === 2 && b.length === 1, { label: 'both channels' });
    assert.deepEqual(a.map((p) => p.offset), [1, 2]);
    assert.equal(of(rec, 'disconnected')[0].code, 3007);
    s.disconnect();
  });

  it('stops when the server says not to reconnect (4502)', async () => {
    const s = sse('sse-banned');
    const rec = record(s, CLIENT_EVENTS);
    s.subscribe('x');
    s.connect();
    await s.ready();
    await srv.api('POST', '/api/disconnect', { user: 'sse-banned' });
    await waitFor(() => s.state === 'disconnected', { label: 'stopped' });
    assert.deepEqual(of(rec, 'disconnected'), [{ code: 4502, reason: 'disconnected by server', reconnect: false }]);
  });
});

describe('SSE client on a scripted server', () => {
  it('detects a silent stream, waits at least `retry`, and resumes with Last-Event-ID', async () => {
    const requests: IncomingHttpHeaders[] = [];
    const http = createServer((req, res) => {
      requests.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // retry 150 ms, then one publication, then nothing: not even heartbeats.
      const resumed = req.headers['last-event-id'] === 'e1:1';
      const result = resumed ? '"offset":1,"recovered":true' : '"offset":0,"recovered":false';
      res.write(`retry: 150\n\nevent: connected\ndata: {"client":"c","user":"u","recovered":${resumed},"channels":[{"channel":"q","epoch":"e1",${result},"missed":0}]}\nid: e1:0\n\n`);
      res.write('event: message\ndata: {"push":"publication","channel":"q","type":"message","payload":1,"epoch":"e1","offset":1,"timestamp":"t"}\nid: e1:1\n\n');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as AddressInfo).port;
    const s = createSseClient({ url: `http://127.0.0.1:${port}/events`, heartbeatTimeout: 300, minReconnectDelay: 10, maxReconnectDelay: 20 });
    try {
      const rec = record(s, CLIENT_EVENTS);
      const pubs: Publication[] = [];
      s.subscribe('q').on('publication', (p) => pubs.push(p));
      s.connect();
      await waitFor(() => requests.length >= 2, { timeout: 10_000, label: 'a second request' });
      assert.deepEqual(of(rec, 'disconnected')[0], { code: 3008, reason: 'heartbeat timeout', reconnect: true });
      assert.equal(requests[0]!['last-event-id'], undefined);
      assert.equal(requests[1]!['last-event-id'], 'e1:1');
      const retry = of(rec, 'connecting')[1];
      assert.ok(retry.delay >= 150, `reconnect delay ${retry.delay} honours retry: 150`);
      // The second stream repeats offset 1: a duplicate, dropped.
      await waitFor(() => of(rec, 'connected').length >= 2);
      assert.deepEqual(pubs.map((p) => p.offset), [1]);
    } finally {
      s.disconnect();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});
