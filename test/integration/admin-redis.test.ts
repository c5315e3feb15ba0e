/**
 * The console's user view across nodes on one Redis: `GET /api/connections` on node A lists a connection held by
 * node B (asked over the control channel), and `POST /api/disconnect` with its `client` id, sent to node A, closes
 * exactly that connection on node B with the chosen code. The console's stats stream on node A (`/admin/stream`) lists
 * every node of the registry, with node B's connections.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

describe('admin user view across two nodes on Redis', () => {
  const prefix = 'sbadm' + randomBytes(4).toString('hex');
  let a: TestServer;
  let b: TestServer;
  const clients: WsClient[] = [];
  before(async () => {
    const flags = ['--redis.url', 'redis://127.0.0.1:6379', '--redis.prefix', prefix];
    a = await startServer(flags);
    b = await startServer(flags);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await a?.close();
    await b?.close();
    await deleteRedisPrefix(prefix);
  });

  it('lists and disconnects a connection held by the other node', async () => {
    for (let i = 0; i < 2; i++) {
      const { client } = await connectReady(`${b.wsUrl}?user=dora`);
      clients.push(client);
    }
    await clients[0]!.call('subscribe', { channel: 'room' });
    // Node B reports its users every 2 s; then node A asks it.
    const listed = await waitFor(async () => {
      const r = await a.api('GET', '/api/connections?user=dora');
      return r.status === 200 && r.body.connections.length === 2 ? r.body : undefined;
    }, { timeout: 10_000, interval: 200, label: "node B's connections on node A" });
    assert.deepEqual(listed.missing, []);
    const bId = (await b.stats()).node as string;
    for (const c of listed.connections) {
      assert.equal(c.node, bId);
      assert.equal(c.transport, 'websocket');
      assert.equal(c.user, 'dora');
    }
    const target = listed.connections.find((c: { channels: string[] }) => c.channels.includes('room'));
    assert.ok(target, 'the subscribed connection lists its channel');
    // A client id of another user is refused: the id alone reaches no one else's connection.
    assert.equal((await a.api('POST', '/api/disconnect', { user: 'eve', client: target.client })).status, 404);
    assert.equal((await a.api('POST', '/api/disconnect', { user: 'dora', client: target.client, code: 4000 })).status, 200);
    assert.equal((await clients[0]!.waitClosed(5000)).code, 4000);
    assert.equal(clients[1]!.isClosed, false);
  });

  it("node A's stats stream lists every node of the registry, with node B's connections", async () => {
    const bId = (await b.stats()).node as string;
    const aId = (await a.stats()).node as string;
    // Development mode on loopback: the console is on and a local caller signs in with a name only.
    const signIn = await fetch(`${a.url}/admin/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ops' }) });
    assert.equal(signIn.status, 200);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const { client } = await connectReady(`${b.wsUrl}?user=erin`);
    clients.push(client);
    const ac = new AbortController();
    const res = await fetch(`${a.url}/admin/stream`, { headers: { cookie }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    type Stats = { self: string; nodes: { id: string; stats: { connections?: number } }[] };
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let last: Stats | undefined;
    try {
      // Node B reports every 2 s: wait for a stats event in which it holds erin's connection.
      await waitFor(async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error('the stats stream ended');
        buffer += value;
        for (let i; (i = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(i + 2)) {
          const frame = buffer.slice(0, i);
          if (frame.startsWith('event: stats\n')) last = JSON.parse(frame.slice(frame.indexOf('data: ') + 6)) as Stats;
        }
        return (last?.nodes.find((n) => n.id === bId)?.stats.connections ?? 0) >= 1;
      }, { timeout: 10_000, interval: 0, label: "node B's connection in node A's stats stream", describe: () => JSON.stringify(last) });
    } finally {
      ac.abort();
    }
    assert.equal(last!.self, aId);
    assert.deepEqual(last!.nodes.map((n) => n.id).sort(), [aId, bId].sort());
  });
});
