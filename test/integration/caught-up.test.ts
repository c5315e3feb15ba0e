/**
 * The `caught_up` push (docs/protocol.md, "Pushes"): after every native subscribe the server says, in the same
 * ordered stream, where the catch-up ended — reply, then replayed or snapshot publications, then `caught_up` with
 * the client's position, then live publications starting at exactly that offset + 1. Raw WebSocket frames and raw
 * SSE bytes; also the SSE `snapshot=false` opt-out, and the seed vocabularies, which are sent no such push.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Session } from '../../src/session/session.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { httpGet, rawSse, type RawEvent, type RawSse } from '../helpers/sse-client.js';
import { tombstonesExpired } from '../helpers/keyed-client.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';
import { nodeOf } from '../../src/server.js';

const NAMESPACES = JSON.stringify([
  { name: 'kv', keyed: true, subscribe: 'anonymous', publish: true, historySize: 3 },
  { name: 'gone', keyed: true, subscribe: 'anonymous', publish: true, historySize: 1, tombstoneTtl: '200ms' },
  { name: 'plain', subscribe: 'anonymous', publish: true },
]);

/** The server's session of connection `id` (its subscriptions show how far a catch-up got). */
function sessionOf(srv: TestServer, id: string): Session | undefined {
  return nodeOf(srv.sb).hub.all().find((s): s is Session => s.id === id && s instanceof Session);
}

/** Frames of `channel` that matter for the order: the reply to `id`, its publications and its `caught_up`. */
function streamOf(c: WsClient, channel: string, id: number | string): Frame[] {
  return c.messages.filter((m) => m.id === id || ((m.push === 'publication' || m.push === 'caught_up') && m.channel === channel));
}

/** SSE events as parsed JSON with their name and id, heartbeats and comments left out. */
function sseJson(s: RawSse): { event: string; id?: string; json: Frame }[] {
  return s.events.filter((e: RawEvent) => e.event !== undefined && e.data !== undefined).map((e) => ({ event: e.event!, id: e.id, json: JSON.parse(e.data!) }));
}

describe('caught_up after every catch-up', () => {
  let srv: TestServer;
  let n = 0;
  const put = async (channel: string, key: string, data: unknown, op?: 'delete') => {
    const r = await srv.api('POST', '/api/publish', op ? { channel, key, op } : { channel, key, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { epoch: string; offset: number };
  };
  async function client(): Promise<WsClient> {
    const { client: c } = await connectReady(`${srv.wsUrl}?user=cu${++n}`);
    return srv.track(c);
  }

  before(async () => {
    // Pages of 4 entries; a small queue so a snapshot of large values is paced by the reader (the client below
    // stops reading mid-snapshot to let keys change while it streams).
    srv = await startServer(['--namespaces', NAMESPACES, '--keyed.pageSize', '4', '--client.queueMaxBytes', '65536']);
  });
  after(() => srv.close());

  it('WebSocket keyed snapshot: reply, entries (skipping, past the reply offset too), caught_up at the top, then live +1', async () => {
    const ch = 'kv:multi';
    // 160 values of 48 KB (7.7 MB): more than loopback socket buffers hold (a 4 MB send buffer at most), so with
    // this client not reading, the server's queue fills and the snapshot waits mid-way.
    const pad = 'x'.repeat(48_000);
    for (let i = 0; i < 160; i++) await put(ch, `k${i}`, { v: 0, pad });
    const c = await client();
    c.socket.pause();
    c.send({ id: 'sub', method: 'subscribe', params: { channel: ch } });
    // The changes below must come after the snapshot's first page was read (the reply's offset is that page's top):
    // the server's subscription has its epoch from then on.
    const id = c.messages.find((m) => m.push === 'connected')!.client as string;
    await waitFor(() => (sessionOf(srv, id)?.subscriptions.get(ch)?.epoch ?? '') !== '', { label: 'the first snapshot page read' });
    // Keys of the first pages change while the rest streams: they come again, above the reply's offset.
    for (let i = 0; i < 8; i++) await put(ch, `k${i}`, { v: 1 });
    await put(ch, 'k159', null, 'delete');
    c.socket.resume();
    const cu = await c.nextPush((m) => m.push === 'caught_up' && m.channel === ch, 15_000);
    const live = await put(ch, 'k0', { v: 2 });
    await c.nextPush((m) => m.push === 'publication' && m.offset === live.offset, 5000);

    const frames = streamOf(c, ch, 'sub');
    const reply = frames[0]!.result;
    assert.equal(frames[0]!.id, 'sub', 'the reply comes first');
    assert.deepEqual([reply.snapshot, reply.recovered, reply.offset], ['full', false, 160]);
    const at = frames.indexOf(cu);
    const entries = frames.slice(1, at);
    const after = frames.slice(at + 1);
    assert.ok(entries.every((m) => m.push === 'publication'), 'only entries between the reply and caught_up');
    const offsets = entries.map((m) => m.offset);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), 'entries in offset order');
    assert.ok(offsets.some((o) => o > reply.offset), `entries of keys changed meanwhile come above the reply offset: ${offsets.slice(-12)}`);
    assert.deepEqual([cu.epoch, cu.offset], [reply.epoch, 169], 'caught_up at the top: every change made meanwhile');
    assert.ok(cu.offset >= offsets.at(-1)!);
    assert.deepEqual(Object.keys(cu), ['push', 'channel', 'epoch', 'offset']);
    assert.deepEqual(after.map((m) => [m.push, m.offset]), [['publication', cu.offset + 1]], 'the next publication is exactly offset + 1');
    const state = new Map<string, unknown>();
    for (const m of entries) {
      if (m.op === 'delete') state.delete(m.key);
      else state.set(m.key, m.payload.v);
    }
    assert.equal(state.size, 159);
    assert.equal(state.get('k3'), 1);
  });

  it('WebSocket keyed channel with an empty state and a non-zero offset: caught_up at once, no entries', async () => {
    const ch = 'gone:empty';
    await put(ch, 'a', 1);
    await put(ch, 'a', null, 'delete');
    await tombstonesExpired(srv, ch, 2); // the tombstone (200 ms) expired: nothing left to send
    const st = await srv.api('GET', `/api/state?channel=${ch}`);
    assert.deepEqual([st.body.publications.length, st.body.offset], [0, 2]);
    const c = await client();
    const reply = await c.call('subscribe', { channel: ch });
    const cu = await c.nextPush((m) => m.push === 'caught_up');
    assert.deepEqual([reply.snapshot, reply.offset, cu.offset, cu.epoch], ['full', 2, 2, reply.epoch]);
    assert.equal(c.pushes.filter((m) => m.push === 'publication').length, 0);
  });

  it('WebSocket history replay and a plain fresh subscribe: caught_up at the last offset sent', async () => {
    const ch = 'plain:r';
    const a = await client();
    const fresh = await a.call('subscribe', { channel: ch });
    const cu0 = await a.nextPush((m) => m.push === 'caught_up');
    assert.deepEqual([cu0.channel, cu0.epoch, cu0.offset], [ch, fresh.epoch, fresh.offset]);
    const p1 = await srv.publish(ch, 1);
    await srv.publish(ch, 2);
    await srv.publish(ch, 3);
    await a.nextPush((m) => m.push === 'publication' && m.offset === 3);
    assert.equal(a.pushes.filter((m) => m.push === 'caught_up').length, 1, 'one caught_up per subscribe');

    const b = await client();
    b.send({ id: 'r', method: 'subscribe', params: { channel: ch, since: { epoch: p1.epoch, offset: 1 } } });
    const cu = await b.nextPush((m) => m.push === 'caught_up');
    await srv.publish(ch, 4);
    await b.nextPush((m) => m.push === 'publication' && m.offset === 4);
    const frames = streamOf(b, ch, 'r');
    assert.deepEqual([frames[0]!.result.recovered, frames[0]!.result.missed], [true, 2]);
    assert.deepEqual(frames.slice(1).map((m) => [m.push, m.offset]), [['publication', 2], ['publication', 3], ['caught_up', 3], ['publication', 4]]);
    assert.equal(cu.offset, 3);
  });

  it('WebSocket keyed delta and snapshot: false end with caught_up too', async () => {
    const ch = 'kv:delta';
    for (const k of ['a', 'b', 'c']) await put(ch, k, 0);
    const first = await client();
    await first.call('subscribe', { channel: ch });
    const cu1 = await first.nextPush((m) => m.push === 'caught_up');
    for (let i = 1; i <= 6; i++) await put(ch, 'a', i); // past history (3): a delta
    const second = await client();
    second.send({ id: 'd', method: 'subscribe', params: { channel: ch, since: { epoch: cu1.epoch, offset: cu1.offset } } });
    const cu2 = await second.nextPush((m) => m.push === 'caught_up');
    const frames = streamOf(second, ch, 'd');
    assert.equal(frames[0]!.result.snapshot, 'delta');
    assert.deepEqual(frames.slice(1).map((m) => [m.push, m.key, m.offset]), [['publication', 'a', 9], ['caught_up', undefined, 9]]);
    assert.equal(cu2.offset, 9);

    const live = await client();
    const r = await live.call('subscribe', { channel: ch, snapshot: false });
    const cu3 = await live.nextPush((m) => m.push === 'caught_up');
    assert.deepEqual([r.snapshot, cu3.offset], [undefined, 9]);
  });

  it('seed vocabularies get no caught_up push', async () => {
    const c = await client();
    c.send({ type: 'join_room', payload: { room_id: 'plain:seed' } });
    c.send({ action: 'ping' });
    await c.next((m) => m.action === 'pong'); // commands run in order: join_room is done
    await srv.publish('plain:seed', 'hi');
    await c.nextPush((m) => m.push === 'publication' && m.channel === 'plain:seed');
    c.send({ action: 'chat', data: 'yo' });
    await c.nextPush((m) => m.push === 'publication' && m.type === 'chat');
    assert.deepEqual(c.messages.filter((m) => m.push === 'caught_up'), []);
  });

  it('refuses caught_up as a publication event name', async () => {
    const r = await srv.api('POST', '/api/publish', { channel: 'plain:x', event: 'caught_up', data: 1 });
    assert.deepEqual([r.status, r.body.error.code], [400, 'invalid_event']);
  });

  it('SSE: connected, entries, a caught_up event per channel without an id, then live', async () => {
    const kv = 'kv:sse';
    for (let i = 0; i < 6; i++) await put(kv, `k${i}`, i);
    const plain = 'plain:sse';
    const top = await srv.publish(plain, 'before');
    const s = srv.track(await rawSse(`${srv.url}/events?channel=${kv}&channel=${plain}&user=s1`));
    await s.waitEvent((e) => e.event === 'caught_up' && e.data!.includes(`"${plain}"`), 5000);
    const live = await srv.publish(plain, 'after');
    await s.waitEvent((e) => e.data?.includes('"payload":"after"') === true);
    const ev = sseJson(s);
    assert.equal(ev[0]!.event, 'connected');
    const raw = s.events.filter((e) => e.event === 'caught_up');
    assert.equal(raw.length, 2);
    assert.ok(raw.every((e) => e.id === undefined), 'caught_up has no id: Last-Event-ID stays the last publication');
    assert.deepEqual(ev.slice(1).map((e) => [e.event, e.json.channel, e.json.offset]), [
      ...[1, 2, 3, 4, 5, 6].map((o) => ['message', kv, o]),
      ['caught_up', kv, 6],
      ['caught_up', plain, top.offset],
      ['message', plain, live.offset],
    ]);
    assert.deepEqual(ev.find((e) => e.event === 'caught_up')!.json, { push: 'caught_up', channel: kv, epoch: ev[0]!.json.channels[0].epoch, offset: 6 });
  });

  it('SSE snapshot=false: keyed channels without a position start live; a resume still gets its delta', async () => {
    const ch = 'kv:optout';
    for (let i = 0; i < 5; i++) await put(ch, `k${i}`, i);
    const s = srv.track(await rawSse(`${srv.url}/events?channel=${ch}&user=s2&snapshot=false`));
    const cu = await s.waitEvent((e) => e.event === 'caught_up');
    const live = await put(ch, 'k0', 'new');
    await s.waitEvent((e) => e.id === `${live.epoch}:${live.offset}`);
    const ev = sseJson(s);
    const connected = ev[0]!.json.channels[0];
    assert.deepEqual([connected.recovered, connected.snapshot, connected.offset], [false, undefined, 5]);
    assert.equal(JSON.parse(cu.data!).offset, 5);
    assert.deepEqual(ev.slice(1).map((e) => [e.event, e.json.offset]), [['caught_up', 5], ['message', 6]], 'no state, only live');
    s.close();

    for (let i = 1; i <= 4; i++) await put(ch, 'k1', i); // past history (3)
    const r = srv.track(await rawSse(`${srv.url}/events?channel=${ch}&user=s2&snapshot=false`, { 'last-event-id': `${live.epoch}:${live.offset}` }));
    await r.waitEvent((e) => e.event === 'caught_up');
    const ev2 = sseJson(r);
    assert.deepEqual([ev2[0]!.json.channels[0].recovered, ev2[0]!.json.channels[0].snapshot], [true, 'delta']);
    assert.deepEqual(ev2.slice(1).map((e) => [e.event, e.json.key, e.json.offset]), [['message', 'k1', 10], ['caught_up', undefined, 10]]);

    const full = srv.track(await rawSse(`${srv.url}/events?channel=${ch}&user=s2&snapshot=true`));
    await full.waitEvent((e) => e.event === 'caught_up');
    assert.equal(sseJson(full)[0]!.json.channels[0].snapshot, 'full');
  });

  it('SSE refuses a snapshot parameter that is not true or false', async () => {
    const r = await httpGet(`${srv.url}/events?channel=kv:x&user=s3&snapshot=no`);
    assert.deepEqual([r.status, r.body.error.code, r.body.error.message], [400, 'bad_request', 'snapshot must be true or false']);
  });
});
