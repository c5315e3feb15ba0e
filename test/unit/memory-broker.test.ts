import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isReplay, NO_STREAM_EPOCH, type Broker, type ServerPublication } from '../../src/broker/broker.js';
import { publicationBytes } from '../../src/broker/memory-bytes.js';
import { MemoryBroker, createMemoryBroker, type MemoryBrokerOptions } from '../../src/broker/memory.js';
import { ManualClock, RecordingHandler, brokerContract, waitFor } from '../broker-contract.js';

const HISTORY = { size: 100, ttlMs: 60_000 };

/** A seeded generator of integers in [0, n) (mulberry32): the same run every time. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
  };
}
/** A forced full GC (exposed at run time: the test runner does not pass --expose-gc). */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

brokerContract(
  'memory',
  async (clock) => ({ broker: createMemoryBroker({ history: HISTORY, metaTtlMs: 600_000, now: clock?.now }) }),
  { supportsClock: true },
);

describe('memory broker', () => {
  const META_TTL_MS = 10_000;
  let clock: ManualClock;
  let broker: MemoryBroker;
  let rec: RecordingHandler;
  const make = (o: Partial<MemoryBrokerOptions> = {}): MemoryBroker =>
    new MemoryBroker({ history: HISTORY, metaTtlMs: META_TTL_MS, now: clock.now, ...o });
  const pub = (channel: string, history = HISTORY) => broker.publish({ channel, event: 'message', data: '1', history });

  beforeEach(async () => {
    clock = new ManualClock();
    broker = make();
    rec = new RecordingHandler();
    await broker.start(rec);
  });
  afterEach(() => broker.close());

  it('maxChannels: a new channel evicts the least recently active idle one; refused only when every one is in use', async () => {
    await broker.close();
    broker = make({ maxChannels: 3 });
    await broker.start(rec);
    const aFirst = await pub('a');
    clock.advance(2000);
    await pub('b');
    clock.advance(2000);
    await pub('c');
    clock.advance(2000);
    await pub('a'); // "a" is now the most recently active; "b" the least
    const d = await pub('d'); // evicts "b", long before metaTtlMs
    assert.equal(d.offset, 1);
    assert.deepEqual([broker.stats().channels, broker.stats().evictedChannels], [3, 1]);
    assert.equal((await broker.history('b')).top.epoch, NO_STREAM_EPOCH, '"b" was evicted');
    assert.equal((await broker.history('a')).top.epoch, aFirst.epoch, '"a" was kept');
    // Subscribed channels and keyed channels holding keys are in use: never evicted for room.
    await broker.subscribe('c');
    await broker.subscribe('d');
    await broker.publish({ channel: 'a', event: 'set', data: '1', key: 'k', op: 'upsert', keyed: { maxKeys: 10, tombstoneTtlMs: 60_000 } });
    clock.advance(2000);
    await assert.rejects(pub('e'), (e: Error & { code?: string }) => e.code === 'limit_exceeded' && /history\.maxChannels/.test(e.message));
    // Reads never need room: they create nothing.
    for (let i = 0; i < 1000; i++) assert.equal((await broker.history(`made-up-${i}`)).top.epoch, NO_STREAM_EPOCH);
    assert.equal(broker.stats().channels, 3);
    // Once one is idle again (unsubscribed), it makes room.
    await broker.unsubscribe('d');
    assert.equal((await pub('e')).offset, 1);
    assert.equal((await broker.history('d')).top.epoch, NO_STREAM_EPOCH);
  });

  it('reads of made-up channels create nothing (history, state, presence)', async () => {
    for (let i = 0; i < 5000; i++) {
      await broker.history(`x${i}`, { limit: 10 });
      await broker.state(`y${i}`, { after: 0, limit: 10 });
      await broker.presence(`z${i}`);
    }
    assert.equal(broker.stats().channels, 0);
  });

  it('maxBytes: keeps exactly the newest publications across channels that fit, evicting the oldest first', async () => {
    const MAX = 40_000;
    await broker.close();
    broker = make({ maxBytes: MAX });
    await broker.start(rec);
    const roomy = { size: 10_000, ttlMs: 600_000 };
    const all: ServerPublication[] = [];
    const rand = prng(7);
    for (let i = 0; i < 3000; i++) {
      const channel = `ch${rand(50)}`;
      all.push(await broker.publish({ channel, event: 'message', data: JSON.stringify('x'.repeat(rand(800))), history: roomy }));
      assert.ok(broker.stats().bytes <= MAX, `after publish ${i}: ${broker.stats().bytes} bytes kept, over ${MAX}`);
    }
    // The kept publications are exactly the longest suffix of the global publish order that fits in MAX.
    let bytes = 0;
    let cut = all.length;
    while (cut > 0 && bytes + publicationBytes(all[cut - 1]!) <= MAX) bytes += publicationBytes(all[--cut]!);
    const expected = new Map<string, number[]>();
    for (const p of all.slice(cut)) expected.set(p.channel, [...(expected.get(p.channel) ?? []), p.offset]);
    for (let c = 0; c < 50; c++) {
      const h = await broker.history(`ch${c}`);
      const want = expected.get(`ch${c}`) ?? [];
      assert.deepEqual(h.publications.map((p) => p.offset), want, `ch${c}`);
      assert.equal(h.earliest, want[0] ?? h.top.offset + 1, `ch${c}: earliest moved past the evicted ones`);
    }
    assert.deepEqual([broker.stats().bytes, broker.stats().publications, broker.stats().evictedPublications], [bytes, all.length - cut, cut]);
  });

  it('maxBytes: exact totals and the bound hold after size trims left thousands of stale queue entries (compaction)', async () => {
    const MAX = 60_000;
    await broker.close();
    broker = make({ maxBytes: MAX });
    await broker.start(rec);
    const tiny = { size: 2, ttlMs: 600_000 };
    const rand = prng(11);
    const check = async (channels: string[]): Promise<void> => {
      let bytes = 0;
      let count = 0;
      for (const ch of channels) {
        const h = await broker.history(ch);
        const offs = h.publications.map((p) => p.offset);
        assert.deepEqual(offs, Array.from({ length: offs.length }, (_, k) => h.top.offset - offs.length + 1 + k), `${ch} keeps a contiguous tail`);
        for (const p of h.publications) bytes += publicationBytes(p);
        count += offs.length;
      }
      assert.deepEqual([broker.stats().bytes, broker.stats().publications], [bytes, count]);
    };
    // Quiet channels first: their publications are the oldest, and must survive every compaction of the queue.
    const quiet = Array.from({ length: 10 }, (_, i) => `quiet${i}`);
    for (const ch of quiet) for (let k = 0; k < 2; k++) await broker.publish({ channel: ch, event: 'message', data: '"q"', history: tiny });
    // Phase 1: well under the budget, so only size trims drop publications and stale entries pile up in the queue.
    const small = Array.from({ length: 40 }, (_, i) => `t${i}`);
    for (let i = 0; i < 6000; i++) await broker.publish({ channel: small[rand(40)]!, event: 'message', data: JSON.stringify('z'.repeat(rand(200))), history: tiny });
    assert.equal(broker.stats().evictedPublications, 0);
    await check([...quiet, ...small]);
    // Phase 2: big publications elsewhere. Every phase-1 publication must still be evictable: an entry lost by the
    // queue's compaction would leave the node stuck over its budget.
    const big = Array.from({ length: 20 }, (_, i) => `big${i}`);
    for (let i = 0; i < 200; i++) {
      await broker.publish({ channel: big[i % 20]!, event: 'message', data: JSON.stringify('B'.repeat(3000)), history: tiny });
      assert.ok(broker.stats().bytes <= MAX, `after big publish ${i}: ${JSON.stringify(broker.stats())}`);
    }
    assert.ok(broker.stats().evictedPublications > 0);
    await check([...quiet, ...small, ...big]);
    for (const ch of [...quiet, ...small]) assert.equal((await broker.history(ch)).publications.length, 0, `${ch}: the oldest went first`);
  });

  it('maxBytes: a publication trimmed by size or age, or of a dropped channel, is not pinned by the budget queue', async () => {
    await broker.close();
    broker = make({ maxBytes: 100 * 1024 * 1024 });
    await broker.start(rec);
    const refs: WeakRef<object>[] = [];
    // Fewer than the queue's compaction threshold: the stale entries stay in the queue, yet must not hold the data.
    for (let i = 0; i < 50; i++) refs.push(new WeakRef(await pub('a', { size: 1, ttlMs: 60_000 })));
    await pub('dropme');
    refs.push(new WeakRef(await pub('dropme')));
    clock.advance(META_TTL_MS + 1);
    broker.sweep(); // drops "dropme" (idle)
    await pub('a', { size: 1, ttlMs: 60_000 });
    rec.pubs.length = 0;
    await new Promise((resolve) => setImmediate(resolve)); // let the awaited values go
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.equal(alive, 0, `${alive} trimmed or dropped publications still reachable`);
  });

  it('maxBytes: trims and drops keep the byte count exact; a publication larger than the budget is delivered but not kept', async () => {
    await broker.close();
    broker = make({ maxBytes: 10_000 });
    await broker.start(rec);
    await broker.subscribe('big');
    const small = { size: 3, ttlMs: 1000 };
    for (let i = 0; i < 10; i++) await pub('a', small);
    assert.equal(broker.stats().bytes, 3 * publicationBytes({ channel: 'a', event: 'message', data: '1' }));
    clock.advance(1000);
    broker.sweep();
    assert.equal(broker.stats().bytes, 0, 'age trims give their bytes back');
    const big = await broker.publish({ channel: 'big', event: 'message', data: JSON.stringify('y'.repeat(20_000)) });
    assert.equal(rec.pubs.at(-1), big, 'delivered live');
    const h = await broker.history('big');
    assert.deepEqual([h.publications.length, h.earliest, h.top.offset], [0, 2, 1]);
    assert.equal(broker.stats().bytes, 0);
    await pub('c');
    clock.advance(META_TTL_MS + 1);
    broker.sweep();
    assert.deepEqual([broker.stats().bytes, broker.stats().publications], [0, 0], 'a dropped stream gives its bytes back');
  });

  it('maxBytes: keyed state is never evicted; past half the budget a growing keyed upsert is refused, deletes pass', async () => {
    await broker.close();
    broker = make({ maxBytes: 20_000 });
    await broker.start(rec);
    const keyed = { maxKeys: 1000, tombstoneTtlMs: 600_000 };
    const kpub = (key: string, data: string, op: 'upsert' | 'delete' = 'upsert') => broker.publish({ channel: 'k', event: 'set', data, key, op, keyed });
    const value = JSON.stringify('v'.repeat(2000));
    let accepted = 0;
    for (let i = 0; i < 10; i++) {
      try {
        await kpub(`key${i}`, value);
        accepted++;
      } catch (e) {
        assert.equal((e as Error & { code?: string }).code, 'limit_exceeded');
        assert.match((e as Error).message, /history\.maxBytes/);
      }
    }
    assert.ok(accepted >= 4 && accepted < 10, `accepted ${accepted} of 10 keyed upserts of ~2 KB under a 10 KB share`);
    const before = (await broker.history('k')).top.offset;
    await assert.rejects(kpub('another', value), (e: Error & { code?: string }) => e.code === 'limit_exceeded');
    assert.equal((await broker.history('k')).top.offset, before, 'a refused publication takes no offset');
    // Heavy history elsewhere evicts history only: every key's latest value stays.
    for (let i = 0; i < 50; i++) await broker.publish({ channel: 'h', event: 'message', data: JSON.stringify('h'.repeat(1000)) });
    const state = await broker.state('k', { after: 0, limit: 100 });
    assert.equal(state.publications.length, accepted);
    assert.ok(broker.stats().bytes <= 20_000);
    await kpub('key0', 'null', 'delete');
    assert.equal((await kpub('key0', value)).key, 'key0', 'a delete made room again');
  });

  it('drops an idle channel on sweep; the next touch gets a new epoch and offsets restart', async () => {
    const first = await pub('a');
    await pub('a');
    clock.advance(META_TTL_MS); // exactly metaTtlMs idle: still alive
    broker.sweep();
    assert.equal((await broker.history('a')).top.epoch, first.epoch);
    clock.advance(1);
    broker.sweep();
    assert.deepEqual([broker.stats().channels, broker.stats().publications], [0, 0]);
    const h = await broker.history('a', { open: true });
    assert.notEqual(h.top.epoch, first.epoch);
    assert.deepEqual([h.top.offset, h.earliest, h.publications.length], [0, 1, 0]);
    const next = await pub('a');
    assert.deepEqual([next.epoch, next.offset], [h.top.epoch, 1]);
  });

  it('expires idle state on touch even before a sweep ran', async () => {
    const first = await pub('a');
    clock.advance(META_TTL_MS / 2);
    const second = await pub('a'); // a publish restarts the idle clock
    clock.advance(META_TTL_MS);
    assert.equal((await pub('a')).epoch, first.epoch);
    assert.equal(second.offset, 2);
    clock.advance(META_TTL_MS + 1);
    const after = await pub('a');
    assert.notEqual(after.epoch, first.epoch);
    assert.equal(after.offset, 1);
  });

  it('never drops a subscribed channel; idle time counts from the unsubscribe', async () => {
    const long = { size: 100, ttlMs: 100 * META_TTL_MS };
    await broker.subscribe('a');
    const first = await pub('a', long);
    clock.advance(10 * META_TTL_MS);
    broker.sweep();
    const h = await broker.history('a');
    assert.deepEqual([h.top.epoch, h.top.offset, h.publications.length], [first.epoch, 1, 1]);
    await broker.unsubscribe('a');
    clock.advance(META_TTL_MS);
    broker.sweep();
    assert.equal((await broker.history('a')).top.epoch, first.epoch);
    clock.advance(1);
    broker.sweep();
    assert.equal(broker.stats().channels, 0);
  });

  it('trims age-expired history in the sweep, keeping positions', async () => {
    const short = { size: 100, ttlMs: 1000 };
    for (let i = 0; i < 5; i++) await pub('a', short);
    clock.advance(500);
    await pub('a', short);
    clock.advance(600);
    broker.sweep();
    assert.deepEqual([broker.stats().channels, broker.stats().publications], [1, 1]);
    assert.equal((await broker.history('a')).earliest, 6);
  });

  it('runs the sweep on its timer', async () => {
    await broker.close();
    broker = make({ sweepIntervalMs: 5 });
    await broker.start(rec);
    await pub('a');
    clock.advance(META_TTL_MS + 1);
    await waitFor(() => broker.stats().channels === 0, 'the sweep timer (5 ms) to drop the idle channel', 2000);
  });

  it('keeps history bounded over many publications', async () => {
    const small = { size: 100, ttlMs: 60_000 };
    for (let i = 0; i < 10_000; i++) await pub('a', small);
    const h = await broker.history('a');
    assert.deepEqual([h.top.offset, h.earliest, h.publications.length], [10_000, 9901, 100]);
    assert.equal(h.publications[99]!.offset, 10_000);
    assert.equal(broker.stats().publications, 100);
  });

  it('delivers to the handler before publish resolves', async () => {
    await broker.subscribe('a');
    const p = pub('a');
    assert.equal(rec.pubs.length, 1, 'already delivered, synchronously');
    assert.equal(rec.pubs[0], await p);
  });

  it('rejects with a clear error before start', async () => {
    const b: Broker = make();
    assert.equal(b.isReady(), false);
    await assert.rejects(b.publish({ channel: 'a', event: 'message', data: '1' }), /call start\(handler\)/);
    await assert.rejects(b.history('a'), /call start\(handler\)/);
    await b.close();
  });

  it('refuses a second start', async () => {
    await assert.rejects(broker.start(rec), /already/);
  });

  it('validates its options, naming the option', () => {
    assert.throws(() => make({ history: { size: -1, ttlMs: 1 } }), /history\.size/);
    assert.throws(() => make({ history: { size: 1, ttlMs: 0 } }), /history\.ttlMs/);
    assert.throws(() => make({ metaTtlMs: 0 }), /metaTtlMs/);
    assert.throws(() => make({ sweepIntervalMs: -5 }), /sweepIntervalMs/);
    assert.throws(() => make({ idempotencyMaxKeys: 0 }), /idempotencyMaxKeys/);
    assert.throws(() => make({ idempotencyMaxBytes: 0.5 }), /idempotencyMaxBytes/);
  });

  describe('idempotency keys', () => {
    const ipub = (b: MemoryBroker, channel: string, key: string, windowMs = 60_000) =>
      b.publish({ channel, event: 'message', data: '1', history: HISTORY, idempotency: { key, windowMs } });

    it('are bounded by count: past it the oldest key is forgotten first (its retry publishes again)', async () => {
      const b = make({ idempotencyMaxKeys: 2 });
      await b.start(new RecordingHandler());
      for (const k of ['a', 'b', 'c']) await ipub(b, 'ch', k);
      assert.deepEqual([b.stats().idempotencyKeys, b.stats().idempotencyForgotten], [2, 1]);
      assert.equal(isReplay(await ipub(b, 'ch', 'c')), true, 'the newest is remembered');
      assert.equal(isReplay(await ipub(b, 'ch', 'a')), false, 'the oldest was forgotten');
      await b.close();
    });

    it('are bounded by bytes', async () => {
      const b = make({ idempotencyMaxBytes: 2000 });
      await b.start(new RecordingHandler());
      for (let i = 0; i < 100; i++) await ipub(b, 'ch', 'k'.repeat(100) + i);
      const st = b.stats();
      assert.ok(st.idempotencyBytes <= 2000 && st.idempotencyKeys > 0, `bytes ${st.idempotencyBytes}, keys ${st.idempotencyKeys}`);
      assert.equal(st.idempotencyKeys + st.idempotencyForgotten, 100);
      await b.close();
    });

    it('expire after their window (the sweep frees them); reads and refused publishes create none', async () => {
      await broker.history('ch');
      await assert.rejects(broker.publish({ channel: 'ch', event: 'm', data: '1', history: HISTORY, key: 'k', op: 'upsert', keyed: { maxKeys: 0, tombstoneTtlMs: 1000 }, idempotency: { key: 'r', windowMs: 1000 } }));
      assert.equal(broker.stats().idempotencyKeys, 0);
      const first = await ipub(broker, 'ch', 'k', 1000);
      clock.advance(999);
      assert.equal((await ipub(broker, 'ch', 'k', 1000)).offset, first.offset);
      clock.advance(1);
      broker.sweep();
      assert.equal(broker.stats().idempotencyKeys, 0);
      assert.equal(isReplay(await ipub(broker, 'ch', 'k', 1000)), false);
    });
  });
});
