// The chaos checker's definitions (chaos/lib/checker.js, docs/reliability.md) on hand-made streams: each failure kind
// is counted, and what a signalled reset covers is not. Run: node --test chaos/checker.test.js
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ledger, StreamLog } from './lib/checker.js';

/** A ledger and one subscriber on channel `c`, with a clock the test moves. */
function setup() {
  let t = 1000;
  const ledger = new Ledger(() => t);
  const log = new StreamLog('sub', 'raw-ws', 'c', ledger);
  const tick = () => (t += 10);
  const ack = (epoch, from, to) => {
    for (let o = from; o <= to; o++) ledger.ack('c', epoch, o, `p.${epoch}.${o}`);
  };
  const deliver = (epoch, from, to) => {
    for (let o = from; o <= to; o++) log.publication(epoch, o, { id: `p.${epoch}.${o}` });
  };
  return { ledger, log, tick, ack, deliver };
}

test('everything delivered in order: nothing lost', () => {
  const { log, ack, deliver } = setup();
  log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 0 });
  ack('e1', 1, 5);
  deliver('e1', 1, 5);
  assert.deepEqual([log.account().lost, log.duplicated, log.outOfOrder, log.mismatched], [0, 0, 0, 0]);
  assert.equal(log.caughtUp(), true);
});

test('a hole and an undelivered tail are lost; publications before the subscribe are not owed', () => {
  const { log, ack, deliver } = setup();
  ack('e1', 1, 3);
  log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 3 });
  ack('e1', 4, 9);
  deliver('e1', 4, 5);
  deliver('e1', 7, 7);
  assert.equal(log.caughtUp(), false);
  const a = log.account();
  assert.equal(a.lost, 3); // 6, 8 and 9; 1..3 came before the subscription
  assert.deepEqual(a.lostSamples.map((s) => s.offset), [6, 8, 9]);
});

test('a recovered resume keeps the segment; recovered:false covers what it skipped', () => {
  const { log, ack, deliver } = setup();
  log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 0 });
  ack('e1', 1, 12);
  deliver('e1', 1, 3);
  log.subscribed({ recovered: true, wasRecovering: true, epoch: 'e1', offset: 6 });
  deliver('e1', 4, 5);
  log.subscribed({ recovered: false, wasRecovering: true, epoch: 'e1', offset: 10, reason: 'too_old' });
  deliver('e1', 11, 12);
  const a = log.account();
  assert.equal(a.lost, 0);
  assert.equal(a.covered, 5); // 6..10
  assert.equal(log.resets, 1);
  assert.deepEqual(log.reasons, { too_old: 1 });
});

test('duplicates, out-of-order and mismatched payloads are counted', () => {
  const { log, ledger, ack, deliver } = setup();
  log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 0 });
  ack('e1', 1, 4);
  deliver('e1', 1, 1);
  deliver('e1', 3, 3);
  deliver('e1', 2, 2); // below 3: out of order
  deliver('e1', 3, 3); // again: duplicate
  log.publication('e1', 4, { id: 'someone-else' });
  assert.equal(log.outOfOrder, 1);
  assert.equal(log.duplicated, 1);
  assert.equal(log.mismatched, 1);
  assert.equal(log.account().lost, 0);
  ledger.ack('c', 'e1', 4, 'other');
  assert.equal(ledger.conflicts, 1);
});

test('an epoch change is covered when the subscriber was told, lost when it was not', () => {
  const told = setup();
  told.log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 0 });
  told.ack('e1', 1, 5);
  told.deliver('e1', 1, 3);
  told.tick();
  told.ack('e2', 1, 2); // Redis restarted empty: new epoch
  told.tick();
  told.log.subscribed({ recovered: false, wasRecovering: true, epoch: 'e2', offset: 2, reason: 'epoch_changed' });
  told.ack('e2', 3, 4);
  told.deliver('e2', 3, 4);
  const a = told.log.account();
  assert.deepEqual([a.lost, a.covered], [0, 4]); // e1:4,5 and e2:1,2
  assert.equal(told.log.caughtUp(), true);

  const silent = setup();
  silent.log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 0 });
  silent.ack('e1', 1, 3);
  silent.deliver('e1', 1, 3);
  silent.tick();
  silent.ack('e2', 1, 2); // never told: stays in e1
  assert.equal(silent.log.caughtUp(), false);
  assert.equal(silent.log.account().lost, 2);
});

test('publications delivered but never acknowledged (outcome unknown) are fine', () => {
  const { log, ack, deliver } = setup();
  log.subscribed({ recovered: false, wasRecovering: false, epoch: 'e1', offset: 0 });
  ack('e1', 1, 1);
  deliver('e1', 1, 2); // offset 2 stored, its publish timed out
  ack('e1', 3, 3);
  deliver('e1', 3, 3);
  assert.deepEqual([log.account().lost, log.outOfOrder, log.mismatched], [0, 0, 0]);
});
