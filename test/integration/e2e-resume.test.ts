/**
 * Gap-free resume over WebSocket: a client that comes back with `since` gets exactly what it missed, once, in order,
 * even while the channel is being published to; and it is told when that is impossible.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const isPub = (channel: string) => (m: Frame) => m.push === 'publication' && m.channel === channel;

async function client(srv: TestServer): Promise<WsClient> {
  const { client: c } = await connectReady(srv.wsUrl);
  return srv.track(c);
}

/** Publications of `channel` received after the reply to request `replyId`, in order. */
function pubsAfterReply(c: WsClient, channel: string, replyId: number | string): Frame[] {
  const i = c.messages.findIndex((m) => m.id === replyId);
  assert.ok(i >= 0, 'reply received');
  return c.messages.slice(i + 1).filter(isPub(channel));
}

describe('resume: replay of missed publications', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('replays exactly the missed publications in order after the reply, then goes live', async () => {
    const a = await client(srv);
    const sub = await a.call('subscribe', { channel: 'r1' });
    for (let i = 1; i <= 3; i++) await srv.publish('r1', { i });
    const seen = [await a.nextPush(isPub('r1')), await a.nextPush(isPub('r1')), await a.nextPush(isPub('r1'))];
    assert.deepEqual(seen.map((m) => m.offset), [1, 2, 3]);
    const last = { epoch: seen[2]!.epoch, offset: seen[2]!.offset };
    assert.equal(last.epoch, sub.epoch);
    await a.close();

    const N = 7;
    for (let i = 4; i < 4 + N; i++) await srv.publish('r1', { i });

    const b = await client(srv);
    b.send({ id: 'resume', method: 'subscribe', params: { channel: 'r1', since: last } });
    const reply = await b.next((m) => m.id === 'resume');
    assert.deepEqual(reply.result, { channel: 'r1', epoch: sub.epoch, offset: 3 + N, recovered: true, missed: N });
    await waitFor(() => pubsAfterReply(b, 'r1', 'resume').length >= N, { label: 'replay' });
    await srv.publish('r1', { i: 'live' });
    const live = await b.nextPush((m) => isPub('r1')(m) && m.payload.i === 'live');
    assert.equal(live.offset, 4 + N);
    const got = pubsAfterReply(b, 'r1', 'resume');
    assert.deepEqual(got.map((m) => m.offset), [4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(got.map((m) => m.payload.i), [4, 5, 6, 7, 8, 9, 10, 'live']);
    // Nothing arrived before the reply.
    assert.equal(b.messages.slice(0, b.messages.indexOf(reply)).filter(isPub('r1')).length, 0);
  });

  it('resumes with nothing missed (since = top) as recovered with missed 0', async () => {
    const a = await client(srv);
    await a.call('subscribe', { channel: 'r2' });
    const pos = await srv.publish('r2', 1);
    await a.nextPush(isPub('r2'));
    await a.close();
    const b = await client(srv);
    const r = await b.call('subscribe', { channel: 'r2', since: { epoch: pos.epoch, offset: pos.offset } });
    assert.deepEqual(r, { channel: 'r2', epoch: pos.epoch, offset: 1, recovered: true, missed: 0 });
    await srv.publish('r2', 2);
    assert.equal((await b.nextPush(isPub('r2'))).offset, 2);
    assert.equal(b.pushes.filter(isPub('r2')).length, 1);
  });
});

describe('resume under concurrent publishing', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '5000']);
  });
  after(() => srv.close());

  it('loses and duplicates nothing while 5 clients disconnect at random moments', async (t) => {
    const CHANNEL = 'storm';
    const N = 1500;
    const IN_FLIGHT = 4;
    const CLIENTS = 5;
    const seed = Date.now();
    let rnd = seed >>> 0;
    const random = () => ((rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0) / 2 ** 32);

    // Everyone learns the stream position before the first publication.
    const states: { pos: { epoch: string; offset: number }; offsets: number[]; payloads: number[]; violations: string[]; reconnects: number; replayed: number }[] = [];
    const first: WsClient[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const c = await client(srv);
      const r = await c.call('subscribe', { channel: CHANNEL });
      states.push({ pos: { epoch: r.epoch, offset: r.offset }, offsets: [], payloads: [], violations: [], reconnects: 0, replayed: 0 });
      first.push(c);
    }
    for (const c of first) await c.close();

    let published = 0;
    let publishing = true;
    const publisher = (async () => {
      let next = 1;
      const worker = async () => {
        while (next <= N) {
          const n = next++;
          await srv.publish(CHANNEL, n);
          published++;
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      publishing = false;
    })();

    const runClient = async (s: (typeof states)[number]) => {
      for (;;) {
        const c = await client(srv);
        c.ws.on('message', (data: Buffer) => {
          const m = JSON.parse(data.toString()) as Frame;
          if (m.push !== 'publication' || m.channel !== CHANNEL) return;
          if (m.epoch !== s.pos.epoch || m.offset !== s.pos.offset + 1) s.violations.push(`got ${m.epoch}:${m.offset} at ${s.pos.epoch}:${s.pos.offset}`);
          s.pos = { epoch: m.epoch, offset: m.offset };
          s.offsets.push(m.offset);
          s.payloads.push(m.payload);
        });
        const since = { ...s.pos };
        const r = await c.call('subscribe', { channel: CHANNEL, since }, 5000);
        if (!r.recovered) s.violations.push(`not recovered from ${JSON.stringify(since)}: ${JSON.stringify(r)}`);
        if (r.missed !== r.offset - since.offset) s.violations.push(`missed ${r.missed} but top ${r.offset} - since ${since.offset}`);
        s.replayed += r.missed;
        if (!publishing && published === N) {
          await waitFor(() => s.offsets.length >= N, { timeout: 10_000, label: 'the last publications', describe: () => `${s.offsets.length}/${N}` });
          await c.close();
          return;
        }
        // Stay a random while (a few ms up to ~40 ms), then drop: half the time abruptly, half with a close frame.
        await new Promise((r) => setTimeout(r, 2 + random() * 40));
        if (random() < 0.5) await c.terminate();
        else await c.close();
        s.reconnects++;
      }
    };

    await withTimeout(Promise.all([publisher, ...states.map(runClient)]), 30_000, `storm (seed ${seed})`);
    const expected = Array.from({ length: N }, (_, i) => i + 1);
    for (const [i, s] of states.entries()) {
      assert.deepEqual(s.violations, [], `client ${i} (seed ${seed})`);
      assert.deepEqual(s.offsets, expected, `client ${i} offsets (seed ${seed})`);
      assert.deepEqual([...s.payloads].sort((a, b) => a - b), expected, `client ${i} payloads`);
      assert.ok(s.reconnects >= 3, `client ${i} reconnected ${s.reconnects} times`);
    }
    t.diagnostic(`seed ${seed}; reconnects/replayed per client: ${states.map((s) => `${s.reconnects}/${s.replayed}`).join(' ')}`);
    // The test really exercised replay.
    assert.ok(states.reduce((n, s) => n + s.replayed, 0) > 0, 'some publications were replayed');
  });
});

describe('resume: when it cannot recover', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '3']);
  });
  after(() => srv.close());

  it('says too_old for a position older than history and replays nothing', async () => {
    const a = await client(srv);
    const sub = await a.call('subscribe', { channel: 'old' });
    await srv.publish('old', 1);
    const p1 = await a.nextPush(isPub('old'));
    await a.close();
    for (let i = 2; i <= 6; i++) await srv.publish('old', i); // history keeps 4, 5, 6

    const b = await client(srv);
    const r = await b.call('subscribe', { channel: 'old', since: { epoch: p1.epoch, offset: p1.offset } });
    assert.deepEqual(r, { channel: 'old', epoch: sub.epoch, offset: 6, recovered: false, reason: 'too_old', missed: 0 });
    await srv.publish('old', 7);
    const live = await b.nextPush(isPub('old'));
    assert.equal(live.offset, 7);
    assert.deepEqual(b.pushes.filter(isPub('old')).map((m) => m.offset), [7]);

    // The oldest position history can still complete is recovered: since 3 needs 4..6, all kept (4..7 now: since 4).
    const c = await client(srv);
    const ok = await c.call('subscribe', { channel: 'old', since: { epoch: sub.epoch, offset: 4 } });
    assert.deepEqual(ok, { channel: 'old', epoch: sub.epoch, offset: 7, recovered: true, missed: 3 });
    await waitFor(() => c.pushes.filter(isPub('old')).length === 3, { label: 'replay of 5..7' });
    assert.deepEqual(c.pushes.filter(isPub('old')).map((m) => m.offset), [5, 6, 7]);
    const d = await client(srv);
    const tooOld = await d.call('subscribe', { channel: 'old', since: { epoch: sub.epoch, offset: 3 } });
    assert.equal(tooOld.recovered, false);
    assert.equal(tooOld.reason, 'too_old');
  });

  it('says epoch_changed for another epoch', async () => {
    const a = await client(srv);
    const pos = await srv.publish('ep', 1);
    const r = await a.call('subscribe', { channel: 'ep', since: { epoch: pos.epoch === 'deadbeef' ? 'cafebabe' : 'deadbeef', offset: 1 } });
    assert.deepEqual(r, { channel: 'ep', epoch: pos.epoch, offset: 1, recovered: false, reason: 'epoch_changed', missed: 0 });
    await srv.publish('ep', 2);
    assert.deepEqual((await a.nextPush(isPub('ep'))).offset, 2);
  });

  it('says future_position for a position beyond the top', async () => {
    const a = await client(srv);
    const pos = await srv.publish('fut', 1);
    const r = await a.call('subscribe', { channel: 'fut', since: { epoch: pos.epoch, offset: 100 } });
    assert.deepEqual(r, { channel: 'fut', epoch: pos.epoch, offset: 1, recovered: false, reason: 'future_position', missed: 0 });
    await srv.publish('fut', 2);
    const live = await a.nextPush(isPub('fut'));
    assert.equal(live.offset, 2, 'delivery continues from the real top, not from the claimed position');
  });
});

describe('resume: history age expiry', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.ttl', '200ms']);
  });
  after(() => srv.close());

  it('does not recover once the missed publications have expired', async () => {
    const a = await client(srv);
    await a.call('subscribe', { channel: 'ttl' });
    const pos = await srv.publish('ttl', 1);
    await a.nextPush(isPub('ttl'));
    await a.close();
    await srv.publish('ttl', 2);
    await srv.publish('ttl', 3);
    // Wait (bounded) until the server's history says the publications are gone.
    await waitFor(async () => (await srv.api('GET', '/api/history?channel=ttl')).body.publications.length === 0, { timeout: 3000, interval: 25, label: 'history expiry' });
    const b = await client(srv);
    const r = await b.call('subscribe', { channel: 'ttl', since: { epoch: pos.epoch, offset: 1 } });
    assert.equal(r.recovered, false);
    assert.equal(r.reason, 'too_old');
    assert.equal(r.missed, 0);
    assert.equal(r.offset, 3);
    await srv.publish('ttl', 4);
    assert.deepEqual((await b.nextPush(isPub('ttl'))).offset, 4);
    assert.deepEqual(b.pushes.filter(isPub('ttl')).map((m) => m.offset), [4]);
  });
});
