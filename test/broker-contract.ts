/**
 * The Broker contract: one suite every broker (memory, Redis) runs with its own factory. It goes through the Broker
 * interface only, never assumes handler calls are synchronous (it waits for them), and tests age expiry with real
 * short TTLs, so a broker with its own clock (Redis) passes it unchanged.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setImmediate as yieldTurn, setTimeout as sleep } from 'node:timers/promises';
import type {
  Broker,
  BrokerHandler,
  ControlMessage,
  HistoryBounds,
  HistoryQuery,
  HistoryPage,
  KeyedOptions,
  KeyOp,
  Member,
  PublishRequest,
  ServerPublication,
  StreamPosition,
} from '../src/broker/broker.js';
import { BrokerUnavailableError, isReplay, NO_STREAM_EPOCH } from '../src/broker/broker.js';
import { EPOCH_PATTERN } from '../src/protocol/position.js';
import { ReplyError } from '../src/protocol/errors.js';

/** A hand-driven clock (ms) for brokers that accept one. */
export class ManualClock {
  constructor(public ms = 1_700_000_000_000) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export type BrokerFactory = (clock?: ManualClock) => Promise<{ broker: Broker; cleanup?: () => Promise<void> }>;

export interface ContractOptions {
  /** The factory honours a ManualClock passed to it: adds exact time-stamp and age-boundary tests. Default false. */
  supportsClock?: boolean;
}

/** Records every handler call and lets the tests attach per-channel listeners (a miniature hub). */
export class RecordingHandler implements BrokerHandler {
  readonly pubs: ServerPublication[] = [];
  readonly joins: { channel: string; member: Member }[] = [];
  readonly leaves: { channel: string; member: Member }[] = [];
  readonly controls: ControlMessage[] = [];
  /** Channels the broker reported a gap in (onGap), in order. */
  readonly gaps: string[] = [];
  readonly listeners = new Map<string, Set<(p: ServerPublication) => void>>();
  onPublication(pub: ServerPublication): void {
    this.pubs.push(pub);
    for (const l of this.listeners.get(pub.channel) ?? []) l(pub);
  }
  onJoin(channel: string, member: Member): void {
    this.joins.push({ channel, member });
  }
  onLeave(channel: string, member: Member): void {
    this.leaves.push({ channel, member });
  }
  onControl(msg: ControlMessage): void {
    this.controls.push(msg);
  }
  onGap(channel: string): void {
    this.gaps.push(channel);
  }
  offsetsOf(channel: string): number[] {
    return this.pubs.filter((p) => p.channel === channel).map((p) => p.offset);
  }
}

/** Polls `cond` every 2 ms until true; fails after `timeoutMs` (default 3000) naming what it waited for. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Margin past an expiry instant before checking it took effect: time stamps are whole milliseconds and a broker's
 * clock (Redis `TIME`) may be read a moment apart from this process's.
 */
const CLOCK_SLACK_MS = 30;

/**
 * Waits until this process's clock passes `ms` (Unix ms): real-TTL tests wait for an expiry instant computed from a
 * publication's own time stamp, not for a fixed sleep after the previous step.
 */
async function clockPast(ms: number): Promise<void> {
  const wait = ms - Date.now();
  if (wait > 0) await sleep(wait);
}

/**
 * After a positive wait, gives a broker with async delivery time to deliver something it should NOT deliver: a
 * sleep that is the point (nothing arrives within it), not a wait for something to happen.
 */
const SETTLE_MS = 50;
/** History big and long enough not to interfere with tests that are not about bounds. */
const ROOMY: HistoryBounds = { size: 10_000, ttlMs: 600_000 };

/** Publications compared field by field (a broker may omit `meta` or store it as undefined). */
function plain(p: ServerPublication): object {
  return { channel: p.channel, event: p.event, data: p.data, epoch: p.epoch, offset: p.offset, time: p.time, meta: p.meta ?? null };
}
const offsets = (ps: readonly ServerPublication[]): number[] => ps.map((p) => p.offset);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * How a subscriber resumes without gap or duplicate, the way the hub does it:
 * 1. start buffering live publications of the channel, 2. make sure the node is subscribed, 3. read history after the
 * last delivered position, 4. deliver history, then the buffered items newer than what was delivered, then go live.
 * `deliver` only ever sees offsets in increasing order; a gap or an epoch change is reported through `onError`.
 */
export class ResumingSubscriber {
  last: StreamPosition;
  readonly seen: number[] = [];
  readonly errors: string[] = [];
  private buffer: ServerPublication[] | undefined;
  private readonly listener = (p: ServerPublication): void => {
    if (this.buffer) this.buffer.push(p);
    else this.deliver(p);
  };

  constructor(
    private readonly hub: MiniHub,
    private readonly broker: Broker,
    readonly channel: string,
    start: StreamPosition,
    /** Read history in pages of this many (exercises `limit` keeping the oldest); undefined: one read. */
    private readonly pageSize?: number,
  ) {
    this.last = start;
  }

  async resume(): Promise<void> {
    this.buffer = [];
    await this.hub.add(this.channel, this.listener);
    for (;;) {
      // A subscriber's read: it may create the stream (open), which the node subscription then keeps.
      const h = await this.broker.history(this.channel, { since: this.last, limit: this.pageSize, open: true });
      if (h.top.epoch !== this.last.epoch) this.errors.push(`epoch changed ${this.last.epoch} -> ${h.top.epoch}`);
      if (h.earliest > this.last.offset + 1) this.errors.push(`history lost: earliest ${h.earliest} > ${this.last.offset + 1}`);
      for (const p of h.publications) this.deliver(p);
      if (this.pageSize === undefined || h.publications.length < this.pageSize) break;
    }
    const buffered = this.buffer;
    this.buffer = undefined;
    for (const p of buffered) if (p.offset > this.last.offset) this.deliver(p);
  }

  async leave(): Promise<void> {
    this.buffer = undefined;
    await this.hub.remove(this.channel, this.listener);
  }

  private deliver(p: ServerPublication): void {
    if (p.offset !== this.last.offset + 1) this.errors.push(`expected ${this.last.offset + 1}, got ${p.offset}`);
    this.last = { epoch: p.epoch, offset: p.offset };
    this.seen.push(p.offset);
  }
}

/** Node-level subscription shared by local listeners: subscribe on the first, unsubscribe after the last, in order. */
export class MiniHub {
  private chain: Promise<void> = Promise.resolve();
  constructor(
    private readonly broker: Broker,
    private readonly handler: RecordingHandler,
  ) {}
  add(channel: string, l: (p: ServerPublication) => void): Promise<void> {
    let set = this.handler.listeners.get(channel);
    if (!set) this.handler.listeners.set(channel, (set = new Set()));
    set.add(l);
    if (set.size === 1) this.chain = this.chain.then(() => this.broker.subscribe(channel));
    return this.chain; // resolves once the node subscription covering this listener is live
  }
  remove(channel: string, l: (p: ServerPublication) => void): Promise<void> {
    const set = this.handler.listeners.get(channel);
    if (!set?.delete(l) || set.size > 0) return this.chain;
    this.handler.listeners.delete(channel);
    this.chain = this.chain.then(() => this.broker.unsubscribe(channel));
    return this.chain;
  }
}

export function brokerContract(name: string, factory: BrokerFactory, opts: ContractOptions = {}): void {
  describe(`broker contract: ${name}`, () => {
    let broker: Broker;
    let rec: RecordingHandler;
    let cleanup: (() => Promise<void>) | undefined;
    // Unique channel names per run, so a shared Redis never mixes runs.
    const prefix = `ct${randomBytes(3).toString('hex')}`;
    let n = 0;
    const chan = (): string => `${prefix}:c${++n}`;
    const publish = (channel: string, i: number, history: HistoryBounds = ROOMY): Promise<ServerPublication> =>
      broker.publish({ channel, event: 'message', data: JSON.stringify({ i }), history });
    async function publishMany(channel: string, count: number, history: HistoryBounds = ROOMY): Promise<ServerPublication[]> {
      const out: ServerPublication[] = [];
      for (let i = 1; i <= count; i++) out.push(await publish(channel, i, history));
      return out;
    }

    beforeEach(async () => {
      ({ broker, cleanup } = await factory());
      rec = new RecordingHandler();
      await broker.start(rec);
    });
    afterEach(async () => {
      await broker.close();
      await cleanup?.();
    });

    it('is ready once started and not after close', async () => {
      assert.equal(broker.isReady(), true);
      assert.ok(broker.kind.length > 0);
      await broker.close();
      assert.equal(broker.isReady(), false);
      // afterEach closes again: close() is idempotent.
    });

    it('rejects every operation with BrokerUnavailableError after close, delivering nothing', async () => {
      const channel = chan();
      await broker.subscribe(channel);
      await broker.close();
      const m = { user: 'u', client: 'c' };
      const ops: (() => Promise<unknown>)[] = [
        () => publish(channel, 1),
        () => broker.subscribe(channel),
        () => broker.unsubscribe(channel),
        () => broker.history(channel),
        () => broker.addPresence(channel, m),
        () => broker.removePresence(channel, 'c'),
        () => broker.presence(channel),
        () => broker.publishJoin(channel, m),
        () => broker.publishLeave(channel, m),
        () => broker.publishControl({ kind: 'disconnect-user', user: 'u', code: 4000, reason: 'x' }),
        () => broker.start(new RecordingHandler()),
      ];
      for (const op of ops) await assert.rejects(op(), BrokerUnavailableError);
      assert.equal(rec.pubs.length, 0);
    });

    it('reads of a channel without stream state answer none:0 and create nothing; a subscriber read creates the epoch once', async () => {
      const ch = chan();
      const empty = { publications: [], top: { epoch: NO_STREAM_EPOCH, offset: 0 }, earliest: 1 };
      const plainResult = (h: HistoryPage) => ({ ...h, top: { ...h.top } });
      // Had any of these reads created state, the next read would answer a real epoch.
      assert.deepEqual(plainResult(await broker.history(ch)), empty);
      assert.deepEqual(plainResult(await broker.history(ch, { since: { epoch: 'abcd1234', offset: 3 }, limit: 5, reverse: true })), empty);
      const page = await broker.state(ch, { after: 0, limit: 10 });
      assert.deepEqual([page.publications, page.top.epoch, page.top.offset, page.complete], [[], NO_STREAM_EPOCH, 0, 0]);
      assert.deepEqual(await broker.presence(ch), []);
      assert.deepEqual(plainResult(await broker.history(ch)), empty, 'still nothing after every kind of read');
      // A subscriber's read (open) creates the stream's epoch, once; later reads and the first publish keep it.
      const h1 = await broker.history(ch, { limit: 0, open: true });
      assert.match(h1.top.epoch, EPOCH_PATTERN);
      assert.notEqual(h1.top.epoch, NO_STREAM_EPOCH);
      assert.deepEqual([h1.top.offset, h1.earliest], [0, 1]);
      assert.equal((await broker.history(ch, { open: true })).top.epoch, h1.top.epoch);
      assert.equal((await broker.history(ch)).top.epoch, h1.top.epoch);
      const p = await publish(ch, 1);
      assert.equal(p.epoch, h1.top.epoch, 'first publish keeps the epoch the subscriber read created');
    });

    it('a publish to a channel without stream state creates it; reads then see that epoch', async () => {
      const ch = chan();
      await broker.history(ch);
      const p = await publish(ch, 1);
      assert.match(p.epoch, EPOCH_PATTERN);
      assert.notEqual(p.epoch, NO_STREAM_EPOCH);
      const h = await broker.history(ch);
      assert.deepEqual([h.top.epoch, h.top.offset, h.earliest, h.publications.length], [p.epoch, 1, 1, 1]);
    });

    it('assigns offsets 1, 2, 3, ... in one stable epoch and stamps the time', async () => {
      const ch = chan();
      const t0 = Date.now();
      const pubs = await publishMany(ch, 5);
      assert.deepEqual(offsets(pubs), [1, 2, 3, 4, 5]);
      assert.equal(new Set(pubs.map((p) => p.epoch)).size, 1);
      assert.match(pubs[0]!.epoch, EPOCH_PATTERN);
      for (const p of pubs) {
        assert.equal(p.channel, ch);
        assert.ok(p.time >= t0 - 1000 && p.time <= Date.now() + 1000, `time ${p.time} near now`);
      }
      const h = await broker.history(ch);
      assert.deepEqual(h.top, { epoch: pubs[0]!.epoch, offset: 5 });
      assert.deepEqual(h.publications.map(plain), pubs.map(plain));
      // Channels are independent streams.
      assert.equal((await publish(chan(), 1)).offset, 1);
    });

    it('keeps event, data and meta', async () => {
      const ch = chan();
      // `exclude`: the connection not to deliver to, which must reach every node (docs/protocol.md "Excluding a connection").
      const meta = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v', exclude: 'k3f9x2ab-1a' };
      const p = await broker.publish({ channel: ch, event: 'chat', data: '{"a":[1,"x"]}', meta, history: ROOMY });
      assert.equal(p.event, 'chat');
      assert.equal(p.data, '{"a":[1,"x"]}');
      assert.deepEqual(p.meta, meta);
      const [h] = (await broker.history(ch)).publications;
      assert.deepEqual(plain(h!), plain(p));
    });

    it('answers history since / limit / reverse combinations', async () => {
      const ch = chan();
      const pubs = await publishMany(ch, 10);
      const epoch = pubs[0]!.epoch;
      const q = async (query: HistoryQuery): Promise<number[]> => {
        const h = await broker.history(ch, query);
        assert.deepEqual(h.top, { epoch, offset: 10 });
        assert.equal(h.earliest, 1);
        return offsets(h.publications);
      };
      const since = (offset: number): StreamPosition => ({ epoch, offset });
      assert.deepEqual(await q({}), range(1, 10));
      assert.deepEqual(await q({ reverse: true }), range(1, 10).reverse());
      assert.deepEqual(await q({ limit: 3 }), [1, 2, 3], 'forward limit keeps the oldest');
      assert.deepEqual(await q({ limit: 3, reverse: true }), [10, 9, 8], 'reverse limit keeps the newest');
      assert.deepEqual(await q({ limit: 0 }), []);
      assert.deepEqual(await q({ limit: 50 }), range(1, 10));
      assert.deepEqual(await q({ since: since(0) }), range(1, 10));
      assert.deepEqual(await q({ since: since(3) }), range(4, 10));
      assert.deepEqual(await q({ since: since(3), limit: 2 }), [4, 5]);
      assert.deepEqual(await q({ since: since(3), limit: 2, reverse: true }), [10, 9]);
      assert.deepEqual(await q({ since: since(3), reverse: true }), range(4, 10).reverse());
      assert.deepEqual(await q({ since: since(10) }), [], 'nothing after the top');
      assert.deepEqual(await q({ since: since(12) }), [], 'a future position gets nothing');
    });

    it('returns nothing for a position from another epoch, and shows the current top', async () => {
      const ch = chan();
      const pubs = await publishMany(ch, 3);
      const epoch = pubs[0]!.epoch;
      const foreign = epoch === 'zzzzzzzz' ? 'yyyyyyyy' : 'zzzzzzzz';
      const h = await broker.history(ch, { since: { epoch: foreign, offset: 1 } });
      assert.deepEqual(h.publications, []);
      assert.deepEqual(h.top, { epoch, offset: 3 });
      assert.equal(h.earliest, 1);
    });

    it('bounds history by size (per-request override); earliest follows', async () => {
      const ch = chan();
      await publishMany(ch, 10, { size: 3, ttlMs: 600_000 });
      let h = await broker.history(ch);
      assert.deepEqual(offsets(h.publications), [8, 9, 10]);
      assert.equal(h.earliest, 8);
      assert.equal(h.top.offset, 10);
      const old = await broker.history(ch, { since: { epoch: h.top.epoch, offset: 2 } });
      assert.deepEqual(offsets(old.publications), [8, 9, 10], 'since before earliest: what is kept (caller checks earliest)');
      // size 0: no history kept at all, offsets still advance.
      const p = await publish(ch, 11, { size: 0, ttlMs: 600_000 });
      assert.equal(p.offset, 11);
      h = await broker.history(ch);
      assert.deepEqual(h.publications, []);
      assert.deepEqual([h.top.offset, h.earliest], [11, 12]);
      assert.equal((await publish(ch, 12, { size: 0, ttlMs: 600_000 })).offset, 12);
    });

    it('bounds history by age (real 300 ms TTL) without changing the epoch', async () => {
      const ch = chan();
      const TTL = 300;
      const short: HistoryBounds = { size: 100, ttlMs: TTL };
      const [a, b] = await publishMany(ch, 2, short);
      // Offset 3 is published 200 ms after offset 2, so for 200 ms only it is kept. Each wait is for an expiry
      // (a publication's own time stamp + TTL), so a slow publish or a late timer cannot shift what is expected.
      await clockPast(b!.time + 200);
      const c = await publish(ch, 3, short);
      await clockPast(b!.time + TTL + CLOCK_SLACK_MS);
      let h = await broker.history(ch);
      assert.deepEqual(offsets(h.publications), [3]);
      assert.equal(h.earliest, 3);
      await clockPast(c.time + TTL + CLOCK_SLACK_MS);
      h = await broker.history(ch);
      assert.deepEqual(h.publications, []);
      assert.deepEqual(h.top, { epoch: a!.epoch, offset: 3 });
      assert.equal(h.earliest, 4);
      assert.equal((await publish(ch, 4, short)).offset, 4);
      assert.deepEqual(offsets((await broker.history(ch)).publications), [4]);
    });

    it('delivers publications in offset order, only while subscribed', async () => {
      const ch = chan();
      const other = chan();
      await broker.subscribe(ch);
      await broker.subscribe(ch); // idempotent: still delivered once
      // Concurrent publishes: whatever offsets they get, delivery follows offset order.
      const pubs = await Promise.all(range(1, 20).map((i) => publish(ch, i)));
      await publish(other, 1);
      await waitFor(() => rec.offsetsOf(ch).length >= 20, '20 publications');
      await sleep(SETTLE_MS);
      assert.deepEqual(rec.offsetsOf(ch), range(1, 20));
      const byOffset = [...pubs].sort((x, y) => x.offset - y.offset);
      assert.deepEqual(rec.pubs.filter((p) => p.channel === ch).map(plain), byOffset.map(plain));
      assert.deepEqual(rec.offsetsOf(other), [], 'not subscribed: not delivered');
    });

    it('stops delivery after unsubscribe (idempotent, not counted)', async () => {
      const ch = chan();
      const sentinel = chan();
      await broker.subscribe(ch);
      await broker.subscribe(ch);
      await broker.subscribe(sentinel);
      await publish(ch, 1);
      await waitFor(() => rec.offsetsOf(ch).length === 1, 'first publication');
      await broker.unsubscribe(ch); // one unsubscribe ends it, however many subscribes
      await broker.unsubscribe(ch);
      await publish(ch, 2);
      await publish(sentinel, 1);
      await waitFor(() => rec.offsetsOf(sentinel).length === 1, 'sentinel');
      await sleep(SETTLE_MS);
      assert.deepEqual(rec.offsetsOf(ch), [1]);
      assert.equal((await broker.history(ch)).top.offset, 2, 'history still recorded');
      await broker.unsubscribe(chan()); // never subscribed: fine
    });

    it('keeps presence per client: add, replace, remove, list', async () => {
      const ch = chan();
      const byClient = (ms: Member[]): Member[] => [...ms].sort((x, y) => x.client.localeCompare(y.client));
      assert.deepEqual(await broker.presence(ch), []);
      const a: Member = { user: 'u1', client: 'c1', info: { name: 'Ann' } };
      const b: Member = { user: 'u2', client: 'c2' };
      await broker.addPresence(ch, a);
      await broker.addPresence(ch, b);
      assert.deepEqual(byClient(await broker.presence(ch)), [a, b]);
      const a2: Member = { user: 'u1', client: 'c1', info: { name: 'Ann', away: true } };
      await broker.addPresence(ch, a2);
      assert.deepEqual(byClient(await broker.presence(ch)), [a2, b], 're-adding a client replaces it');
      await broker.removePresence(ch, 'c1');
      assert.deepEqual(await broker.presence(ch), [b]);
      await broker.removePresence(ch, 'c2');
      await broker.removePresence(ch, 'c2');
      await broker.removePresence(ch, 'nobody');
      assert.deepEqual(await broker.presence(ch), []);
      assert.deepEqual(await broker.presence(chan()), [], 'other channels untouched');
    });

    it('delivers join and leave while subscribed, control always', async () => {
      const ch = chan();
      const quiet = chan();
      const m: Member = { user: 'u1', client: 'c1', info: { n: 1 } };
      await broker.subscribe(ch);
      await broker.publishJoin(quiet, m);
      await broker.publishJoin(ch, m);
      await broker.publishLeave(quiet, m);
      await broker.publishLeave(ch, m);
      const ctl: ControlMessage = { kind: 'disconnect-user', user: 'u1', code: 4003, reason: 'banned' };
      const msg: ControlMessage = { kind: 'user-message', user: 'u2', event: 'hi', data: '{"x":1}', time: 1 };
      await broker.publishControl(ctl);
      await broker.publishControl(msg);
      await waitFor(() => rec.joins.length >= 1 && rec.leaves.length >= 1 && rec.controls.length >= 2, 'join, leave, 2 controls');
      await sleep(SETTLE_MS);
      assert.deepEqual(rec.joins, [{ channel: ch, member: m }]);
      assert.deepEqual(rec.leaves, [{ channel: ch, member: m }]);
      assert.deepEqual(rec.controls, [ctl, msg]);
    });

    it('lets resuming subscribers see exactly 1..N while a publisher runs flat out', async () => {
      const ch = chan();
      const N = 2000;
      const { top } = await broker.history(ch, { limit: 0, open: true });
      const hub = new MiniHub(broker, rec);
      const subs = [undefined, undefined, 1, 7, 50, 500].map((page) => new ResumingSubscriber(hub, broker, ch, top, page));
      let done = false;
      const publisher = (async () => {
        try {
          for (let i = 1; i <= N; i++) {
            assert.equal((await publish(ch, i)).offset, i);
            await yieldTurn(); // one event-loop turn per publication, so subscribers interleave at that grain
          }
        } finally {
          done = true; // subscribers stop looping even if the publisher failed
        }
      })();
      // Waits count event-loop turns, not ms: timers are too coarse to land between publications. Offline stretches
      // are longer than online ones so the node subscription often drops to zero and is re-made mid-stream.
      const turns = async (max: number): Promise<void> => {
        for (let i = Math.floor(Math.random() * max); i > 0; i--) await yieldTurn();
      };
      const runs = subs.map(async (s, k) => {
        while (!done) {
          await s.resume();
          await turns(5);
          await s.leave();
          await turns(30);
        }
        await s.resume();
        await waitFor(() => s.last.offset >= N, `subscriber ${k} to reach ${N}`, 10_000);
      });
      await publisher;
      await Promise.all(runs);
      for (const [k, s] of subs.entries()) {
        assert.deepEqual(s.errors, [], `subscriber ${k}`);
        assert.equal(s.seen.length, N, `subscriber ${k} saw each offset once`);
        assert.ok(s.seen.every((o, i) => o === i + 1), `subscriber ${k} saw 1..${N} in order`);
      }
    });

    describe('idempotent publish', () => {
      const ipub = (channel: string, key: string, i: number, windowMs = 60_000, extra: Partial<PublishRequest> = {}): Promise<ServerPublication> =>
        broker.publish({ channel, event: 'message', data: JSON.stringify({ i }), history: ROOMY, idempotency: { key, windowMs }, ...extra });

      it('a retry within the window answers the first position and publishes nothing', async () => {
        const ch = chan();
        await broker.subscribe(ch);
        const first = await ipub(ch, 'k1', 1);
        assert.equal(isReplay(first), false);
        const again = await ipub(ch, 'k1', 2);
        assert.equal(isReplay(again), true);
        assert.deepEqual([again.epoch, again.offset, again.time], [first.epoch, first.offset, first.time]);
        // Another key, and the same key on another channel, are publications of their own.
        const other = await ipub(ch, 'k2', 3);
        assert.deepEqual([isReplay(other), other.offset], [false, first.offset + 1]);
        const elsewhere = await ipub(chan(), 'k1', 4);
        assert.equal(isReplay(elsewhere), false);
        await sleep(SETTLE_MS);
        assert.deepEqual(rec.offsetsOf(ch), [first.offset, other.offset], 'the retry was not delivered');
        assert.deepEqual(offsets((await broker.history(ch)).publications), [1, 2], 'nor kept in history');
      });

      it('two concurrent submits with one key publish once', async () => {
        const ch = chan();
        await broker.subscribe(ch);
        const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ipub(ch, 'same', i)));
        assert.equal(answers.filter((p) => !isReplay(p)).length, 1, 'exactly one published');
        assert.ok(answers.every((p) => p.offset === 1 && p.epoch === answers[0]!.epoch), 'all answer its position');
        await waitFor(() => rec.offsetsOf(ch).length === 1, 'the one publication delivered');
        await sleep(SETTLE_MS);
        assert.deepEqual(rec.offsetsOf(ch), [1]);
        assert.equal((await broker.history(ch)).top.offset, 1);
      });

      it('a retry after the window publishes again', async () => {
        const ch = chan();
        const first = await ipub(ch, 'k', 1, 200);
        await clockPast(first.time + 200 + CLOCK_SLACK_MS);
        const later = await ipub(ch, 'k', 2, 200);
        assert.deepEqual([isReplay(later), later.offset], [false, 2]);
        assert.equal(isReplay(await ipub(ch, 'k', 3, 200)), true, 'remembered again for a new window');
      });

      it('keyed channels: a retried upsert changes the state once', async () => {
        const ch = chan();
        const keyed: KeyedOptions = { maxKeys: 10, tombstoneTtlMs: 600_000 };
        const a = await ipub(ch, 'r1', 1, 60_000, { key: 'x', op: 'upsert', keyed });
        const b = await ipub(ch, 'r1', 2, 60_000, { key: 'x', op: 'upsert', keyed });
        assert.deepEqual([isReplay(b), b.offset, b.key], [true, a.offset, 'x']);
        const page = await broker.state(ch, { after: 0, limit: 10 });
        assert.deepEqual(page.publications.map((p) => [p.key, p.data, p.offset]), [['x', '{"i":1}', 1]]);
        assert.equal(page.top.offset, 1);
      });
    });

    describe('keyed channels', () => {
      const KEYED: KeyedOptions = { maxKeys: 1000, tombstoneTtlMs: 600_000 };
      const kpub = (channel: string, key: string, op: KeyOp, v: unknown = null, keyed: KeyedOptions = KEYED): Promise<ServerPublication> =>
        broker.publish({ channel, event: 'set', data: JSON.stringify(op === 'delete' ? null : v), history: ROOMY, key, op, keyed });
      /** The whole state, read in pages of `limit` from `after`, as key -> [op, data, offset]. */
      async function readState(channel: string, after = 0, limit = 1000): Promise<{ map: Map<string, [string, string, number]>; top: StreamPosition; complete: number }> {
        const map = new Map<string, [string, string, number]>();
        for (;;) {
          const page = await broker.state(channel, { after, limit });
          let last = after;
          for (const p of page.publications) {
            assert.ok(p.offset > last, `offsets increase in a page: ${p.offset} after ${last}`);
            last = p.offset;
            map.set(p.key!, [p.op!, p.data, p.offset]);
          }
          after = last;
          if (page.publications.length < limit) return { map, top: page.top, complete: page.complete };
        }
      }

      it('keeps the latest publication per key in offset order; an update moves its key, a delete leaves a tombstone', async () => {
        const ch = chan();
        await kpub(ch, 'a', 'upsert', 1);
        await kpub(ch, 'b', 'upsert', 2);
        await kpub(ch, 'c', 'upsert', 3);
        await kpub(ch, 'a', 'upsert', 4); // a moves to offset 4
        const del = await kpub(ch, 'b', 'delete'); // b: tombstone at 5
        assert.deepEqual([del.key, del.op, del.data, del.offset], ['b', 'delete', 'null', 5]);
        const page = await broker.state(ch, { after: 0, limit: 10 });
        assert.deepEqual(page.publications.map((p) => [p.key, p.op, p.data, p.offset]), [
          ['c', 'upsert', '3', 3],
          ['a', 'upsert', '4', 4],
          ['b', 'delete', 'null', 5],
        ]);
        assert.deepEqual(page.top, { epoch: del.epoch, offset: 5 });
        assert.equal(page.complete, 0);
        assert.equal(page.publications[0]!.event, 'set');
        assert.equal(page.publications[0]!.channel, ch);
        // Only the keys changed after a position, and pages of `limit`.
        assert.deepEqual((await broker.state(ch, { after: 3, limit: 10 })).publications.map((p) => p.key), ['a', 'b']);
        assert.deepEqual((await broker.state(ch, { after: 0, limit: 2 })).publications.map((p) => p.key), ['c', 'a']);
        assert.deepEqual((await broker.state(ch, { after: 5, limit: 10 })).publications, []);
        // History is the full stream, each publication with its key and op.
        const h = await broker.history(ch);
        assert.deepEqual(h.publications.map((p) => [p.key, p.op, p.offset]), [['a', 'upsert', 1], ['b', 'upsert', 2], ['c', 'upsert', 3], ['a', 'upsert', 4], ['b', 'delete', 5]]);
        // Upserting a deleted key brings it back at a new offset.
        await kpub(ch, 'b', 'upsert', 6);
        const s = await readState(ch);
        assert.deepEqual([...s.map].sort(), [['a', ['upsert', '4', 4]], ['b', ['upsert', '6', 6]], ['c', ['upsert', '3', 3]]]);
      });

      it('reads a never-published channel as an empty state at none:0 without creating it; unkeyed publications carry no key', async () => {
        const ch = chan();
        const page = await broker.state(ch, { after: 0, limit: 10 });
        assert.deepEqual([page.publications, page.top.epoch, page.top.offset, page.complete], [[], NO_STREAM_EPOCH, 0, 0]);
        assert.equal((await broker.history(ch)).top.epoch, NO_STREAM_EPOCH, 'the state read created nothing');
        const opened = (await broker.history(ch, { limit: 0, open: true })).top.epoch;
        const again = await broker.state(ch, { after: 0, limit: 10 });
        assert.deepEqual([again.publications, again.top.epoch, again.top.offset, again.complete], [[], opened, 0, 0]);
        const p = await publish(ch, 1);
        assert.equal(p.epoch, opened);
        assert.equal(p.key, undefined);
        assert.equal((await broker.history(ch)).publications[0]!.key, undefined);
        assert.deepEqual((await broker.state(ch, { after: 0, limit: 10 })).publications, [], 'unkeyed publications are not state');
      });

      it('refuses a new key past maxKeys, pushing out the oldest tombstone first (complete moves past it)', async () => {
        const ch = chan();
        const small: KeyedOptions = { maxKeys: 3, tombstoneTtlMs: 600_000 };
        await kpub(ch, 'a', 'upsert', 1, small);
        await kpub(ch, 'b', 'upsert', 1, small);
        await kpub(ch, 'c', 'upsert', 1, small);
        await assert.rejects(kpub(ch, 'd', 'upsert', 1, small), (e: unknown) => e instanceof ReplyError && e.code === 'limit_exceeded');
        assert.equal((await broker.history(ch)).top.offset, 3, 'a refused publication takes no offset');
        assert.equal((await kpub(ch, 'a', 'upsert', 2, small)).offset, 4, 'existing keys still update at the limit');
        await kpub(ch, 'b', 'delete', null, small); // 5: tombstone
        const d = await kpub(ch, 'd', 'upsert', 1, small); // evicts b's tombstone
        assert.equal(d.offset, 6);
        const s = await readState(ch);
        assert.deepEqual([...s.map.keys()].sort(), ['a', 'c', 'd']);
        assert.equal(s.complete, 5, 'a reader before offset 5 may have missed the delete of b');
      });

      it('drops tombstones after their ttl (real 300 ms) and moves complete; live keys stay', async () => {
        const ch = chan();
        const short: KeyedOptions = { maxKeys: 100, tombstoneTtlMs: 300 };
        await kpub(ch, 'a', 'upsert', 1, short);
        await kpub(ch, 'b', 'upsert', 1, short);
        const del = await kpub(ch, 'b', 'delete', null, short); // 3
        let s = await readState(ch);
        assert.deepEqual([...s.map.keys()], ['a', 'b']);
        assert.equal(s.complete, 0);
        await clockPast(del.time + 300 + CLOCK_SLACK_MS); // the tombstone's expiry
        s = await readState(ch);
        assert.deepEqual([...s.map.keys()], ['a']);
        assert.equal(s.complete, 3);
        assert.equal(s.top.offset, 3);
        // The key can come back; complete stays where it was.
        await kpub(ch, 'b', 'upsert', 2, short);
        s = await readState(ch);
        assert.deepEqual([...s.map.keys()], ['a', 'b']);
        assert.equal(s.complete, 3);
      });

      it('matches a model after random upserts and deletes, read whole, in pages, and as deltas from any position', async () => {
        const ch = chan();
        const model = new Map<string, [string, string, number]>();
        const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
        let seed = 7;
        const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
        for (let i = 1; i <= 400; i++) {
          const key = keys[rand(keys.length)]!;
          const op: KeyOp = rand(4) === 0 ? 'delete' : 'upsert';
          const p = await kpub(ch, key, op, { i });
          model.set(key, [op, p.data, p.offset]);
        }
        const sorted = (m: Map<string, [string, string, number]>) => [...m].sort((x, y) => x[1][2] - y[1][2]);
        assert.deepEqual(sorted((await readState(ch)).map), sorted(model));
        assert.deepEqual(sorted((await readState(ch, 0, 7)).map), sorted(model), 'pages of 7');
        for (const after of [0, 1, 100, 250, 399, 400]) {
          const want = new Map([...model].filter(([, v]) => v[2] > after));
          assert.deepEqual(sorted((await readState(ch, after, 11)).map), sorted(want), `delta after ${after}`);
        }
      });
    });

    if (opts.supportsClock) {
      describe('with an injected clock', () => {
        let clock: ManualClock;
        let b: Broker;
        let done: (() => Promise<void>) | undefined;
        beforeEach(async () => {
          clock = new ManualClock();
          ({ broker: b, cleanup: done } = await factory(clock));
          await b.start(new RecordingHandler());
        });
        afterEach(async () => {
          await b.close();
          await done?.();
        });

        it('stamps publications with the clock', async () => {
          const p = await b.publish({ channel: chan(), event: 'message', data: '1' });
          assert.equal(p.time, clock.ms);
        });

        it('keeps a publication for exactly ttlMs', async () => {
          const ch = chan();
          const hist: HistoryBounds = { size: 10, ttlMs: 1000 };
          await b.publish({ channel: ch, event: 'message', data: '1', history: hist });
          clock.advance(999);
          assert.equal((await b.history(ch)).publications.length, 1);
          clock.advance(1);
          const h = await b.history(ch);
          assert.deepEqual([h.publications.length, h.top.offset, h.earliest], [0, 1, 2]);
        });
      });
    }
  });
}
