/**
 * Server-Sent Events end to end: headers and bytes on the wire (raw http.get), and a real EventSource client
 * (the `eventsource` package) that reconnects with Last-Event-ID by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { httpGet, openEventSource, rawSse, type EsClient, type SseMessage } from '../helpers/sse-client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const json = (m: SseMessage) => JSON.parse(m.data) as Record<string, any>;
/** Publication events received (of one channel, or all), with the SSE id and the connection that delivered them. */
const pubsOf = (es: EsClient, channel?: string): Record<string, any>[] =>
  es.messages.filter((m) => m.type !== 'connected' && m.type !== 'disconnect' && m.type !== 'ping')
    .map((m): Record<string, any> => ({ ...json(m), id: m.lastEventId, connection: m.connection }))
    .filter((p) => p.push === 'publication' && (channel === undefined || p.channel === channel));

describe('sse: stream basics', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--sse.retry', '250ms']);
  });
  after(() => srv.close());

  it('sends event-stream headers, no compression, retry first, then connected', async () => {
    const r = srv.track(await rawSse(`${srv.url}/events?channel=h1&user=hdr`, { 'accept-encoding': 'gzip, deflate, br' }));
    assert.equal(r.status, 200);
    assert.match(String(r.res.headers['content-type']), /^text\/event-stream/);
    assert.match(String(r.res.headers['cache-control']), /\bno-cache\b/);
    assert.equal(r.res.headers['x-accel-buffering'], 'no');
    assert.equal(r.res.headers['content-encoding'], undefined);
    assert.equal(r.res.headers['content-length'], undefined);
    const connected = await r.waitEvent((e) => e.event === 'connected');
    assert.ok(r.text.startsWith('retry: 250\n'), JSON.stringify(r.text.slice(0, 40)));
    const data = JSON.parse(connected.data!);
    assert.equal(data.user, 'hdr');
    assert.equal(typeof data.client, 'string');
    assert.equal(data.recovered, false);
    assert.equal(data.error, undefined);
    assert.equal(data.channels.length, 1);
    assert.equal(data.channels[0].channel, 'h1');
    assert.equal(data.channels[0].recovered, false);
    assert.equal(connected.id, `${data.channels[0].epoch}:${data.channels[0].offset}`);
  });

  it('delivers publications as events named by event name, JSON data and position ids', async () => {
    const es = srv.track(openEventSource(`${srv.url}/events?channel=s1`, { events: ['custom-event'] }));
    const connected = await es.nextJson('connected');
    const p1 = await srv.publish('s1', { hello: 'world' });
    const p2 = await srv.publish('s1', [1, 2], 'custom-event');
    const m1 = await es.next((m) => m.type === 'message');
    const m2 = await es.next((m) => m.type === 'custom-event');
    assert.equal(m1.lastEventId, `${p1.epoch}:${p1.offset}`);
    assert.equal(m2.lastEventId, `${p2.epoch}:${p2.offset}`);
    assert.equal(p1.epoch, connected.channels[0].epoch);
    const d1 = json(m1);
    assert.equal(d1.push, 'publication');
    assert.equal(d1.channel, 's1');
    assert.equal(d1.type, 'message');
    assert.deepEqual(d1.payload, { hello: 'world' });
    assert.equal(d1.offset, p1.offset);
    assert.deepEqual(json(m2).payload, [1, 2]);
    assert.equal(json(m2).type, 'custom-event');
  });

  it('puts exactly these bytes on the wire for a publication', async () => {
    const r = srv.track(await rawSse(`${srv.url}/events?channel=bytes`));
    await r.waitEvent((e) => e.event === 'connected');
    const before = r.text.length;
    const p = await srv.publish('bytes', { k: 'v' }, 'ev');
    await r.waitEvent((e) => e.event === 'ev');
    const got = r.text.slice(before);
    const m = /^event: ev\ndata: (\{.*\})\nid: ([a-z0-9]+:\d+)\n\n$/.exec(got);
    assert.ok(m, JSON.stringify(got));
    assert.equal(m[2], `${p.epoch}:${p.offset}`);
    assert.deepEqual(JSON.parse(m[1]!).payload, { k: 'v' });
  });

  it('delivers data with CR, LF and CRLF intact (JSON-escaped on one data line)', async () => {
    const es = srv.track(openEventSource(`${srv.url}/events?channel=lines`, { events: ['multi', 'injected'] }));
    const r = srv.track(await rawSse(`${srv.url}/events?channel=lines`));
    await es.nextJson('connected');
    await r.waitEvent((e) => e.event === 'connected');
    const tricky = 'a\rb\nc\r\nd\n\nevent: injected\ndata: x\r\n';
    await srv.publish('lines', { text: tricky, list: ['\r', '\n'] }, 'multi');
    const m = await es.next((x) => x.type === 'multi');
    assert.deepEqual(json(m).payload, { text: tricky, list: ['\r', '\n'] });
    const raw = await r.waitEvent((e) => e.event === 'multi');
    assert.ok(!raw.data!.includes('\n'), 'one data line');
    assert.deepEqual(JSON.parse(raw.data!).payload.text, tricky);
    assert.equal(es.messages.filter((x) => x.type === 'injected').length, 0);
  });

  it('resumes from the lastEventId query parameter', async () => {
    const p1 = await srv.publish('q', 1);
    await srv.publish('q', 2);
    await srv.publish('q', 3);
    const es = srv.track(openEventSource(`${srv.url}/events?channel=q&lastEventId=${p1.epoch}:${p1.offset}`));
    const c = await es.nextJson('connected');
    assert.equal(c.recovered, true);
    assert.equal(c.channels[0].missed, 2);
    assert.equal(c.channels[0].recovered, true);
    await waitFor(() => pubsOf(es, 'q').length === 2, { label: 'replay' });
    assert.deepEqual(pubsOf(es, 'q').map((p) => p.offset), [2, 3]);
    assert.deepEqual(pubsOf(es, 'q').map((p) => p.payload), [2, 3]);
  });

  it('answers a garbage Last-Event-ID with recovered:false and bad_last_event_id, and still streams', async () => {
    for (const garbage of ['garbage', 'abc:1,def:2', 'ABC:1', 'e:-1', ',']) {
      const r = srv.track(await rawSse(`${srv.url}/events?channel=g1`, { 'last-event-id': garbage }));
      const connected = JSON.parse((await r.waitEvent((e) => e.event === 'connected')).data!);
      assert.equal(connected.recovered, false, garbage);
      assert.equal(connected.error?.code, 'bad_last_event_id', garbage);
      assert.equal(typeof connected.error.message, 'string');
      const p = await srv.publish('g1', garbage);
      const ev = await r.waitEvent((e) => e.event === 'message' && JSON.parse(e.data!).offset === p.offset);
      assert.equal(JSON.parse(ev.data!).payload, garbage);
      r.close();
    }
  });

  it('refuses bad requests with 400 and a JSON error', async () => {
    const streamsBefore = (await srv.stats()).connectionsByTransport.sse ?? 0;
    const none = await httpGet(`${srv.url}/events`);
    assert.equal(none.status, 400);
    assert.match(String(none.headers['content-type']), /application\/json/);
    assert.equal(none.body.error.code, 'bad_request');
    assert.equal(typeof none.body.error.message, 'string');
    const invalid = await httpGet(`${srv.url}/events?channel=${encodeURIComponent('bad channel')}`);
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error.code, 'invalid_channel');
    const empty = await httpGet(`${srv.url}/events?channel=`);
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.code, 'invalid_channel');
    const many = await httpGet(`${srv.url}/events?${Array.from({ length: 33 }, (_, i) => `channel=c${i}`).join('&')}`);
    assert.equal(many.status, 400);
    assert.equal(many.body.error.code, 'limit_exceeded');
    assert.match(many.body.error.message, /32/);
    const twice = await httpGet(`${srv.url}/events?channel=a&channel=a`);
    assert.equal(twice.status, 400);
    const badUser = await httpGet(`${srv.url}/events?channel=a&user=${encodeURIComponent('no spaces')}`);
    assert.equal(badUser.status, 400);
    const post = await srv.api('POST', '/events?channel=a', {});
    assert.equal(post.status, 405);
    // No stream was opened (earlier tests' streams may still be closing, so the count can only drop).
    assert.ok(((await srv.stats()).connectionsByTransport.sse ?? 0) <= streamsBefore);
  });
});

describe('sse: resume across two channels with Last-Event-ID', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--sse.retry', '50ms']);
  });
  after(() => srv.close());

  it('reconnects by itself and gets exactly the missed events of both channels, once each, in order', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const es = srv.track(
      openEventSource(`${srv.url}/events?channel=a&channel=b&user=resumer`, {
        // The reconnect waits until the test has published what the client will have missed.
        beforeConnect: (attempt) => (attempt >= 2 ? gate : undefined),
      }),
    );
    const c1 = await es.nextJson('connected');
    assert.equal(c1.recovered, false);
    assert.deepEqual(c1.channels.map((c: any) => c.channel), ['a', 'b']);
    const [ea, eb] = [c1.channels[0].epoch as string, c1.channels[1].epoch as string];
    const sent: Record<string, number[]> = { a: [], b: [] };
    const pub = async (ch: 'a' | 'b', n: number) => {
      const p = await srv.publish(ch, { ch, n });
      sent[ch]!.push(p.offset);
    };
    await pub('a', 1);
    await pub('b', 1);
    await pub('a', 2);
    await waitFor(() => pubsOf(es).length === 3, { label: 'first 3 events' });
    const lastId = es.messages.at(-1)!.lastEventId;
    assert.equal(lastId, `${ea}:2,${eb}:1`);

    // Cut the stream server-side: the server API disconnects the user (an SSE stream gets a `disconnect` event, then ends).
    assert.equal((await srv.api('POST', '/api/disconnect', { user: 'resumer' })).status, 200);
    const bye = await es.nextJson('disconnect');
    assert.equal(bye.code, 4502);
    await waitFor(() => es.attempts.length === 2, { label: 'EventSource reconnect attempt' });
    assert.equal((await srv.stats()).connectionsByTransport.sse, 0);

    await pub('a', 3);
    await pub('b', 2);
    await pub('b', 3);
    await pub('a', 4);
    openGate();

    const c2 = await es.nextJson('connected');
    assert.equal(es.attempts[1]!['Last-Event-ID'], lastId, 'EventSource sent the last id');
    assert.equal(c2.recovered, true);
    assert.deepEqual(
      c2.channels.map((c: any) => ({ channel: c.channel, recovered: c.recovered, missed: c.missed, offset: c.offset })),
      [
        { channel: 'a', recovered: true, missed: 2, offset: 4 },
        { channel: 'b', recovered: true, missed: 2, offset: 3 },
      ],
    );
    await waitFor(() => pubsOf(es).length === 7, { label: 'the 4 missed events', describe: () => JSON.stringify(pubsOf(es)) });
    const replayed = pubsOf(es).filter((p) => p.connection === 2);
    assert.deepEqual(replayed.filter((p) => p.channel === 'a').map((p) => p.offset), [3, 4]);
    assert.deepEqual(replayed.filter((p) => p.channel === 'b').map((p) => p.offset), [2, 3]);

    await pub('b', 4);
    await pub('a', 5);
    await waitFor(() => pubsOf(es).length === 9, { label: 'live events after resume' });
    assert.deepEqual(pubsOf(es, 'a').map((p) => p.offset), [1, 2, 3, 4, 5]);
    assert.deepEqual(pubsOf(es, 'b').map((p) => p.offset), [1, 2, 3, 4]);
    assert.deepEqual(pubsOf(es, 'a').map((p) => p.payload.n), [1, 2, 3, 4, 5]);
    assert.deepEqual(pubsOf(es, 'b').map((p) => p.payload.n), [1, 2, 3, 4]);
    assert.deepEqual(sent, { a: [1, 2, 3, 4, 5], b: [1, 2, 3, 4] });
    assert.equal(es.messages.at(-1)!.lastEventId, `${ea}:5,${eb}:4`);
    assert.equal(es.ofType('connected').length, 2);
    assert.equal(es.attempts.length, 2);
  });

  it('marks the stream not recovered when only one channel can resume', async () => {
    const p = await srv.publish('ok-ch', 1);
    await srv.publish('ok-ch', 2);
    const other = await srv.publish('other-ch', 1);
    const r = srv.track(await rawSse(`${srv.url}/events?channel=ok-ch&channel=other-ch`, { 'last-event-id': `${p.epoch}:1,zzzz:${other.offset}` }));
    const c = JSON.parse((await r.waitEvent((e) => e.event === 'connected')).data!);
    assert.equal(c.recovered, false);
    assert.equal(c.channels[0].recovered, true);
    assert.equal(c.channels[0].missed, 1);
    assert.equal(c.channels[1].recovered, false);
    assert.equal(c.channels[1].reason, 'epoch_changed');
    const replay = await r.waitEvent((e) => e.event === 'message');
    assert.equal(JSON.parse(replay.data!).offset, 2);
  });
  it('resumes from the id of the connected event when nothing else arrived', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const es = srv.track(openEventSource(`${srv.url}/events?channel=quiet1&channel=quiet2&user=quiet`, { beforeConnect: (n) => (n >= 2 ? gate : undefined) }));
    const c1 = await es.nextJson('connected');
    const firstId = es.messages[0]!.lastEventId;
    assert.equal(firstId, c1.channels.map((c: any) => `${c.epoch}:${c.offset}`).join(','));
    await srv.api('POST', '/api/disconnect', { user: 'quiet' });
    await waitFor(() => es.attempts.length === 2, { label: 'reconnect attempt' });
    await srv.publish('quiet2', 'missed');
    openGate();
    const c2 = await es.nextJson('connected');
    assert.equal(es.attempts[1]!['Last-Event-ID'], firstId);
    assert.equal(c2.recovered, true);
    assert.deepEqual(c2.channels.map((c: any) => c.missed), [0, 1]);
    const m = await es.next((x) => x.type === 'message');
    assert.equal(json(m).payload, 'missed');
  });
});

describe('sse: resume under concurrent publishing', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--sse.retry', '10ms', '--history.size', '5000']);
  });
  after(() => srv.close());

  it('loses and duplicates nothing on two channels while streams are cut at random moments', async (t) => {
    const N = 300; // per channel
    const CLIENTS = 3;
    const seed = Date.now();
    let rnd = seed >>> 0;
    const random = () => ((rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const clients = Array.from({ length: CLIENTS }, (_, i) => srv.track(openEventSource(`${srv.url}/events?channel=sx&channel=sy&user=storm${i}`)));
    for (const es of clients) await es.nextJson('connected');

    let publishing = true;
    const publisher = (async () => {
      let next = 0;
      const worker = async () => {
        while (next < 2 * N) {
          const i = next++;
          await srv.publish(i % 2 === 0 ? 'sx' : 'sy', i);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      publishing = false;
    })();
    let cuts = 0;
    const cutter = async (i: number) => {
      const es = clients[i]!;
      while (publishing) {
        await new Promise((r) => setTimeout(r, 5 + random() * 40));
        const before = es.ofType('connected').length;
        await srv.api('POST', '/api/disconnect', { user: `storm${i}` });
        cuts++;
        await waitFor(() => es.ofType('connected').length > before, { timeout: 5000, label: `storm${i} to reconnect` });
      }
    };
    await withTimeout(Promise.all([publisher, ...clients.map((_, i) => cutter(i))]), 30_000, `sse storm (seed ${seed})`);

    const expected = Array.from({ length: N }, (_, i) => i + 1);
    for (const [i, es] of clients.entries()) {
      await waitFor(() => pubsOf(es).length >= 2 * N, { timeout: 10_000, label: `storm${i} to receive everything`, describe: () => String(pubsOf(es).length) });
      assert.deepEqual(pubsOf(es, 'sx').map((p) => p.offset), expected, `storm${i} sx (seed ${seed})`);
      assert.deepEqual(pubsOf(es, 'sy').map((p) => p.offset), expected, `storm${i} sy (seed ${seed})`);
      const connects = es.ofType('connected').map(json);
      assert.ok(connects.length >= 3, `storm${i} reconnected ${connects.length - 1} times`);
      assert.deepEqual(connects.slice(1).filter((c) => !c.recovered), [], `storm${i}: every resume recovered`);
    }
    t.diagnostic(`seed ${seed}; ${cuts} cuts; replayed ${clients.map((es) => es.ofType('connected').map(json).reduce((n, c) => n + c.channels[0].missed + c.channels[1].missed, 0)).join(' ')}`);
  });
});

describe('sse: heartbeats', () => {
  it('sends comment heartbeats at sse.heartbeatInterval', async () => {
    const srv = await startServer(['--sse.heartbeatInterval', '100ms']);
    try {
      const r = srv.track(await rawSse(`${srv.url}/events?channel=hb`));
      await r.waitEvent((e) => e.event === 'connected');
      await waitFor(() => r.events.filter((e) => e.comments.includes('ping')).length >= 2, { timeout: 2000, label: 'two heartbeats' });
      const beats = r.events.filter((e) => e.comments.includes('ping'));
      assert.ok(beats.every((e) => e.event === undefined && e.data === undefined));
      assert.ok(r.text.includes('\n: ping\n\n'));
    } finally {
      await srv.close();
    }
  });

  it('beats every open stream at its own interval on the shared wheel, streams opened apart at different times', async () => {
    // 600 ms: a wheel of 12 slots of 50 ms (src/transport/sse-heartbeat.ts). Streams opened ~150 ms apart land in
    // different slots; one closed midway must not stop the others' heartbeats.
    const interval = 600;
    const srv = await startServer(['--sse.heartbeatInterval', `${interval}ms`]);
    try {
      const streams: { beats: number[]; connectedAt: number; close: () => void }[] = [];
      for (let i = 0; i < 5; i++) {
        const r = srv.track(await rawSse(`${srv.url}/events?channel=wheel${i}`));
        const s = { beats: [] as number[], connectedAt: 0, close: () => r.res.destroy() };
        r.res.on('data', (chunk: Buffer) => {
          if (chunk.includes(': ping\n')) s.beats.push(Date.now());
        });
        await r.waitEvent((e) => e.event === 'connected');
        s.connectedAt = Date.now();
        streams.push(s);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      await waitFor(() => streams[1]!.beats.length >= 1, { timeout: 3000, label: 'stream 1 beaten once' });
      streams[1]!.close();
      const open = streams.filter((_, i) => i !== 1);
      await waitFor(() => open.every((s) => s.beats.length >= 4), { timeout: 6000, label: 'four heartbeats on every open stream' });
      // Generous bounds (a shared, loaded machine): no gap near two intervals, no burst of beats.
      for (const [i, s] of open.entries()) {
        const gaps = [s.beats[0]! - s.connectedAt, ...s.beats.slice(1).map((t, k) => t - s.beats[k]!)];
        assert.ok(gaps.every((g) => g <= interval + 400), `stream ${i}: heartbeat gaps ${gaps.join(', ')} ms`);
        assert.ok(gaps.slice(1).every((g) => g >= interval - 250), `stream ${i}: heartbeat gaps ${gaps.join(', ')} ms`);
      }
      // Spread over the interval, not lined up: streams opened ~150 ms apart do not all beat at once.
      const phases = open.map((s) => s.beats[1]! % interval);
      const apart = (a: number, b: number) => Math.min(Math.abs(a - b), interval - Math.abs(a - b));
      assert.ok(phases.some((p) => apart(p, phases[0]!) >= 100), `phases ${phases.join(', ')} ms`);
    } finally {
      await srv.close();
    }
  });

  it('sends visible ping events when sse.heartbeatEvent is true', async () => {
    const srv = await startServer(['--sse.heartbeatInterval', '100ms', '--sse.heartbeatEvent', 'true']);
    try {
      const es = srv.track(openEventSource(`${srv.url}/events?channel=hb`));
      await es.nextJson('connected');
      const ping = await es.next((m) => m.type === 'ping', 2000);
      assert.equal(ping.data, '{}');
      await es.next((m) => m.type === 'ping', 2000);
    } finally {
      await srv.close();
    }
  });
});

describe('sse: CORS', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--cors.origins', 'http://example.test']);
  });
  after(() => srv.close());

  it('allows a listed origin and no other', async () => {
    const ok = srv.track(await rawSse(`${srv.url}/events?channel=cors`, { origin: 'http://example.test' }));
    assert.equal(ok.status, 200);
    assert.equal(ok.res.headers['access-control-allow-origin'], 'http://example.test');
    assert.match(String(ok.res.headers.vary), /Origin/);
    const no = srv.track(await rawSse(`${srv.url}/events?channel=cors`, { origin: 'http://evil.test' }));
    assert.equal(no.status, 200);
    assert.equal(no.res.headers['access-control-allow-origin'], undefined);
    const none = srv.track(await rawSse(`${srv.url}/events?channel=cors`));
    assert.equal(none.res.headers['access-control-allow-origin'], undefined);
    // Errors carry the header too, so a browser can read them.
    const bad = await httpGet(`${srv.url}/events`, { origin: 'http://example.test' });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['access-control-allow-origin'], 'http://example.test');
  });

  it('answers the preflight of a cross-origin fetch reader (Authorization, Last-Event-ID)', async () => {
    const res = await fetch(`${srv.url}/events?channel=cors`, {
      method: 'OPTIONS',
      headers: { origin: 'http://example.test', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, last-event-id' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://example.test');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /\bGET\b/);
    for (const h of ['authorization', 'last-event-id']) assert.match(res.headers.get('access-control-allow-headers') ?? '', new RegExp(h));
    const other = await fetch(`${srv.url}/events`, { method: 'OPTIONS', headers: { origin: 'http://evil.test', 'access-control-request-method': 'GET' } });
    assert.equal(other.status, 204);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});
