/**
 * Several Switchboard processes sharing one Redis: a message published on any node (by a client or through the
 * API) reaches subscribers on every node, presence and send-to-user cross nodes, and a client that loses node A
 * resumes on node B with exactly the messages it missed (WebSocket `since` and SSE `Last-Event-ID`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startCli, type Cli } from '../helpers/cli.js';
import { rawSse, type RawSse } from '../helpers/sse-client.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('three nodes on one Redis', () => {
  const prefix = 'sbt' + randomBytes(4).toString('hex');
  const nodes: Cli[] = [];
  const opened: { close(): unknown }[] = [];
  const base = (i: number) => `http://127.0.0.1:${nodes[i]!.port}`;
  const ws = (i: number, user: string) => `ws://127.0.0.1:${nodes[i]!.port}/ws?user=${user}`;

  before(async () => {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startCli(['--workers', '1', '--shutdown.timeout', '1s'], {
          SWITCHBOARD_REDIS_URL: REDIS_URL,
          SWITCHBOARD_REDIS_PREFIX: prefix,
          SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
          // Node C lists one channel in its node report, so /api/channels shows a cut list.
          ...(i === 2 ? { SWITCHBOARD_REDIS_REPORT_CHANNELS: '1' } : {}),
        }),
      );
    }
  });
  after(async () => {
    for (const c of opened) await c.close();
    for (const n of nodes) await n.kill();
    await deleteRedisPrefix(prefix);
  });

  const publish = async (i: number, channel: string, data: unknown) => {
    const r = await fetch(`${base(i)}/api/publish`, { method: 'POST', body: JSON.stringify({ channel, data }) });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as { epoch: string; offset: number };
  };
  const track = <T extends { close(): unknown }>(c: T): T => {
    opened.push(c);
    return c;
  };
  const pubs = (c: WsClient, channel: string) => c.pushes.filter((m: Frame) => m.push === 'publication' && m.channel === channel);

  it('a publication on node C (API and client) reaches a WebSocket on A and an SSE stream on B, same positions', async () => {
    const { client: a } = await connectReady(ws(0, 'alice'));
    track(a);
    await a.call('subscribe', { channel: 'news' });
    const b = track(await rawSse(`${base(1)}/events?channel=news&user=bob`));
    await b.waitEvent((e) => e.event === 'connected');
    const { client: c } = await connectReady(ws(2, 'carol'));
    track(c);
    const p1 = await publish(2, 'news', { n: 1 });
    const p2 = await c.call('publish', { channel: 'news', data: { n: 2 } });
    assert.equal(p2.offset, p1.offset + 1);
    await waitFor(() => pubs(a, 'news').length === 2, { label: 'A receives both' });
    assert.deepEqual(pubs(a, 'news').map((m) => [m.payload.n, m.offset, m.epoch]), [[1, p1.offset, p1.epoch], [2, p2.offset, p1.epoch]]);
    const events = await waitFor(() => {
      const ev = b.events.filter((e) => e.event === 'message');
      return ev.length === 2 ? ev : undefined;
    }, { label: 'B receives both' });
    assert.deepEqual(events.map((e) => e.id), [`${p1.epoch}:${p1.offset}`, `${p1.epoch}:${p2.offset}`]);
  });

  it('presence and send-to-user cross nodes', async () => {
    const { client: d1 } = await connectReady(ws(0, 'dave'));
    const { client: d2 } = await connectReady(ws(1, 'dave'));
    track(d1);
    track(d2);
    await d1.call('subscribe', { channel: 'room' });
    const { client: e } = await connectReady(ws(2, 'erin'));
    track(e);
    await e.call('subscribe', { channel: 'room' });
    // A subscriber enters presence once its catch-up is done (after the reply, with its `caught_up` push), so the
    // last one may take a moment to show; every node must then see both.
    for (const i of [0, 1, 2]) {
      const users = async () => {
        const r = (await (await fetch(`${base(i)}/api/presence?channel=room`)).json()) as { members: { user: string }[] };
        return r.members.map((m) => m.user).sort();
      };
      await waitFor(async () => (await users()).length === 2, { timeout: 5000, label: `presence seen from node ${i}` });
      assert.deepEqual(await users(), ['dave', 'erin'], `presence seen from node ${i}`);
    }
    const r = await fetch(`${base(2)}/api/send`, { method: 'POST', body: JSON.stringify({ user: 'dave', event: 'note', data: { hi: 1 } }) });
    assert.equal(r.status, 200);
    for (const c of [d1, d2]) assert.deepEqual((await c.nextPush((m) => m.push === 'message')).payload, { hi: 1 });
  });

  it('a WebSocket client resumes on another node with exactly the missed publications', async () => {
    const { client: a } = await connectReady(ws(0, 'frank'));
    await a.call('subscribe', { channel: 'ticks' });
    const first = await publish(2, 'ticks', 0);
    const last = await a.nextPush((m) => m.push === 'publication' && m.offset === first.offset);
    await a.close();
    const missed: number[] = [];
    for (let n = 1; n <= 5; n++) missed.push((await publish(2, 'ticks', n)).offset);
    const { client: b } = await connectReady(ws(1, 'frank'));
    track(b);
    const reply = await b.call('subscribe', { channel: 'ticks', since: { epoch: last.epoch, offset: last.offset } });
    assert.equal(reply.recovered, true);
    assert.equal(reply.missed, 5);
    const live = await publish(0, 'ticks', 6);
    await waitFor(() => pubs(b, 'ticks').length === 6, { label: 'replay and live on B' });
    assert.deepEqual(pubs(b, 'ticks').map((m) => m.offset), [...missed, live.offset]);
  });

  it('an SSE stream resumes on another node from its Last-Event-ID', async () => {
    const a = await rawSse(`${base(0)}/events?channel=feed&user=gina`);
    const connected = await a.waitEvent((e) => e.event === 'connected');
    const p0 = await publish(1, 'feed', 0);
    const got = await a.waitEvent((e) => e.event === 'message' && e.id === `${p0.epoch}:${p0.offset}`);
    a.close();
    const missed: string[] = [];
    for (let n = 1; n <= 3; n++) {
      const p = await publish(2, 'feed', n);
      missed.push(`${p.epoch}:${p.offset}`);
    }
    const b: RawSse = track(await rawSse(`${base(1)}/events?channel=feed&user=gina`, { 'last-event-id': got.id! }));
    const resumed = await b.waitEvent((e) => e.event === 'connected');
    assert.equal(JSON.parse(resumed.data!).recovered, true);
    const ids = await waitFor(() => {
      const m = b.events.filter((e) => e.event === 'message').map((e) => e.id);
      return m.length === 3 ? m : undefined;
    }, { label: 'missed events on B' });
    assert.deepEqual(ids, missed);
    assert.ok(connected.id);
  });

  it('online users and stats aggregate over the live nodes', async () => {
    const { client: o } = await connectReady(ws(0, 'olga'));
    const { client: p } = await connectReady(ws(1, 'pete'));
    track(o);
    track(p);
    const online = await waitFor(async () => {
      const r = (await (await fetch(`${base(2)}/api/online`)).json()) as { nodes: number; users: { user: string; connections: number }[] };
      const names = r.users.map((u) => u.user);
      return names.includes('olga') && names.includes('pete') ? r : undefined;
    }, { timeout: 8000, interval: 200, label: 'node C to see users of A and B' });
    assert.equal(online.nodes, 3);
    const stats = (await (await fetch(`${base(2)}/api/stats`)).json()) as { node: string; nodes: { node: string }[] };
    assert.equal(new Set(stats.nodes.map((n) => n.node)).size, 3);
    assert.ok(stats.nodes.some((n) => n.node === stats.node));
  });

  it('channels lists every live node\'s channels with summed subscribers, and which node cut its list', async () => {
    const subscribe = async (i: number, user: string, channels: string[]) => {
      const { client } = await connectReady(ws(i, user));
      track(client);
      for (const channel of channels) await client.call('subscribe', { channel });
    };
    await subscribe(0, 'quinn', ['lobby', 'kitchen']);
    await subscribe(1, 'rosa', ['lobby']);
    await subscribe(2, 'sam', ['lobby', 'attic']);
    await subscribe(2, 'tom', ['lobby']);
    const nodeC = ((await (await fetch(`${base(2)}/api/stats`)).json()) as { node: string }).node;
    type Channels = { channels: { channel: string; subscribers: number }[]; nodes: number; truncated: string[] };
    const count = (r: Channels, channel: string) => r.channels.find((c) => c.channel === channel)?.subscribers;
    const seen = await waitFor(async () => {
      const r = (await (await fetch(`${base(0)}/api/channels`)).json()) as Channels;
      return count(r, 'lobby') === 4 ? r : undefined;
    }, { timeout: 8000, interval: 200, label: 'node A to count lobby subscribers of all three nodes' });
    assert.equal(seen.nodes, 3);
    assert.equal(count(seen, 'kitchen'), 1);
    // C has two channels but reports one, its busiest (lobby, 2 subscribers): attic is missing and C is named.
    assert.equal(count(seen, 'attic'), undefined);
    assert.deepEqual(seen.truncated, [nodeC]);
  });

  // Last: it kills node A.
  it('kill -9 of a node while publishing: its clients resume on another node, nothing lost or duplicated', async () => {
    const channel = 'storm';
    const CLIENTS = 4;
    const TOTAL = 300;
    /** A client that follows the channel on node A and, after losing A, resumes on node B from its last position. */
    const follow = async (k: number) => {
      const clients: WsClient[] = [];
      const seen = () => clients.flatMap((c) => pubs(c, channel).map((m) => m.offset as number));
      const lastPosition = () => {
        for (let i = clients.length - 1; i >= 0; i--) {
          const p = pubs(clients[i]!, channel).at(-1);
          if (p) return { epoch: p.epoch as string, offset: p.offset as number };
        }
        return undefined;
      };
      const attach = async (node: number, since?: { epoch: string; offset: number }) => {
        const { client } = await connectReady(ws(node, `storm${k}`));
        clients.push(track(client));
        const reply = await client.call('subscribe', { channel, ...(since ? { since } : {}) });
        if (since) assert.equal(reply.recovered, true, `client ${k} resumed on node ${node}`);
        return { client, top: { epoch: reply.epoch as string, offset: reply.offset as number } };
      };
      const { client: first, top } = await attach(0);
      const moved = first.waitClosed(20_000).then(() => attach(1, lastPosition() ?? top));
      return { seen, moved };
    };
    const followers = await Promise.all(Array.from({ length: CLIENTS }, (_, k) => follow(k)));
    const offsets: number[] = [];
    for (let n = 1; n <= TOTAL; n++) {
      offsets.push((await publish(2, channel, n)).offset);
      if (n === TOTAL / 3) nodes[0]!.child.kill('SIGKILL');
      if (n % 10 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    for (const f of followers) await f.moved;
    for (const [k, f] of followers.entries()) {
      await waitFor(() => f.seen().length >= TOTAL, { timeout: 10_000, label: `client ${k} to catch up` });
      assert.deepEqual(f.seen(), offsets, `client ${k}: every publication exactly once, in order`);
    }
  });
});
