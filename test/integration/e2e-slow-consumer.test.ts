/**
 * Slow consumers: a client that stops reading is disconnected once its bounded outbound queue
 * (`client.queueMaxBytes`) would overflow, while a fast client on the same channel receives everything, in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { openEventSource, rawSse } from '../helpers/sse-client.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame } from '../helpers/ws-client.js';
import { nodeOf } from '../../src/server.js';

const QUEUE = 65536;
/** At least ~2 MB in ~1 KB publications... */
const MIN_COUNT = 2000;
/**
 * ...and more until the slow client is dropped: before the server's queue fills, the kernel's socket buffers on both
 * ends absorb what the paused reader does not take (measured 1-4 MB on Linux loopback, with send-buffer autotuning
 * up to net.ipv4.tcp_wmem's max of 4 MB). Past this cap the test fails.
 */
const MAX_COUNT = 16_000;
const PAD = 'x'.repeat(1000);
/** Publications allowed ahead of the fast client (32 KB: inside its 64 KB queue, so only the slow one overflows). */
const WINDOW = 32;

/**
 * Publishes in-process, never more than WINDOW ahead of what the fast client has received, until at least MIN_COUNT
 * are out and `slowGone()` holds. Returns how many were published.
 */
async function publishPaced(srv: TestServer, channel: string, fastCount: () => number, slowGone: () => boolean): Promise<number> {
  let n = 0;
  while (n < MAX_COUNT && (n < MIN_COUNT || !slowGone())) {
    n++;
    if (n - fastCount() > WINDOW) await waitFor(() => n - fastCount() <= WINDOW, { timeout: 5000, label: `fast client to catch up at ${n}`, interval: 1 });
    await srv.sb.publish(channel, { n, pad: PAD });
  }
  return n;
}

/** Connections of `user` the server still knows (hub index, as /api/online reports). */
const connectionsOf = (srv: TestServer, user: string) => nodeOf(srv.sb).hub.connectionsOf(user);

async function healthy(srv: TestServer): Promise<void> {
  const r = await srv.api('GET', '/healthz');
  assert.equal(r.status, 200);
  const ready = await srv.api('GET', '/readyz');
  assert.equal(ready.status, 200);
}

describe('slow consumer: websocket', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--client.queueMaxBytes', String(QUEUE)]);
  });
  after(() => srv.close());

  it('disconnects a client that stops reading with 4001; the fast client gets every publication in order', async (t) => {
    const { client: fast } = await connectReady(`${srv.wsUrl}?user=fast`);
    srv.track(fast);
    const { client: slow } = await connectReady(`${srv.wsUrl}?user=slow`);
    srv.track(slow);
    await fast.call('subscribe', { channel: 'firehose' });
    await slow.call('subscribe', { channel: 'firehose' });
    const fastOffsets: number[] = [];
    fast.ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Frame;
      if (m.push === 'publication') fastOffsets.push(m.offset);
    });
    assert.equal((await srv.stats()).connectionsByTransport.websocket, 2);

    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
    const COUNT = await publishPaced(srv, 'firehose', () => fastOffsets.length, () => connectionsOf(srv, 'slow') === 0);
    t.diagnostic(`published ${COUNT} publications of ~1 KB`);

    await waitFor(() => fastOffsets.length === COUNT, { timeout: 10_000, label: 'fast client to get everything', describe: () => `${fastOffsets.length}/${COUNT}` });
    assert.deepEqual(fastOffsets, Array.from({ length: COUNT }, (_, i) => i + 1));

    // Server side, the slow one is gone from the hub.
    const stats = await waitFor(async () => {
      const s = await srv.stats();
      return s.connectionsByTransport.websocket === 1 ? s : undefined;
    }, { label: 'the slow client to be dropped' });
    assert.equal(stats.users, 1);
    const online = await srv.api('GET', '/api/online');
    assert.deepEqual(online.body.users.map((u: Frame) => u.user), ['fast']);

    // When it reads again, it finds the close frame: 4001 "slow".
    slow.socket.resume();
    const closed = await slow.waitClosed(5000);
    assert.deepEqual(closed, { code: 4001, reason: 'slow' });
    const slowGot = slow.messages.filter((m) => m.push === 'publication').length;
    t.diagnostic(`slow client received ${slowGot} of ${COUNT} before the disconnect`);
    assert.ok(slowGot < COUNT);

    // The server carries on.
    await healthy(srv);
    assert.deepEqual(await fast.call('ping'), {});
  });
});

describe('slow consumer: sse', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--client.queueMaxBytes', String(QUEUE)]);
  });
  after(() => srv.close());

  it('ends a stream that is not read; the fast stream gets every publication in order', async (t) => {
    const fast = srv.track(openEventSource(`${srv.url}/events?channel=firehose&user=fast`));
    await fast.nextJson('connected');
    const slow = srv.track(await rawSse(`${srv.url}/events?channel=firehose&user=slow`));
    await slow.waitEvent((e) => e.event === 'connected');
    assert.equal((await srv.stats()).connectionsByTransport.sse, 2);
    slow.res.pause();
    const count = () => fast.messages.length - 1; // all but `connected`

    const COUNT = await publishPaced(srv, 'firehose', count, () => connectionsOf(srv, 'slow') === 0);
    t.diagnostic(`published ${COUNT} publications of ~1 KB`);
    await waitFor(() => count() === COUNT, { timeout: 10_000, label: 'fast stream to get everything', describe: () => `${count()}/${COUNT}` });
    const offsets = fast.messages.slice(1).map((m) => (JSON.parse(m.data) as Frame).offset);
    assert.deepEqual(offsets, Array.from({ length: COUNT }, (_, i) => i + 1));
    assert.ok(fast.messages.slice(1).every((m) => m.type === 'message'));
    assert.equal(fast.opens, 1, 'the fast stream never reconnected');

    await waitFor(async () => (await srv.stats()).connectionsByTransport.sse === 1, { label: 'the slow stream to be dropped' });
    const online = await srv.api('GET', '/api/online');
    assert.deepEqual(online.body.users.map((u: Frame) => u.user), ['fast']);

    // Reading again, the slow reader finds the end of the stream.
    slow.res.resume();
    await slow.waitEnded(5000);
    const got = slow.events.filter((e) => e.event === 'message').length;
    t.diagnostic(`slow stream received ${got} of ${COUNT} before it was ended`);
    assert.ok(got < COUNT);
    await healthy(srv);
  });
});

describe('slow consumer: a resume whose replay overflows the queue', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer([
      '--client.queueMaxBytes', String(QUEUE), '--history.size', '1000', '--channel.joinLeave', 'true', '--websocket.writeTimeout', '1s',
    ]);
  });
  after(() => srv.close());

  it('drops a resumer that stops reading mid-replay and leaves no presence or join behind', async () => {
    const { client: observer } = await connectReady(`${srv.wsUrl}?user=observer`);
    srv.track(observer);
    const sub = await observer.call('subscribe', { channel: 'backlog' });
    // ~200 KB of history: three times the queue bound.
    const seen = () => observer.pushes.filter((m) => m.push === 'publication').length;
    for (let n = 1; n <= 200; n++) {
      if (n - seen() > WINDOW) await waitFor(() => n - seen() <= WINDOW, { label: 'observer to keep up', interval: 1 });
      await srv.sb.publish('backlog', { n, pad: PAD });
    }
    await waitFor(() => observer.pushes.filter((m) => m.push === 'publication').length === 200, { label: 'observer backlog' });

    // The resumer stops reading: its paced replay stalls, and the write timeout ends the connection.
    const { client: resumer } = await connectReady(`${srv.wsUrl}?user=resumer`);
    srv.track(resumer);
    resumer.socket.pause();
    resumer.send({ id: 1, method: 'subscribe', params: { channel: 'backlog', since: { epoch: sub.epoch, offset: 0 } } });
    // Kernel buffers absorb a few MB first: keep publishing (paced by the observer) until the server gives up on it.
    for (let n = 201; n <= 16000 && connectionsOf(srv, 'resumer') > 0; n++) {
      if (n - seen() > WINDOW) await waitFor(() => n - seen() <= WINDOW, { label: 'observer to keep up', interval: 1 });
      await srv.sb.publish('backlog', { n, pad: PAD });
    }
    await waitFor(() => connectionsOf(srv, 'resumer') === 0, { label: 'server to drop the stalled resumer', timeout: 8000 });

    // The departed client must not linger in presence, nor be announced as joined.
    await srv.sb.publish('backlog', 'sentinel');
    await observer.nextPush((m) => m.push === 'publication' && m.payload === 'sentinel');
    const presence = await srv.api('GET', '/api/presence?channel=backlog');
    assert.deepEqual(presence.body.members.map((m: Frame) => m.user), ['observer']);
    const joins = observer.pushes.filter((m) => m.push === 'join' && m.user === 'resumer');
    const leaves = observer.pushes.filter((m) => m.push === 'leave' && m.user === 'resumer');
    assert.equal(joins.length, leaves.length, `joins ${joins.length}, leaves ${leaves.length}`);
  });

  it(
    'lets a reading client resume a backlog larger than client.queueMaxBytes',
    {},
    async () => {
      const pos = await srv.publish('backlog2', 0);
      for (let n = 1; n <= 100; n++) await srv.publish('backlog2', { n, pad: PAD }); // ~100 KB missed
      const { client: c } = await connectReady(srv.wsUrl);
      srv.track(c);
      const r = await c.request('subscribe', { channel: 'backlog2', since: { epoch: pos.epoch, offset: pos.offset } });
      assert.equal(r.result?.recovered, true, `reply ${JSON.stringify(r)}`);
      await waitFor(() => c.pushes.filter((m) => m.push === 'publication').length === 100, { label: 'the backlog' });
    },
  );
});
