/**
 * What fan-out costs, counted on real sockets of a real server: a publication is encoded once per wire format
 * however many connections receive it (delivery/encoded.ts), and the publications of one event-loop turn leave in one
 * socket write per connection (the node-wide flush round of delivery/flush.ts), not one write per publication.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encodeCounts } from '../../src/delivery/encoded.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { rawSse, type RawSse } from '../helpers/sse-client.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';
import { nodeOf } from '../../src/server.js';

/**
 * Counts the writes each server-side socket hands to the kernel from now on: the stream calls `_write` for a single
 * write request and `_writev` for a corked batch (an SSE chunk written with `res.write` inside a cork is four
 * `socket.write` calls but one `_writev`), so this is what the server asks the kernel to send, whichever code path
 * asked (WebSocket frames, SSE chunks, HTTP heads). Only the test process's own server sockets are wrapped.
 */
function countServerWrites(srv: TestServer): Map<Socket, number> {
  const writes = new Map<Socket, number>();
  srv.sb.server.on('connection', (socket: Socket) => {
    writes.set(socket, 0);
    const s = socket as Socket & { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
    for (const method of ['_write', '_writev'] as const) {
      const original = s[method];
      s[method] = (...args: unknown[]) => {
        writes.set(socket, writes.get(socket)! + 1);
        original.apply(socket, args);
      };
    }
  });
  return writes;
}

const snapshot = (): typeof encodeCounts => ({ ...encodeCounts });
const delta = (before: typeof encodeCounts): Omit<typeof encodeCounts, 'dialectFrame' | 'delta'> => ({
  json: encodeCounts.json - before.json,
  wsFrame: encodeCounts.wsFrame - before.wsFrame,
  sseHead: encodeCounts.sseHead - before.sseHead,
  sseEvent: encodeCounts.sseEvent - before.sseEvent,
});

/** Publication offsets of `channel` in a raw SSE stream, in arrival order. */
function sseOffsets(r: RawSse, channel: string): number[] {
  return r.events
    .filter((e) => e.data !== undefined && e.event !== 'connected' && e.event !== 'caught_up')
    .map((e) => JSON.parse(e.data!) as Record<string, any>)
    .filter((m) => m.push === 'publication' && m.channel === channel)
    .map((m) => m.offset as number);
}

const wsOffsets = (c: WsClient, channel: string): number[] => c.pushes.filter((m) => m.push === 'publication' && m.channel === channel).map((m) => m.offset as number);

async function wsSubscriber(srv: TestServer, user: string, channel: string): Promise<WsClient> {
  const { client } = await connectReady(`${srv.wsUrl}?user=${user}`);
  srv.track(client);
  await client.call('subscribe', { channel });
  await client.nextPush((m) => m.push === 'caught_up' && m.channel === channel);
  return client;
}

async function sseSubscriber(srv: TestServer, user: string, channels: string[]): Promise<RawSse> {
  const q = channels.map((c) => `channel=${encodeURIComponent(c)}`).join('&');
  const r = srv.track(await rawSse(`${srv.url}/events?${q}&user=${user}`));
  await r.waitEvent((e) => e.event === 'connected');
  return r;
}

describe('fan-out cost', () => {
  let srv: TestServer;
  let writes: Map<Socket, number>;
  before(async () => {
    // No pings or heartbeats: the only writes in a measured window are the deliveries.
    srv = await startServer(['--websocket.pingInterval', '0', '--sse.heartbeatInterval', '0']);
    writes = countServerWrites(srv);
  });
  after(() => srv.close());

  it('encodes a publication once per wire format for 12 WebSocket and 12 SSE recipients', async () => {
    const ch = 'enc';
    const N = 12;
    const ws = await Promise.all(Array.from({ length: N }, (_, i) => wsSubscriber(srv, `w${i}`, ch)));
    const sse = await Promise.all(Array.from({ length: N }, (_, i) => sseSubscriber(srv, `s${i}`, [ch])));
    // Multi-channel SSE streams carry a per-connection id, so only the event head is shared with them.
    const multi = await Promise.all(Array.from({ length: 4 }, (_, i) => sseSubscriber(srv, `m${i}`, [ch, 'enc-other'])));
    await waitFor(() => nodeOf(srv.sb).hub.subscriberCount(ch) === 2 * N + 4, { label: 'every subscription registered' });

    for (let k = 1; k <= 3; k++) {
      const before = snapshot();
      const pos = await srv.publish(ch, { k, text: 'x'.repeat(200) });
      await waitFor(() => ws.every((c) => wsOffsets(c, ch).includes(pos.offset)) && [...sse, ...multi].every((r) => sseOffsets(r, ch).includes(pos.offset)), {
        label: `publication ${k} at every recipient`,
      });
      assert.deepEqual(delta(before), { json: 1, wsFrame: 1, sseHead: 1, sseEvent: 1 }, `publication ${k}: one build per format for ${2 * N + 4} recipients`);
    }
    for (const c of ws) assert.deepEqual(wsOffsets(c, ch), [1, 2, 3]);
    for (const r of [...sse, ...multi]) assert.deepEqual(sseOffsets(r, ch), [1, 2, 3]);
  });

  it('writes the publications of one event-loop turn to each socket in one write (16 connections, 40 publications)', async () => {
    const ch = 'round';
    const M = 40;
    const ws = await Promise.all(Array.from({ length: 10 }, (_, i) => wsSubscriber(srv, `rw${i}`, ch)));
    const sse = await Promise.all(Array.from({ length: 6 }, (_, i) => sseSubscriber(srv, `rs${i}`, [ch])));
    await waitFor(() => nodeOf(srv.sb).hub.subscriberCount(ch) === 16, { label: 'every subscription registered' });
    // A turn for any setup write still scheduled (a flush round runs on setImmediate) to leave before counting.
    await new Promise<void>((r) => setImmediate(r));

    const before = new Map(writes);
    const rounds = nodeOf(srv.sb).scheduler.rounds;
    // One turn: the memory broker delivers each publication to the hub before its promise resolves.
    const published = Array.from({ length: M }, (_, i) => srv.sb.publish(ch, { i }));
    await Promise.all(published);
    await waitFor(() => ws.every((c) => wsOffsets(c, ch).length === M) && sse.every((r) => sseOffsets(r, ch).length === M), {
      label: 'every publication at every recipient',
      describe: () => [...ws.map((c) => wsOffsets(c, ch).length), ...sse.map((r) => sseOffsets(r, ch).length)].join(','),
    });
    const roundsUsed = nodeOf(srv.sb).scheduler.rounds - rounds;

    const changed = [...writes].filter(([s, n]) => n !== (before.get(s) ?? 0)).map(([s, n]) => n - (before.get(s) ?? 0));
    assert.equal(changed.length, 16, 'every subscriber connection was written to, and no other');
    // Coalesced: one write per connection (two if the burst straddled a round), against M = 40 if each publication
    // were written on its own.
    assert.ok(Math.max(...changed) <= 2, `one write per connection per flush round, not one per publication: writes per connection ${changed.join(',')}`);
    // ...and by the node's scheduler, whose rounds are what the write window (delivery.maxWriteDelay) paces.
    assert.ok(roundsUsed >= 1 && roundsUsed <= 2, `the burst was flushed in ${roundsUsed} rounds of the node's scheduler`);
    assert.ok(changed.every((n) => n <= roundsUsed), `at most one write per connection per round (${roundsUsed} rounds): ${changed.join(',')}`);
    const expected = Array.from({ length: M }, (_, i) => i + 1);
    for (const c of ws) assert.deepEqual(wsOffsets(c, ch), expected);
    for (const r of sse) assert.deepEqual(sseOffsets(r, ch), expected);
  });

  it('writes a burst to a large fan-out (70 connections) within the publications\' turn, still one write per connection', async () => {
    const ch = 'round-large';
    const M = 20;
    const N = 70; // over the in-turn threshold of delivery/flush.ts (64 recipients)
    const ws = await Promise.all(Array.from({ length: N }, (_, i) => wsSubscriber(srv, `lw${i}`, ch)));
    await waitFor(() => nodeOf(srv.sb).hub.subscriberCount(ch) === N, { label: 'every subscription registered' });
    await new Promise<void>((r) => setImmediate(r));

    const before = new Map(writes);
    const scheduler = nodeOf(srv.sb).scheduler;
    const rounds = scheduler.rounds;
    const published = Array.from({ length: M }, (_, i) => srv.sb.publish(ch, { i }));
    // Queued now, so it runs after the publications' task and its microtasks: the round must have run by then.
    let roundsBeforeImmediate = -1;
    setImmediate(() => (roundsBeforeImmediate = scheduler.rounds - rounds));
    await Promise.all(published);
    await waitFor(() => ws.every((c) => wsOffsets(c, ch).length === M), {
      label: 'every publication at every recipient',
      describe: () => ws.map((c) => wsOffsets(c, ch).length).join(','),
    });
    assert.equal(roundsBeforeImmediate, 1, 'the burst was written in one round, in its own turn (before the next setImmediate)');
    const changed = [...writes].filter(([s, n]) => n !== (before.get(s) ?? 0)).map(([s, n]) => n - (before.get(s) ?? 0));
    assert.equal(changed.length, N, 'every subscriber connection was written to, and no other');
    assert.ok(changed.every((n) => n === 1), `one write per connection: ${changed.join(',')}`);
    const expected = Array.from({ length: M }, (_, i) => i + 1);
    for (const c of ws) assert.deepEqual(wsOffsets(c, ch), expected);
  });
});
