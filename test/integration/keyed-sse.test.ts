/**
 * Keyed channels over Server-Sent Events: a new stream gets the full state, one event per key with its own id, and a
 * stream cut mid-snapshot resumes with Last-Event-ID and ends in exactly the server's state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serverState, byKey } from '../helpers/keyed-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { rawSse, type RawEvent, type RawSse } from '../helpers/sse-client.js';
import { waitFor } from '../helpers/wait.js';

const NAMESPACES = JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous', historySize: 5 }]);

/** Applies a stream's publication events to `map` in order; returns the stream's `connected` channel result. */
function applyEvents(events: RawEvent[], map: Map<string, string>): any {
  let connected: any;
  for (const e of events) {
    if (e.event === 'connected') {
      connected = JSON.parse(e.data!).channels[0];
      if (connected.snapshot === 'full') map.clear();
      continue;
    }
    if (!e.data) continue;
    const m = JSON.parse(e.data);
    if (m.push !== 'publication') continue;
    assert.equal(e.id, `${m.epoch}:${m.offset}`, 'each event id is the position of its own publication');
    if (m.op === 'delete') map.delete(m.key);
    else map.set(m.key, JSON.stringify(m.payload));
  }
  return connected;
}


describe('keyed channels over SSE', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--namespaces', NAMESPACES, '--keyed.pageSize', '3']);
  });
  after(() => srv.close());
  const put = async (channel: string, key: string, data: unknown, op?: string) => {
    const r = await srv.api('POST', '/api/publish', op ? { channel, key, op } : { channel, key, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const pubEvents = (s: RawSse) => s.events.filter((e) => e.data?.startsWith('{"push":"publication"'));

  it('sends the state, then resumes a stream cut mid-snapshot from Last-Event-ID to the exact state', async () => {
    const ch = 'kv:sse1';
    for (let i = 0; i < 40; i++) await put(ch, `k${i}`, { v: i, pad: 'x'.repeat(200) });
    const url = `${srv.url}/events?channel=${ch}&user=s`;
    const first = srv.track(await rawSse(url));
    await first.waitEvent((e) => e.event === 'connected');
    await waitFor(() => pubEvents(first).length >= 5, { label: 'some snapshot events' });
    first.close();
    // The client saw the stream up to its 5th publication event (the rest was lost with the connection).
    const events = first.events; // parsed once: each read of `events` parses anew
    const fifth = events.indexOf(events.filter((e) => e.data?.startsWith('{"push":"publication"'))[4]!);
    const map = new Map<string, string>();
    const c1 = applyEvents(events.slice(0, fifth + 1), map);
    assert.deepEqual([c1.snapshot, c1.recovered, c1.offset], ['full', false, 40]);
    const lastId = events[fifth]!.id!;
    assert.equal(map.size, 5);

    for (let i = 0; i < 3; i++) await put(ch, `k${i}`, { v: 'new' }); // k0..k2 move past the cut
    await put(ch, 'k39', null, 'delete');
    await put(ch, 'k1', null, 'delete');
    const second = srv.track(await rawSse(url, { 'last-event-id': lastId }));
    const want = await serverState(srv.url, ch);
    let c2: any;
    await waitFor(
      () => {
        const m = new Map(map);
        c2 = applyEvents(second.events, m);
        return JSON.stringify(byKey(m)) === JSON.stringify(want.entries);
      },
      { timeout: 10_000, label: 'SSE map equals the server state' },
    );
    assert.deepEqual([c2.recovered, c2.snapshot], [true, 'delta'], 'a position older than history: a delta');
    assert.equal(want.entries.length, 38);
    await put(ch, 'live', 1);
    await second.waitEvent((e) => e.data?.includes('"key":"live"') === true);
  });
});
