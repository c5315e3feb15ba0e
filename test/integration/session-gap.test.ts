/**
 * A gap seen by a session, not by the broker: a live publication reaches the node, but the one before it never did
 * (a pub/sub message lost between broker and node). The session must not deliver past the hole
 * (session/subscription.ts): it disconnects the client with 4004, the client resumes from its position, and history
 * fills the hole, so every publication arrives exactly once and in order.
 *
 * The loss is made at the broker's real entry point into the node (`onPublication`, the BrokerHandler): one
 * publication is stored in history by the memory broker but dropped on its way to the hub.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerPublication } from '../../src/protocol/index.js';
import { nodeOf } from '../../src/server.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openEventSource, type EsClient } from '../helpers/sse-client.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const isPub = (channel: string) => (m: Frame) => m.push === 'publication' && m.channel === channel;

/** Makes the node miss the delivery of `channel`'s publication at `offset` (it stays in history). Returns the undo. */
function loseDelivery(srv: TestServer, channel: string, offset: number): () => void {
  const events = nodeOf(srv.sb).events;
  const deliver = events.onPublication.bind(events);
  events.onPublication = (pub: ServerPublication) => {
    if (pub.channel === channel && pub.offset === offset) return;
    deliver(pub);
  };
  return () => {
    delete (events as Partial<Pick<typeof events, 'onPublication'>>).onPublication; // back to the prototype's method
  };
}

describe('session-level gap: disconnect 4004, then a gap-free resume', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--sse.retry', '100ms']);
  });
  after(() => srv.close());

  it('WebSocket: never delivers past the hole; the resumed client gets every offset exactly once', async () => {
    const ch = 'gap-ws';
    const { client: a } = await connectReady(srv.wsUrl);
    srv.track(a);
    const sub = await a.call('subscribe', { channel: ch });
    for (let i = 1; i <= 3; i++) await srv.publish(ch, { i });
    await waitFor(() => a.pushes.filter(isPub(ch)).length === 3, { label: 'offsets 1-3' });

    const restore = loseDelivery(srv, ch, 4);
    try {
      await srv.publish(ch, { i: 4 }); // in history, never reaches the session
      await srv.publish(ch, { i: 5 }); // reaches it: 5 after 3 is a gap
    } finally {
      restore();
    }
    await waitFor(() => a.isClosed || a.pushes.filter(isPub(ch)).length > 3, { label: 'the session to act on the hole' });
    assert.deepEqual(a.pushes.filter(isPub(ch)).map((m) => m.offset), [1, 2, 3], 'nothing past the hole was delivered');
    const closed = await a.waitClosed();
    assert.equal(closed.code, 4004, `closed with insufficient state, got ${JSON.stringify(closed)}`);

    const { client: b } = await connectReady(srv.wsUrl);
    srv.track(b);
    const reply = await b.call('subscribe', { channel: ch, since: { epoch: sub.epoch, offset: 3 } });
    assert.deepEqual(reply, { channel: ch, epoch: sub.epoch, offset: 5, recovered: true, missed: 2 });
    await srv.publish(ch, { i: 6 });
    await waitFor(() => b.pushes.filter(isPub(ch)).length >= 3, { label: 'offsets 4-6 after the resume' });
    await srv.publish(ch, { i: 7 });
    await b.nextPush((m) => isPub(ch)(m) && m.offset === 7);
    const all = [...a.pushes, ...b.pushes].filter(isPub(ch));
    assert.deepEqual(all.map((m) => m.offset), [1, 2, 3, 4, 5, 6, 7], 'every offset once, in order, across the two connections');
    assert.deepEqual(all.map((m) => m.payload.i), [1, 2, 3, 4, 5, 6, 7]);
  });

  it('SSE: the stream ends at the hole; EventSource resumes with Last-Event-ID and gets every offset exactly once', async () => {
    const ch = 'gap-sse';
    const es: EsClient = srv.track(openEventSource(`${srv.url}/events?channel=${ch}`));
    await es.nextJson('connected');
    const pubs = (): Record<string, any>[] => es.ofType('message').map((m) => ({ ...(JSON.parse(m.data) as Record<string, any>), connection: m.connection }));
    for (let i = 1; i <= 3; i++) await srv.publish(ch, { i });
    await waitFor(() => pubs().length === 3, { label: 'offsets 1-3' });

    const restore = loseDelivery(srv, ch, 4);
    try {
      await srv.publish(ch, { i: 4 });
      await srv.publish(ch, { i: 5 });
    } finally {
      restore();
    }
    await waitFor(() => es.ofType('disconnect').length > 0 || pubs().length > 3, { label: 'the session to act on the hole' });
    assert.deepEqual(pubs().map((p) => p.offset), [1, 2, 3], 'nothing past the hole was delivered');
    const bye = await es.nextJson('disconnect');
    assert.equal(bye.code, 4004);
    await waitFor(() => es.opens >= 2, { label: 'EventSource reconnected' });
    await waitFor(() => pubs().length >= 5, { label: 'offsets 4-5 replayed', describe: () => JSON.stringify(pubs().map((p) => p.offset)) });
    await srv.publish(ch, { i: 6 });
    await waitFor(() => pubs().some((p) => p.offset === 6), { label: 'offset 6 live' });
    const got = pubs();
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4, 5, 6], 'every offset once, in order');
    assert.deepEqual(got.map((p) => p.connection), [1, 1, 1, 2, 2, 2], 'nothing past the hole on the first stream');
    assert.equal(es.attempts[1]?.['Last-Event-ID'], `${got[0]!.epoch}:3`, 'resumed from offset 3');
  });
});
