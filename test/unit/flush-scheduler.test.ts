/**
 * The node-wide write scheduler (delivery/flush.ts): connections marked during one turn are flushed together in one
 * round, and when the next publication comes right after a slow round (it waited behind it) the next round waits (up
 * to `delivery.maxWriteDelay`) so more publications share it; the window closes again when a delayed round coalesced
 * nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlushScheduler, type Flushable } from '../../src/delivery/flush.js';
import { waitFor } from '../helpers/wait.js';

/** A connection whose flush takes `busyMs` of CPU (a slow round: many sockets written). */
class FakeConnection implements Flushable {
  flushedAt: number[] = [];
  private resolveFlushed!: () => void;
  /** Resolves at the first flush. */
  readonly flushed = new Promise<void>((r) => (this.resolveFlushed = r));
  /** `messages`: how many messages the flush writes, told to `scheduler` as an outbound queue does. */
  constructor(
    private readonly busyMs = 0,
    private readonly scheduler?: FlushScheduler,
    private readonly messages = 1,
  ) {}
  flush(): void {
    if (this.scheduler) this.scheduler.messages += this.messages;
    this.resolveFlushed();
    const until = performance.now() + this.busyMs;
    while (performance.now() < until) {
      /* spin: a round that costs CPU */
    }
    this.flushedAt.push(performance.now());
  }
}

describe('flush scheduler', () => {
  it('flushes every connection marked in one turn in a single round, once each', async () => {
    const s = new FlushScheduler(20);
    const conns = Array.from({ length: 50 }, () => new FakeConnection());
    for (const c of conns) s.mark(c);
    assert.equal(s.rounds, 0, 'nothing is written synchronously');
    await waitFor(() => s.rounds > 0, { label: 'a round' });
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(s.rounds, 1);
    assert.deepEqual(conns.map((c) => c.flushedAt.length), conns.map(() => 1));
  });

  it('after a 30 ms round, holds the next round back so connections marked meanwhile share it', async () => {
    const s = new FlushScheduler(100);
    const slow = new FakeConnection(30);
    s.mark(slow);
    await slow.flushed; // resumes right after the round (a microtask of the round's turn)
    const firstEnd = slow.flushedAt[0]!;
    const late = Array.from({ length: 5 }, () => new FakeConnection());
    s.mark(late[0]!);
    assert.equal(s.delayedRounds, 1, 'the round after a slow one waits');
    // Marked over the next few milliseconds (publications arriving while the window is open): same round.
    for (const c of late.slice(1)) {
      await new Promise<void>((r) => setTimeout(r, 1));
      if (s.rounds === 1) s.mark(c);
    }
    await waitFor(() => s.rounds === 2, { label: 'the delayed round' });
    const flushed = late.filter((c) => c.flushedAt.length > 0);
    assert.ok(flushed.length >= 3, `several connections shared the delayed round: ${flushed.length}`);
    assert.ok(flushed.every((c) => c.flushedAt.length === 1));
    const waited = flushed[0]!.flushedAt[0]! - firstEnd;
    assert.ok(waited >= 20 && waited < 100, `the delayed round started about one slow-round duration later: ${waited.toFixed(1)} ms`);
  });

  it('does not delay a round whose publication arrived well after the slow round ended (the loop was not mostly writing)', async () => {
    const s = new FlushScheduler(100);
    const slow = new FakeConnection(40);
    s.mark(slow);
    await slow.flushed;
    const end = slow.flushedAt[0]!;
    // 20 publications/s on a busy machine: a 40 ms round, the next publication 15-20 ms after it ended.
    while (performance.now() - end < 15) await new Promise<void>((r) => setTimeout(r, 1));
    const next = new FakeConnection();
    s.mark(next);
    assert.equal(s.delayedRounds, 0, 'a publication that did not wait behind the round is written at once');
    await next.flushed;
  });

  it('after a round that coalesced, opens the window for a publication up to one round\'s duration later', async () => {
    const s = new FlushScheduler(100);
    const slow = new FakeConnection(40, s, 3); // three publications for each connection in one round
    s.mark(slow);
    await slow.flushed;
    const end = slow.flushedAt[0]!;
    while (performance.now() - end < 15) await new Promise<void>((r) => setTimeout(r, 1));
    s.mark(new FakeConnection());
    assert.equal(s.delayedRounds, 1, 'the window stays open while rounds coalesce, even 15 ms after a 40 ms round');
    await waitFor(() => s.rounds === 2, { label: 'the delayed round' });
  });

  /** Two slow rounds, the second delayed by the window, each connection writing `messages`; then a third mark. */
  async function afterDelayedRound(messages: number): Promise<FlushScheduler> {
    const s = new FlushScheduler(100);
    const first = new FakeConnection(30, s);
    s.mark(first);
    await first.flushed;
    const second = new FakeConnection(30, s, messages);
    s.mark(second);
    assert.equal(s.delayedRounds, 1, 'the round after a slow one waits');
    await second.flushed; // right after the delayed round, as the first await above
    assert.equal(s.rounds, 2);
    s.mark(new FakeConnection(0, s));
    return s;
  }

  it('closes the window after a delayed round that coalesced nothing (one message per connection)', async () => {
    const s = await afterDelayedRound(1);
    assert.equal(s.delayedRounds, 1, 'the round after a delayed round that paid nothing is not delayed');
    await waitFor(() => s.rounds === 3, { label: 'the third round' });
  });

  it('keeps the window open after a delayed round that coalesced (several messages per connection)', async () => {
    const s = await afterDelayedRound(3);
    assert.equal(s.delayedRounds, 2, 'the window stays open while it pays');
    await waitFor(() => s.rounds === 3, { label: 'the third round' });
  });

  it('runs the round of a large fan-out in its own turn (a microtask), before the loop\'s next phase, once', async () => {
    const s = new FlushScheduler(20);
    const conns = Array.from({ length: 64 }, () => new FakeConnection());
    for (const c of conns) s.mark(c);
    s.fannedOut(conns.length);
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    await Promise.resolve();
    assert.equal(s.rounds, 1, 'the round ran at the end of the task, not after setImmediate');
    assert.equal(immediateRan, false);
    assert.ok(conns.every((c) => c.flushedAt.length === 1));
    await new Promise<void>((r) => setTimeout(r, 5));
    assert.equal(s.rounds, 1, 'the round\'s setImmediate was cancelled: no second, empty round');
  });

  it('leaves small fan-outs, and rounds the window delays, to their setImmediate or timer', async () => {
    const s = new FlushScheduler(100);
    const small = new FakeConnection();
    s.mark(small);
    s.fannedOut(63);
    await Promise.resolve();
    assert.equal(s.rounds, 0, 'a fan-out under 64 recipients waits for the loop phase');
    await small.flushed;
    // A slow round opens the window: the next round waits for it even after a large fan-out.
    const slow = new FakeConnection(30);
    s.mark(slow);
    await slow.flushed;
    const rounds = s.rounds;
    s.mark(new FakeConnection());
    s.fannedOut(1000);
    await Promise.resolve();
    assert.equal(s.delayedRounds, 1);
    assert.equal(s.rounds, rounds, 'the delayed round is not run early');
    await waitFor(() => s.rounds === rounds + 1, { label: 'the delayed round' });
  });

  it('never delays with maxWriteDelay 0', async () => {
    const s = new FlushScheduler(0);
    const slow = new FakeConnection(10);
    s.mark(slow);
    await slow.flushed;
    s.mark(new FakeConnection());
    assert.equal(s.delayedRounds, 0);
  });
});
