import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Broker } from '../../src/broker/broker.js';
import { MemoryBroker, createMemoryBroker, type MemoryBrokerOptions } from '../../src/broker/memory.js';
import { ManualClock, RecordingHandler, brokerContract, waitFor } from '../broker-contract.js';

const HISTORY = { size: 100, ttlMs: 60_000 };

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

  it('maxChannels: a new channel past the limit is refused with limit_exceeded once idle ones are dropped', async () => {
    await broker.close();
    broker = make({ maxChannels: 2 });
    await broker.start(rec);
    await pub('a');
    await pub('b');
    await pub('a'); // an existing channel is never refused
    await assert.rejects(pub('c'), (e: Error & { code?: string }) => e.code === 'limit_exceeded' && /history\.maxChannels/.test(e.message));
    await assert.rejects(broker.history('c'), (e: Error & { code?: string }) => e.code === 'limit_exceeded');
    // Once "b" has sat idle past metaTtlMs, the next new channel sweeps it away and takes its place...
    clock.advance(META_TTL_MS / 2);
    await pub('a');
    clock.advance(META_TTL_MS / 2 + 1);
    await pub('c');
    assert.equal(broker.stats().channels, 2);
    // ...and a subscribed channel is never idle.
    await broker.subscribe('c');
    clock.advance(META_TTL_MS * 3);
    await pub('d'); // sweeps "a" (idle); "c" stays
    await assert.rejects(pub('e'), (e: Error & { code?: string }) => e.code === 'limit_exceeded');
  });

  it('drops an idle channel on sweep; the next touch gets a new epoch and offsets restart', async () => {
    const first = await pub('a');
    await pub('a');
    clock.advance(META_TTL_MS); // exactly metaTtlMs idle: still alive
    broker.sweep();
    assert.equal((await broker.history('a')).top.epoch, first.epoch);
    clock.advance(1);
    broker.sweep();
    assert.deepEqual(broker.stats(), { channels: 0, publications: 0 });
    const h = await broker.history('a');
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
    assert.deepEqual(broker.stats(), { channels: 1, publications: 1 });
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
  });
});
