/**
 * Delta compression (issue #17; docs/protocol.md, docs/client.md) through the SDK on real WebSockets: a subscription
 * with `delta: 'fossil'` receives fossil deltas of a ticker-like payload (a 2 KB JSON object whose few fields change)
 * that are much smaller on the wire, and hands the app exactly the data a client without delta gets; the first
 * publication after a (re)subscribe and every `delta.fullEvery`-th go in full; each delta is made once per
 * publication, not per subscriber; keyed channels get full payloads. Against a scripted server, a delta made against
 * another base is never delivered: the SDK resubscribes from its position instead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDelta } from 'fossil-delta';
import WebSocket from 'ws';
import { createClient, type Client, type Publication } from '../../src/client/index.js';
import { encodeCounts } from '../../src/delivery/encoded.js';
import { scriptedServer } from '../helpers/sdk.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** A ticker: about 2 KB of JSON of which a few fields change per publication. */
function ticker(i: number): Record<string, unknown> {
  const quotes: Record<string, unknown> = {};
  for (let k = 0; k < 24; k++) quotes[`SYM${k}`] = { name: `Instrument number ${k}`, currency: 'EUR', venue: 'XPAR', lot: 100 };
  return { seq: i, price: Math.round(10_000 + Math.sin(i) * 500) / 100, volume: 1_000_000 + i * 37, time: 1_700_000_000_000 + i * 250, quotes, note: 'ünïcødé ✓' };
}

interface Wire {
  /** Parsed publication pushes as they came off the socket, with their size in bytes. */
  pubs: { push: Record<string, any>; bytes: number }[];
  /** Subscribe commands the SDK sent. */
  subscribes: Record<string, any>[];
  /** Subscribe replies (results with a channel). */
  replies: Record<string, any>[];
}

/** An SDK client whose socket records what crosses it. */
function sdk(srv: TestServer | { url: string }, user: string): { client: Client; wire: Wire } {
  const wire: Wire = { pubs: [], subscribes: [], replies: [] };
  class SpyWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (data: Buffer) => {
        const msg = JSON.parse(String(data));
        if (msg.push === 'publication') wire.pubs.push({ push: msg, bytes: data.length });
        else if (msg.result?.channel !== undefined) wire.replies.push(msg.result);
      });
    }
    override send(data: any, ...rest: any[]): void {
      const cmd = JSON.parse(String(data));
      if (cmd.method === 'subscribe') wire.subscribes.push(cmd.params);
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  }
  const url = 'wsUrl' in srv ? srv.wsUrl : srv.url;
  const client = createClient({ url, params: { user }, minReconnectDelay: 10, maxReconnectDelay: 50, WebSocket: SpyWebSocket as any });
  if ('track' in srv) srv.track({ close: () => client.disconnect() });
  return { client, wire };
}

const FULL_EVERY = 10;

describe('delta compression on a real server', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--delta.fullEvery', String(FULL_EVERY), '--namespaces', JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous', publish: true }, { name: 'tick', subscribe: 'anonymous', publish: true }])]);
  });
  after(() => srv.close());

  it('sends smaller deltas, yields the same data as without, full every delta.fullEvery, one delta per publication', async () => {
    const N = 35;
    const a = sdk(srv, 'delta-a');
    const b = sdk(srv, 'delta-b');
    const plain = sdk(srv, 'plain');
    const got = new Map<string, Publication[]>();
    for (const [name, c, delta] of [['a', a, true], ['b', b, true], ['plain', plain, false]] as const) {
      const list: Publication[] = [];
      got.set(name, list);
      c.client.subscribe('tick:acme', delta ? { delta: 'fossil' } : {}).on('publication', (p) => list.push(p));
      c.client.connect();
      await c.client.getSubscription('tick:acme')!.ready();
    }
    assert.equal(a.wire.replies[0]!.delta, 'fossil', 'the reply says delta compression is on');
    assert.equal(plain.wire.replies[0]!.delta, undefined);
    const deltasBefore = encodeCounts.delta;
    for (let i = 1; i <= N; i++) await srv.publish('tick:acme', ticker(i));
    await waitFor(() => [...got.values()].every((l) => l.length === N), { label: 'every publication', describe: () => [...got.values()].map((l) => l.length).join(',') });

    const expected = Array.from({ length: N }, (_, i) => ticker(i + 1));
    for (const [name, list] of got) {
      assert.deepEqual(list.map((p) => p.data), expected, `${name}: the data as published`);
      assert.deepEqual(list.map((p) => p.offset), expected.map((_, i) => i + 1));
    }
    assert.deepEqual(got.get('a')!, got.get('plain')!, 'the delta client sees exactly what the plain one does');

    // Full payloads: the first after subscribing, then every FULL_EVERY-th; the rest are deltas.
    const fullAt = a.wire.pubs.map((p, i) => (p.push.delta === true ? -1 : i)).filter((i) => i >= 0);
    assert.deepEqual(fullAt, [0, 10, 20, 30]);
    assert.ok(plain.wire.pubs.every((p) => p.push.delta === undefined && typeof p.push.payload === 'object'));
    const deltaBytes = a.wire.pubs.filter((p) => p.push.delta === true).map((p) => p.bytes);
    const plainBytes = plain.wire.pubs.map((p) => p.bytes);
    const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(avg(plainBytes) > 2000, `a ticker frame is about 2 KB (${avg(plainBytes)})`);
    assert.ok(avg(deltaBytes) * 4 < avg(plainBytes), `a delta frame (${avg(deltaBytes)} B) is under a quarter of a full one (${avg(plainBytes)} B)`);
    // Two delta subscribers at the same position share each delta: one build per publication that went as a delta.
    assert.equal(encodeCounts.delta - deltasBefore, deltaBytes.length);
    assert.deepEqual(b.wire.pubs.map((p) => p.bytes), a.wire.pubs.map((p) => p.bytes));
    // No repair was ever needed: one subscribe each.
    assert.equal(a.wire.subscribes.length, 1);
    assert.equal(a.wire.subscribes[0]!.delta, 'fossil');
  });

  it('resumes with full payloads, then deltas again, with nothing lost', async () => {
    const c = sdk(srv, 'resumer');
    const list: Publication[] = [];
    c.client.subscribe('tick:resume', { delta: 'fossil' }).on('publication', (p) => list.push(p));
    c.client.connect();
    await c.client.getSubscription('tick:resume')!.ready();
    for (let i = 1; i <= 5; i++) await srv.publish('tick:resume', ticker(i));
    await waitFor(() => list.length === 5, { label: 'first five' });
    await srv.api('POST', '/api/disconnect', { user: 'resumer', code: 4000 });
    await waitFor(() => c.client.state !== 'connected', { label: 'dropped' });
    for (let i = 6; i <= 8; i++) await srv.publish('tick:resume', ticker(i));
    await waitFor(() => c.wire.subscribes.length === 2 && c.client.getSubscription('tick:resume')!.state === 'subscribed', { label: 'resubscribed' });
    for (let i = 9; i <= 12; i++) await srv.publish('tick:resume', ticker(i));
    await waitFor(() => list.length === 12, { label: 'all twelve', describe: () => String(list.length) });
    assert.deepEqual(list.map((p) => p.data), Array.from({ length: 12 }, (_, i) => ticker(i + 1)));
    assert.deepEqual(c.wire.subscribes[1]!.since, { epoch: list[0]!.epoch, offset: 5 });
    // Before the drop: full, then deltas. After it, the first (6, replayed) is full; live deltas follow (7 and 8 went
    // in the replay, in full, or live, as deltas, depending on when the client was back).
    const isDelta = c.wire.pubs.map((p) => p.push.delta === true);
    assert.deepEqual(isDelta.slice(0, 6), [false, true, true, true, true, false]);
    assert.deepEqual(isDelta.slice(8), [true, true, true, true]);
    assert.equal(c.wire.pubs[5]!.push.offset, 6);
  });

  it('keyed channels get full payloads, and the reply says no delta', async () => {
    const c = sdk(srv, 'keyed');
    const list: Publication[] = [];
    c.client.subscribe('kv:book', { delta: 'fossil', snapshot: false }).on('publication', (p) => list.push(p));
    c.client.connect();
    await c.client.getSubscription('kv:book')!.ready();
    for (let i = 1; i <= 4; i++) assert.equal((await srv.api('POST', '/api/publish', { channel: 'kv:book', data: ticker(i), key: 'acme' })).status, 200);
    await waitFor(() => list.length === 4, { label: 'keyed publications' });
    assert.equal(c.wire.replies[0]!.delta, undefined);
    assert.ok(c.wire.pubs.every((p) => p.push.delta === undefined));
    assert.deepEqual(list.map((p) => p.data), [1, 2, 3, 4].map(ticker));
  });

  it('refuses a delta other than "fossil" with bad_request', async () => {
    const ws = new WebSocket(srv.wsUrl + '?user=raw');
    srv.track({ close: () => ws.close() });
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: 'tick:x', delta: 'xdelta' } }));
    await waitFor(() => frames.some((f) => f.id === 1), { label: 'reply' });
    assert.deepEqual(frames.find((f) => f.id === 1).error, { code: 'bad_request', message: '"delta" must be "fossil"' });
  });
});

describe('delta compression: the SDK against a scripted server', () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const deltaOf = (from: unknown, to: unknown) => Buffer.from(createDelta(enc(from), enc(to))).toString('latin1');
  const pub = (offset: number, payload: unknown, delta = false) => ({
    push: 'publication', channel: 'c', type: 'message', payload, ...(delta ? { delta: true } : {}), epoch: 'e', offset, timestamp: new Date(0).toISOString(),
  });

  it('applies a delta made against the payload it holds, and resubscribes instead of delivering one made against another', async () => {
    const server = await scriptedServer((conn) => {
      conn.send({ push: 'connected', client: 'x', user: 'u', version: 't', protocol: 1, ping: 0 });
      conn.ws.on('message', (data) => {
        const cmd = JSON.parse(String(data));
        if (cmd.method !== 'subscribe') return;
        const since = cmd.params.since;
        conn.send({ id: cmd.id, result: { channel: 'c', epoch: 'e', offset: since?.offset ?? 0, recovered: since !== undefined, missed: 0, delta: 'fossil' } });
        conn.send({ push: 'caught_up', channel: 'c', epoch: 'e', offset: since?.offset ?? 0 });
        if (since) return conn.send(pub(3, { v: 3 })); // the replay: in full
        conn.send(pub(1, { v: 1, text: 'x'.repeat(100) }));
        conn.send(pub(2, deltaOf({ v: 1, text: 'x'.repeat(100) }, { v: 2, text: 'x'.repeat(100) }), true));
        // Made against a payload the client never had, of the same length: the copies read the base's `z`s where
        // the client holds `x`s, and only the checksum tells.
        conn.send(pub(3, deltaOf({ v: 2, text: 'z'.repeat(100) }, { v: 3, text: 'z'.repeat(99) + 'q' }), true));
      });
    });
    try {
      const { client } = sdk({ url: server.url }, 'u');
      const list: Publication[] = [];
      client.subscribe('c', { delta: 'fossil' }).on('publication', (p) => list.push(p));
      client.connect();
      await waitFor(() => list.length === 3, { label: 'three publications', describe: () => JSON.stringify(list.map((p) => p.data)) });
      assert.deepEqual(list.map((p) => p.data), [{ v: 1, text: 'x'.repeat(100) }, { v: 2, text: 'x'.repeat(100) }, { v: 3 }]);
      const subscribes = server.connections[0]!.received.filter((f) => f.method === 'subscribe');
      assert.equal(subscribes.length, 2, 'the bad delta made the SDK resubscribe');
      assert.deepEqual(subscribes[1].params, { channel: 'c', since: { epoch: 'e', offset: 2 }, delta: 'fossil' });
      client.disconnect();
    } finally {
      await server.close();
    }
  });
});
