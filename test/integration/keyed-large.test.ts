/**
 * A large keyed snapshot (50,000 keys, ~5 MB) reaches a client in bounded memory: one small frame per key, read from
 * the broker in pages and paced by the client's reading. A client that stops reading is not cut off as slow (the
 * snapshot is far larger than `client.queueMaxBytes`), and updates made meanwhile — more than the setup buffer
 * holds — still end in the exact state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import { KeyedView, follow, serverState, subscribeView, byKey } from '../helpers/keyed-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { connectReady } from '../helpers/ws-client.js';
import { nodeOf } from '../../src/server.js';

const KEYS = 50_000;
const NAMESPACES = JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous' }]);

describe('large keyed snapshot', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--namespaces', NAMESPACES, '--client.queueMaxBytes', '262144']);
  });
  after(() => srv.close());

  it('streams 50,000 keys in small frames to a client that pauses, without a slow disconnect', { timeout: 120_000 }, async () => {
    const ch = 'kv:large';
    const node = nodeOf(srv.sb);
    const model = new Map<string, string>();
    const put = async (key: string, v: unknown) => {
      const data = JSON.stringify({ v, label: `item ${key}`, pad: 'x'.repeat(40) });
      await node.publish(ch, 'item', data, undefined, undefined, { key, op: 'upsert' });
      model.set(key, data);
    };
    for (let i = 0; i < KEYS; i++) await put(`key-${i}`, i);

    const { client } = await connectReady(srv.wsUrl + '?user=big');
    srv.track(client);
    let frames = 0;
    let largest = 0;
    client.ws.on('message', (d: WebSocket.RawData) => {
      frames++;
      largest = Math.max(largest, (d as Buffer).length);
    });
    const view = new KeyedView(ch);
    follow(client, view);
    const subscribed = subscribeView(client, view, {}, 60_000);
    client.socket.pause(); // stop reading: the server must pace the snapshot, not queue 5 MB or drop the client
    // Updates while the snapshot waits: more than the setup buffer (1000) holds, so it restarts and re-reads.
    for (let i = 0; i < 1500; i++) await put(`key-${(i * 7919) % KEYS}`, `u${i}`);
    await sleep(1000); // the point: a paused reader is not dropped as slow within this time
    assert.equal(client.isClosed, false, 'not disconnected while paused');
    client.socket.resume();
    const reply = await subscribed;
    assert.deepEqual([reply.snapshot, reply.recovered], ['full', false]);
    const want = byKey(model);
    await waitFor(() => view.map.size === KEYS && JSON.stringify(view.entries()) === JSON.stringify(want), {
      timeout: 60_000,
      interval: 50,
      label: 'the client to hold all 50,000 keys',
      describe: () => `${view.map.size} keys, ${frames} frames`,
    });
    assert.deepEqual((await serverState(srv.url, ch)).entries, want, 'the server state agrees');
    assert.ok(frames >= KEYS, `one frame per key at least (${frames})`);
    assert.ok(largest < 512, `every frame is small (largest ${largest} bytes)`);
    const stats = await srv.stats();
    assert.equal(stats.slowDisconnects, 0);
    // Live after the snapshot.
    await put('key-1', 'live');
    await waitFor(() => view.map.get('key-1') === model.get('key-1'), { label: 'live update' });
  });
});
