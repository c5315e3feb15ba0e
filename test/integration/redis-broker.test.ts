/**
 * The Redis broker against a real Redis: the shared broker contract (unchanged), then what only Redis has — several
 * nodes on one Redis, presence of a dead node expiring, key expiry, and Redis lost and restarted empty.
 * Needs Redis at 127.0.0.1:6379 (CI starts one) and `redis-server` on PATH for the restart tests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { BrokerUnavailableError, type Broker, type HistoryBounds, type Member } from '../../src/broker/broker.js';
import { createRedisBroker, type RedisBrokerOptions } from '../../src/broker/redis.js';
import { RecordingHandler, brokerContract, waitFor } from '../broker-contract.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { withTimeout } from '../helpers/wait.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const HISTORY: HistoryBounds = { size: 100, ttlMs: 60_000 };
const quiet = { warn: () => {}, error: () => {} };

/** Fails the whole file at once, with the fix, when the shared Redis is not there (rather than 15 timeouts). */
async function requireRedis(url: string): Promise<void> {
  const c = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.ping();
  } catch (err) {
    throw new Error(`Redis is not reachable at ${url} (${(err as Error).message}); start one: redis-server --port 6379`);
  } finally {
    if (c.isOpen) c.destroy();
  }
}


const newPrefix = (): string => `sbtest${randomBytes(4).toString('hex')}`;

function make(o: Partial<RedisBrokerOptions> & { prefix: string }): Broker {
  return createRedisBroker({ url: REDIS_URL, history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 60_000, logger: quiet, ...o });
}

const pub = (b: Broker, channel: string, i = 1) => b.publish({ channel, event: 'message', data: JSON.stringify({ i }) });

await requireRedis(REDIS_URL);

brokerContract('redis', async () => {
  const prefix = newPrefix();
  return { broker: make({ prefix }), cleanup: () => deleteRedisPrefix(prefix, REDIS_URL) };
});

describe('redis broker', () => {
  let prefix: string;
  const opened: Broker[] = [];
  /** A started broker ("node") on the shared Redis with this test's prefix, closed after the test. */
  async function node(o: Partial<RedisBrokerOptions> = {}): Promise<{ broker: Broker; rec: RecordingHandler }> {
    const broker = make({ prefix, ...o });
    opened.push(broker);
    const rec = new RecordingHandler();
    await broker.start(rec);
    return { broker, rec };
  }

  before(() => {
    prefix = newPrefix();
  });
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });
  after(() => deleteRedisPrefix(prefix, REDIS_URL));

  it('delivers a publish on node A to node B with the same position', async () => {
    const a = await node();
    const b = await node();
    await b.broker.subscribe('room');
    const p = await a.broker.publish({ channel: 'room', event: 'chat', data: '{"x":[1,"é"]}', meta: { traceparent: '00-ab-cd-01' } });
    await waitFor(() => b.rec.pubs.length === 1, 'B to receive the publication');
    assert.deepEqual(b.rec.pubs[0], p);
    assert.deepEqual(a.rec.pubs, [], 'A is not subscribed');
    const hb = await b.broker.history('room');
    assert.deepEqual(hb.publications, [p]);
  });

  it('shares one epoch between nodes; a subscriber read on one creates it for all', async () => {
    const a = await node();
    const b = await node();
    const ha = await a.broker.history('fresh', { open: true });
    const hb = await b.broker.history('fresh');
    assert.equal(hb.top.epoch, ha.top.epoch);
    const p1 = await pub(b.broker, 'fresh');
    const p2 = await pub(a.broker, 'fresh');
    assert.deepEqual([p1.epoch, p1.offset, p2.epoch, p2.offset], [ha.top.epoch, 1, ha.top.epoch, 2]);
  });

  it('shows presence added on A from B, join/leave and control reach the other node', async () => {
    const a = await node();
    const b = await node();
    const m: Member = { user: 'u1', client: 'c1', info: { name: 'Ann' } };
    await a.broker.addPresence('lobby', m);
    assert.deepEqual(await b.broker.presence('lobby'), [m]);
    await b.broker.subscribe('lobby');
    await a.broker.publishJoin('lobby', m);
    await a.broker.publishLeave('lobby', m);
    await a.broker.publishControl({ kind: 'disconnect-user', user: 'u1', code: 4003, reason: 'banned' });
    await waitFor(() => b.rec.joins.length === 1 && b.rec.leaves.length === 1, 'join and leave on B');
    assert.deepEqual(b.rec.joins, [{ channel: 'lobby', member: m }]);
    assert.deepEqual(b.rec.leaves, [{ channel: 'lobby', member: m }]);
    await waitFor(() => a.rec.controls.length === 1 && b.rec.controls.length === 1, 'control on both nodes');
    assert.deepEqual(b.rec.controls, a.rec.controls);
    assert.deepEqual(a.rec.joins, [], 'A is not subscribed to lobby');
    await a.broker.removePresence('lobby', 'c1');
    assert.deepEqual(await b.broker.presence('lobby'), []);
  });

  it('refreshes its presence a slice at a time over the round, not in one burst, and keeps every entry alive', async () => {
    // A node holding many members rewrote them all at once every presenceTtl/3: one burst of script calls queued in
    // front of everything else on a starved Redis (issue #15). The round is now spread: the entries' rewrite times
    // (their expiry stamps, presenceTtl after each write) spread over the round.
    const ttl = 3000;
    const a = await node({ presenceTtlMs: ttl });
    const members = Array.from({ length: 400 }, (_, i): Member => ({ user: `u${i}`, client: `c${i}` }));
    await Promise.all(members.map((m) => a.broker.addPresence('crowd', m)));
    const direct = createClient({ url: REDIS_URL });
    await direct.connect();
    try {
      const stamps = async () => Object.values(await direct.hGetAll(`${prefix}:{ch:crowd}:presence`)).map((v) => (JSON.parse(v) as { x: number }).x);
      const first = await stamps();
      assert.ok(Math.max(...first) - Math.min(...first) < 300, 'written together at first');
      await sleep(ttl / 3 + 300); // one whole round and a bit
      const later = await stamps();
      const refreshed = later.filter((x) => x > Math.max(...first));
      assert.ok(refreshed.length >= 300, `most entries rewritten within a round (${refreshed.length})`);
      const spread = Math.max(...refreshed) - Math.min(...refreshed);
      assert.ok(spread >= ttl / 3 / 2, `rewrites spread over the round: ${spread} ms between the first and the last`);
      await sleep(ttl); // past the ttl of the first writes: the refreshes kept every entry
      assert.equal((await a.broker.presence('crowd')).length, members.length);
    } finally {
      await direct.quit();
    }
  });

  it('keeps a live node\'s presence past presenceTtl, drops a dead node\'s after it', async () => {
    const ttl = 600;
    const a = await node({ presenceTtlMs: ttl });
    const b = await node({ presenceTtlMs: ttl });
    const ma: Member = { user: 'ua', client: 'ca' };
    const mb: Member = { user: 'ub', client: 'cb' };
    await a.broker.addPresence('room', ma);
    await b.broker.addPresence('room', mb);
    await sleep(ttl * 2); // A refreshes its own entries every ttl/3
    const sorted = async () => (await b.broker.presence('room')).sort((x, y) => x.client.localeCompare(y.client));
    assert.deepEqual(await sorted(), [ma, mb]);
    await a.broker.close(); // dies without removePresence
    const closedAt = Date.now();
    let left: Member[] = [];
    for (;;) {
      left = await sorted();
      if (left.length === 1 || Date.now() - closedAt > ttl * 3) break;
      await sleep(50);
    }
    assert.deepEqual(left, [mb], 'the dead node\'s member vanished, the live one stays');
    assert.ok(Date.now() - closedAt >= ttl / 3, 'not removed before its ttl could have passed');
    // The expired field is removed lazily from the hash.
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    try {
      assert.deepEqual(await raw.hKeys(`${prefix}:{ch:room}:presence`), ['cb']);
    } finally {
      raw.destroy();
    }
  });

  it('uses hash-tagged keys and the compact wire encoding', async () => {
    const a = await node();
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    const sub = raw.duplicate();
    await sub.connect();
    try {
      const got: string[] = [];
      await sub.subscribe(`${prefix}:{ch:wire}:pub`, (msg) => got.push(msg));
      const p = await a.broker.publish({ channel: 'wire', event: 'e', data: '{"k":1}' });
      await waitFor(() => got.length === 1, 'raw pub/sub message');
      assert.equal(got[0], `{"c":"wire","e":"e","d":"{\\"k\\":1}","p":"${p.epoch}","o":1,"t":${p.time}}`);
      assert.deepEqual(await raw.lRange(`${prefix}:{ch:wire}:hist`, 0, -1), got, 'history holds the same text');
      const meta = await raw.hGetAll(`${prefix}:{ch:wire}:meta`);
      assert.deepEqual([meta.epoch, meta.offset], [p.epoch, '1']);
      const pttl = await raw.pTTL(`${prefix}:{ch:wire}:meta`);
      assert.ok(pttl > 590_000 && pttl <= 600_000, `meta expires after metaTtl, pttl ${pttl}`);
    } finally {
      sub.destroy();
      raw.destroy();
    }
  });

  it('gives an idle channel a new epoch after metaTtl, but keeps a subscribed one', async () => {
    const { broker } = await node({ metaTtlMs: 300 });
    const first = await pub(broker, 'idle');
    await pub(broker, 'idle');
    await sleep(450); // the clock passes metaTtl (300 ms): Redis expires the idle channel's keys by itself
    const h = await broker.history('idle', { open: true });
    assert.notEqual(h.top.epoch, first.epoch);
    assert.deepEqual([h.top.offset, h.earliest, h.publications.length], [0, 1, 0]);
    const next = await pub(broker, 'idle');
    assert.deepEqual([next.epoch, next.offset], [h.top.epoch, 1]);

    await broker.subscribe('watched');
    const w = await pub(broker, 'watched');
    await sleep(700); // the keep-alive pushes the expiry back every metaTtl/3
    const hw = await broker.history('watched');
    assert.deepEqual([hw.top.epoch, hw.top.offset, hw.publications.length], [w.epoch, 1, 1]);
    await broker.unsubscribe('watched');
    await sleep(450); // past metaTtl again, now unwatched
    assert.notEqual((await broker.history('watched')).top.epoch, w.epoch, 'idle since the unsubscribe');
  });

  it('writes the presence of many members of one channel in a few script calls; a removal beats its waiting write', async () => {
    // A private Redis: its command counts are this test's alone.
    const server = await startRedisServer();
    const raw = createClient({ url: server.url });
    const broker = createRedisBroker({ url: server.url, prefix, history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 60_000, logger: quiet });
    try {
      await raw.connect();
      await broker.start(new RecordingHandler());
      const scriptCalls = async () => {
        const stats = await raw.info('commandstats');
        return ['evalsha', 'eval'].reduce((n, c) => n + Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
      };
      const before = await scriptCalls();
      const n = 2500;
      const members = Array.from({ length: n }, (_, i): Member => ({ user: `u${i}`, client: `c${i}` }));
      const adds = members.map((m) => broker.addPresence('big', m));
      // c1's write waits behind c0's (in flight): removed now, it must not be written afterwards.
      const removed = broker.removePresence('big', 'c1');
      await Promise.all([...adds, removed]);
      const calls = (await scriptCalls()) - before;
      assert.ok(calls <= 6, `${n} presence writes took ${calls} script calls (one for the first, then batches of up to 1,000)`);
      const listed = await broker.presence('big');
      assert.equal(listed.length, n - 1);
      assert.ok(!listed.some((m) => m.client === 'c1'), 'the removed member is not listed');
    } finally {
      await broker.close();
      await raw.quit().catch(() => {});
      await server.stop();
    }
  });

  it('fails start() with BrokerUnavailableError when Redis cannot be reached', async () => {
    const server = await startRedisServer();
    const url = server.url;
    await server.stop(); // a port nobody listens on
    const broker = createRedisBroker({ url, prefix, history: HISTORY, metaTtlMs: 1000, presenceTtlMs: 1000, logger: quiet, connectTimeoutMs: 500 });
    await assert.rejects(withTimeout(broker.start(new RecordingHandler()), 3000, 'start'), BrokerUnavailableError);
    assert.equal(broker.isReady(), false);
  });

  it('validates its options, naming the option', () => {
    const base: RedisBrokerOptions = { url: REDIS_URL, prefix: 'p', history: HISTORY, metaTtlMs: 1, presenceTtlMs: 1 };
    assert.throws(() => createRedisBroker({ ...base, url: '' }), /redis\.url/);
    assert.throws(() => createRedisBroker({ ...base, prefix: '' }), /redis\.prefix/);
    assert.throws(() => createRedisBroker({ ...base, history: { size: -1, ttlMs: 1 } }), /history\.size/);
    assert.throws(() => createRedisBroker({ ...base, history: { size: 1, ttlMs: 0 } }), /history\.ttlMs/);
    assert.throws(() => createRedisBroker({ ...base, metaTtlMs: 0 }), /metaTtlMs/);
    assert.throws(() => createRedisBroker({ ...base, presenceTtlMs: 0 }), /presenceTtlMs/);
  });
});

describe('redis broker: Redis lost and restarted', () => {
  let server: RedisServer;
  let broker: Broker;
  let rec: RecordingHandler;

  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await broker?.close();
    await server?.stop();
  });

  it('goes unready and rejects fast while Redis is down, then reconnects, resubscribes, with a new epoch', async () => {
    broker = createRedisBroker({ url: server.url, prefix: 'sb', history: HISTORY, metaTtlMs: 600_000, presenceTtlMs: 600, logger: quiet });
    rec = new RecordingHandler();
    await broker.start(rec);
    const m: Member = { user: 'u', client: 'c' };
    await broker.subscribe('ch');
    await broker.subscribe('dropped');
    await broker.addPresence('ch', m);
    const before = await pub(broker, 'ch');
    await waitFor(() => rec.pubs.length === 1, 'delivery before the crash');

    await server.stop();
    await waitFor(() => !broker.isReady(), 'isReady() false after Redis died', 3000);
    const t0 = Date.now();
    await assert.rejects(withTimeout(pub(broker, 'ch'), 3000, 'publish while down'), BrokerUnavailableError);
    await assert.rejects(withTimeout(broker.history('ch'), 3000, 'history while down'), BrokerUnavailableError);
    await assert.rejects(withTimeout(broker.subscribe('other'), 3000, 'subscribe while down'), BrokerUnavailableError);
    assert.ok(Date.now() - t0 < 3000, 'rejected without hanging');
    await withTimeout(broker.unsubscribe('dropped'), 1000, 'unsubscribe while down: local, resolves');

    await server.restart(); // comes back empty (no persistence)
    await waitFor(() => broker.isReady(), 'reconnected', 5000);
    const after = await pub(broker, 'ch');
    assert.notEqual(after.epoch, before.epoch, 'Redis came back empty: a new epoch tells clients they cannot recover');
    assert.equal(after.offset, 1);
    await pub(broker, 'dropped');
    await waitFor(() => rec.pubs.length === 2, 'delivery after the restart (re-subscribed)', 3000);
    assert.deepEqual(rec.pubs[1], after);
    await sleep(50); // the point: nothing for 'dropped' arrives within this window
    assert.deepEqual(rec.offsetsOf('dropped'), [], 'unsubscribed while down: not re-subscribed');
    const h = await broker.history('ch', { since: { epoch: before.epoch, offset: before.offset } });
    assert.deepEqual([h.top.epoch, h.publications.length], [after.epoch, 0]);
    // The presence refresher re-adds this node's members into the empty Redis.
    const deadline = Date.now() + 2000;
    let members: Member[] = [];
    while (Date.now() < deadline && (members = await broker.presence('ch')).length === 0) await sleep(50);
    assert.deepEqual(members, [m]);
  });

  it('rejects an in-flight publish when Redis dies under it (no hang)', async () => {
    await waitFor(() => broker.isReady(), 'ready', 5000);
    const inflight = Array.from({ length: 200 }, (_, i) => pub(broker, 'burst', i).then(() => 'ok', (e: unknown) => e));
    await server.stop();
    const results = await withTimeout(Promise.all(inflight), 3000, 'in-flight publishes settle');
    for (const r of results) assert.ok(r === 'ok' || r instanceof BrokerUnavailableError, `ok or unavailable, got ${String(r)}`);
    await server.restart();
    await waitFor(() => broker.isReady(), 'reconnected', 5000);
  });
});
