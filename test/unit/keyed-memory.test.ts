/**
 * The memory broker's compacted log (KeyedLog) on its own: pages from any offset stay right across compactions,
 * tombstones expire oldest first, and the key limit evicts a tombstone before refusing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLog } from '../../src/broker/keyed-memory.js';
import type { KeyOp, ServerPublication } from '../../src/protocol/index.js';
import { ReplyError } from '../../src/protocol/index.js';

let offset = 0;
const pub = (key: string, op: KeyOp, time = 0): ServerPublication => ({ channel: 'c', event: 'e', data: op === 'delete' ? 'null' : String(offset + 1), epoch: 'e1', offset: ++offset, time, key, op });

describe('KeyedLog', () => {
  it('pages match a model from every offset while updates compact the log', () => {
    offset = 0;
    const log = new KeyedLog({ maxKeys: 1000, tombstoneTtlMs: 1e12 });
    const model = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const key = `k${(i * 7) % 50}`;
      const p = pub(key, i % 9 === 0 ? 'delete' : 'upsert');
      log.admit(key, 0);
      log.write(p);
      model.set(key, p.offset);
    }
    assert.equal(log.size, 50);
    for (const after of [0, 1, 4900, 4950, 4990, 5000]) {
      const want = [...model.values()].filter((o) => o > after).sort((a, b) => a - b);
      const got: number[] = [];
      let cursor = after;
      for (;;) {
        const page = log.page({ after: cursor, limit: 7 });
        got.push(...page.map((p) => p.offset));
        if (page.length < 7) break;
        cursor = page[page.length - 1]!.offset;
      }
      assert.deepEqual(got, want, `after ${after}`);
    }
  });

  it('expires tombstones oldest first at exactly their ttl and raises complete', () => {
    offset = 0;
    const log = new KeyedLog({ maxKeys: 10, tombstoneTtlMs: 100 });
    for (const [k, op, t] of [['a', 'upsert', 0], ['b', 'delete', 10], ['c', 'delete', 20], ['b', 'upsert', 30], ['d', 'delete', 40]] as const) {
      log.admit(k, t);
      log.write(pub(k, op, t));
    }
    log.expire(119);
    assert.deepEqual([log.size, log.complete], [4, 0]);
    log.expire(120); // c (offset 3, time 20) is 100 ms old; b was upserted again, so no longer a tombstone
    assert.deepEqual([log.size, log.complete], [3, 3]);
    assert.deepEqual(log.page({ after: 0, limit: 10 }).map((p) => p.key), ['a', 'b', 'd']);
  });

  it('at maxKeys, evicts the oldest tombstone for a new key, else refuses it', () => {
    offset = 0;
    const log = new KeyedLog({ maxKeys: 2, tombstoneTtlMs: 1e12 });
    log.admit('a', 0);
    log.write(pub('a', 'upsert'));
    log.admit('b', 0);
    log.write(pub('b', 'delete'));
    log.admit('c', 0); // b's tombstone goes
    log.write(pub('c', 'upsert'));
    assert.equal(log.complete, 2);
    assert.throws(() => log.admit('d', 0), (e: unknown) => e instanceof ReplyError && e.code === 'limit_exceeded');
    log.admit('a', 0); // an existing key is always admitted
  });
});
