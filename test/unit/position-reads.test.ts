import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PositionReads } from '../../src/node/position-reads.js';

/** A read the test answers by hand, remembering when it was issued. */
function deferredReads() {
  const issued: { at: number; resolve: (v: number) => void; reject: (e: unknown) => void }[] = [];
  let clock = 0;
  const issue = () =>
    new Promise<number>((resolve, reject) => {
      issued.push({ at: clock, resolve, reject });
    });
  return { issued, issue, tick: () => ++clock };
}

const flush = () => new Promise((r) => setImmediate(r));

test('reads of one channel asked while one is in flight are made once, after it ends', async () => {
  const reads = new PositionReads<number>();
  const { issued, issue } = deferredReads();
  const first = reads.read('a', issue);
  const later = [reads.read('a', issue), reads.read('a', issue), reads.read('a', issue)];
  assert.equal(issued.length, 1, 'the waiters do not join the read already in flight');
  issued[0]!.resolve(1);
  assert.equal(await first, 1);
  await flush();
  assert.equal(issued.length, 2, 'one read for every waiter, issued after the first ended');
  issued[1]!.resolve(2);
  assert.deepEqual(await Promise.all(later), [2, 2, 2]);
  await flush();
  assert.equal(reads.inFlight, 0);
});

test('a waiter never gets the answer of a read issued before it asked', async () => {
  const reads = new PositionReads<number>();
  const { issued, issue, tick } = deferredReads();
  void reads.read('a', issue);
  const askedAt = tick();
  const mine = reads.read('a', issue);
  issued[0]!.resolve(10);
  await flush();
  assert.ok(issued[1]!.at >= askedAt, 'the read it shares was issued after it asked');
  issued[1]!.resolve(11);
  assert.equal(await mine, 11);
});

test('channels are read independently; a failed read fails only its own batch', async () => {
  const reads = new PositionReads<number>();
  const { issued, issue } = deferredReads();
  const a = reads.read('a', issue);
  const b = reads.read('b', issue);
  const a2 = reads.read('a', issue);
  assert.equal(issued.length, 2);
  issued[0]!.reject(new Error('redis down'));
  await assert.rejects(a, /redis down/);
  await flush();
  issued[2]!.resolve(5);
  assert.equal(await a2, 5);
  issued[1]!.resolve(7);
  assert.equal(await b, 7);
  await flush();
  assert.equal(reads.inFlight, 0);
});

test('a read that throws synchronously rejects and leaves the channel usable', async () => {
  const reads = new PositionReads<number>();
  await assert.rejects(reads.read('a', () => {
    throw new Error('boom');
  }), /boom/);
  await flush();
  assert.equal(await reads.read('a', () => Promise.resolve(3)), 3);
});
