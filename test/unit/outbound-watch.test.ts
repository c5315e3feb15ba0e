/**
 * The outbound queue's write watches (the hub's WriteWatch port, how a sampled delivery's write span ends): a watch
 * hears `written` once the bytes queued before it reach the sink, `dropped` when the connection closes first, and
 * exactly one of the two, once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlushScheduler } from '../../src/delivery/flush.js';
import { OutboundQueue, type ByteSink } from '../../src/delivery/outbound.js';

function setup(): { queue: OutboundQueue; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const sink: ByteSink = { write: (b) => (writes.push(b), true), writableLength: 0, waitDrain: async () => {} };
  const queue = new OutboundQueue(sink, new FlushScheduler(0), 1 << 20, { messages: 0, bytes: 0 });
  return { queue, writes };
}

function recorder(): { heard: string[]; watch: { written(): void; dropped(): void } } {
  const heard: string[] = [];
  return { heard, watch: { written: () => heard.push('written'), dropped: () => heard.push('dropped') } };
}

describe('outbound queue writes', () => {
  it('writes one queued message as it is and several as one buffer in order, round after round', () => {
    const { queue, writes } = setup();
    const one = Buffer.from('one');
    queue.push(one);
    queue.flush();
    assert.equal(writes[0], one, 'a single message is written without a copy');
    for (const round of [['a', 'bb', 'ccc'], ['d'], ['e', 'f']]) {
      for (const m of round) queue.push(Buffer.from(m));
      assert.equal(queue.queuedBytes, round.join('').length);
      queue.flush();
      assert.equal(writes.at(-1)!.toString(), round.join(''));
      assert.equal(queue.queuedBytes, 0);
    }
    queue.flush();
    assert.equal(writes.length, 4, 'an empty queue writes nothing');
    queue.push(Buffer.from('x'));
    queue.close();
    queue.flush();
    assert.equal(writes.length, 4, 'a closed queue drops what it held');
  });
});

describe('outbound queue write watches', () => {
  it('a watch hears `written` at the flush that writes the bytes queued before it, once', () => {
    const { queue, writes } = setup();
    const w = recorder();
    queue.push(Buffer.from('a'));
    queue.watchWrite(w.watch);
    assert.deepEqual(w.heard, [], 'nothing written yet');
    queue.flush();
    assert.equal(writes.length, 1);
    assert.deepEqual(w.heard, ['written']);
    queue.push(Buffer.from('b'));
    queue.flush();
    queue.close();
    assert.deepEqual(w.heard, ['written'], 'told once, not again at a later flush or the close');
  });

  it('a watch hears `dropped` when the queue closes before writing, and at once when it is already closed', () => {
    const { queue, writes } = setup();
    const before = recorder();
    queue.push(Buffer.from('a'));
    queue.watchWrite(before.watch);
    queue.close();
    assert.deepEqual(before.heard, ['dropped']);
    assert.equal(writes.length, 0);
    const after = recorder();
    queue.watchWrite(after.watch);
    assert.deepEqual(after.heard, ['dropped']);
    queue.flush();
    assert.deepEqual([before.heard, after.heard], [['dropped'], ['dropped']]);
  });
});
