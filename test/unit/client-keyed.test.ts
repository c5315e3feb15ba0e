/**
 * A keyed subscription's rules, fed replies and pushes directly (the order a real stream can produce, including the
 * ones a test server rarely shows): snapshot entries may skip offsets until the server's `caught_up` (also past the
 * reply's offset) and not after it, a full snapshot stays invisible until complete (across a resume too), and a
 * channel that is not keyed is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubscribeResult } from '../../src/protocol/index.js';
import { KeyedSubscriptionImpl } from '../../src/client/keyed.js';
import type { SubscriptionHost } from '../../src/client/subscription.js';
import { of, record } from '../helpers/sdk.js';

const E = 'e1';
const never = () => Promise.reject(new Error('not in this test'));
function host(): SubscriptionHost & { unsubscribed: number } {
  return {
    timeout: 1000,
    unsubscribed: 0,
    subscribeNow() {},
    unsubscribeNow() {
      this.unsubscribed++;
    },
    publish: never,
    presence: never,
    history: never,
    forward() {},
  };
}
const reply = (r: Partial<SubscribeResult>): SubscribeResult => ({ channel: 'kv:a', epoch: E, offset: 0, recovered: false, missed: 0, ...r });
const pub = (offset: number, key: string, payload: unknown, op = 'upsert') => ({ push: 'publication', channel: 'kv:a', type: 'message', payload, epoch: E, offset, timestamp: 't', key, op });

function subscribed(): { sub: KeyedSubscriptionImpl; h: ReturnType<typeof host> } {
  const h = host();
  const sub = new KeyedSubscriptionImpl('kv:a', h, { keyed: true });
  sub.subscribe();
  return { sub, h };
}

const caughtUp = (offset: number, epoch = E) => ({ push: 'caught_up', channel: 'kv:a', epoch, offset });

describe('keyed subscription rules', () => {
  it('accepts skipped offsets until caught_up, past the reply offset too, then requires each next offset', () => {
    const { sub } = subscribed();
    const rec = record(sub, ['snapshot', 'change']);
    sub.live(reply({ offset: 9, snapshot: 'full' }), undefined);
    assert.deepEqual(sub.position, { epoch: E, offset: 0 });
    assert.equal(sub.accept(pub(3, 'a', 1)), 'delivered');
    assert.equal(sub.accept(pub(7, 'b', null, 'delete')), 'delivered');
    assert.equal(sub.accept(pub(7, 'b', null, 'delete')), 'dropped', 'a duplicate');
    assert.equal(sub.accept(pub(9, 'c', 3)), 'delivered');
    assert.equal(sub.accept(pub(12, 'd', 4)), 'delivered', 'a later page: past the reply offset, still skipping');
    assert.equal(sub.size, 0, 'the map shows nothing of an incomplete full snapshot');
    assert.equal(sub.synced, false);
    assert.deepEqual(of(rec, 'snapshot'), []);
    assert.equal(sub.caughtUp(caughtUp(14)), 'delivered');
    assert.equal(sub.synced, true);
    assert.deepEqual(sub.position, { epoch: E, offset: 14 }, 'the snapshot top, above its last entry');
    assert.deepEqual([...sub.entries()], [['a', 1], ['c', 3], ['d', 4]]);
    assert.deepEqual(of(rec, 'snapshot'), [{ channel: 'kv:a', kind: 'full', size: 3, epoch: E, offset: 14 }]);
    assert.equal(of(rec, 'change').length, 0);
    assert.equal(sub.accept(pub(16, 'a', 2)), 'gap', 'live: 15 is missing');
    assert.equal(sub.accept(pub(15, 'a', 2)), 'delivered');
    assert.deepEqual(of(rec, 'change'), [{ channel: 'kv:a', key: 'a', op: 'upsert', value: 2, offset: 15 }]);
    assert.equal(sub.caughtUp(caughtUp(20)), 'dropped', 'one caught_up per subscribe');
  });

  it('treats a skip after caught_up as a gap, and another epoch too', () => {
    const { sub } = subscribed();
    sub.live(reply({ offset: 5, snapshot: 'full' }), undefined);
    assert.equal(sub.accept(pub(2, 'a', 1)), 'delivered');
    assert.equal(sub.accept({ ...pub(3, 'b', 1), epoch: 'e2' }), 'gap');
    assert.equal(sub.caughtUp(caughtUp(5, 'e2')), 'gap');
    assert.equal(sub.caughtUp(caughtUp(1)), 'gap', 'below what was delivered');
    assert.equal(sub.caughtUp(caughtUp(5)), 'delivered');
    assert.equal(sub.accept(pub(7, 'b', 1)), 'gap');
  });

  it('becomes current at caught_up when the snapshot is empty', () => {
    const { sub } = subscribed();
    const rec = record(sub, ['snapshot']);
    sub.live(reply({ offset: 40, snapshot: 'full' }), undefined);
    assert.equal(sub.synced, false);
    sub.caughtUp(caughtUp(40));
    assert.equal(sub.synced, true);
    assert.deepEqual(of(rec, 'snapshot'), [{ channel: 'kv:a', kind: 'full', size: 0, epoch: E, offset: 40 }]);
    assert.equal(sub.accept(pub(41, 'a', 1)), 'delivered');
  });

  it('keeps building a full snapshot through a resume, and swaps it in at caught_up', () => {
    const { sub } = subscribed();
    sub.live(reply({ offset: 2, snapshot: 'full' }), undefined);
    sub.accept(pub(1, 'old', 1));
    sub.accept(pub(2, 'gone', 1));
    sub.caughtUp(caughtUp(2));
    assert.deepEqual([...sub.keys()], ['old', 'gone']);
    sub.setSubscribing();
    sub.live(reply({ offset: 6, snapshot: 'full', reason: 'too_old' }), { epoch: E, offset: 2 });
    sub.accept(pub(4, 'k', 'v'));
    assert.deepEqual([...sub.keys()], ['old', 'gone'], 'the previous state stays readable while the new one streams');
    sub.setSubscribing(); // dropped mid-snapshot: resume from offset 4
    const rec = record(sub, ['snapshot', 'change']);
    sub.live(reply({ offset: 6, recovered: true, snapshot: 'delta' }), { epoch: E, offset: 4 });
    sub.accept(pub(6, 'm', 'w'));
    assert.deepEqual([...sub.keys()], ['old', 'gone'], 'not swapped in before caught_up');
    sub.caughtUp(caughtUp(6));
    assert.deepEqual([...sub.entries()], [['k', 'v'], ['m', 'w']]);
    assert.deepEqual(of(rec, 'snapshot').map((s) => s.kind), ['full'], 'still a rebuild: keys old and gone went without a change');
    assert.equal(of(rec, 'change').length, 0);
  });

  it('applies a delta to the map it has, with a change per key; a replay must not skip', () => {
    const { sub } = subscribed();
    sub.live(reply({ offset: 2, snapshot: 'full' }), undefined);
    sub.accept(pub(1, 'a', 1));
    sub.accept(pub(2, 'b', 1));
    sub.caughtUp(caughtUp(2));
    sub.setSubscribing();
    const rec = record(sub, ['snapshot', 'change']);
    sub.live(reply({ offset: 9, recovered: true, snapshot: 'delta' }), { epoch: E, offset: 2 });
    sub.accept(pub(5, 'b', null, 'delete'));
    sub.accept(pub(9, 'c', 3));
    sub.caughtUp(caughtUp(9));
    assert.deepEqual([...sub.entries()], [['a', 1], ['c', 3]]);
    assert.deepEqual(of(rec, 'change').map((c) => [c.key, c.op]), [['b', 'delete'], ['c', 'upsert']]);
    sub.setSubscribing();
    sub.live(reply({ offset: 11, recovered: true, missed: 2 }), { epoch: E, offset: 9 });
    assert.equal(sub.accept(pub(11, 'c', 4)), 'gap', 'a replay sends every offset');
    assert.equal(sub.accept(pub(10, 'c', 4)), 'delivered');
    assert.equal(sub.caughtUp(caughtUp(12)), 'gap', 'a replay ends where its last publication is');
    assert.equal(sub.accept(pub(11, 'c', 5)), 'delivered');
    assert.equal(sub.caughtUp(caughtUp(11)), 'delivered');
    assert.deepEqual(of(rec, 'snapshot').map((s) => s.kind), ['delta', 'replay']);
    assert.equal(sub.synced, true);
  });

  it('refuses a channel that is not keyed and unsubscribes from it', () => {
    const { sub, h } = subscribed();
    const rec = record(sub, ['error', 'unsubscribed']);
    sub.live(reply({ offset: 4 }), undefined);
    assert.equal(sub.state, 'unsubscribed');
    assert.equal(of(rec, 'error')[0].error.code, 'not_keyed');
    assert.equal(h.unsubscribed, 1);
  });
});
