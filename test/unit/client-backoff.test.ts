/** Reconnect backoff of the client SDK: exponential ceiling, full jitter, bounded by the configured min and max. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffCeiling, backoffDelay } from '../../src/client/backoff.js';

describe('client backoff', () => {
  const b = { minDelay: 100, maxDelay: 5000 };

  it('doubles the ceiling per attempt from 2·min and caps it at max', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50, 10_000].map((n) => backoffCeiling(n, b)), [200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  });

  it('spans the whole window [min, ceiling]: random 0 gives min, random → 1 gives the ceiling', () => {
    for (let n = 0; n < 10; n++) {
      assert.equal(backoffDelay(n, b, () => 0), 100);
      assert.equal(backoffDelay(n, b, () => 0.999999), backoffCeiling(n, b));
    }
  });

  it('never leaves [min, max] whatever the attempt or randomness', () => {
    for (let n = 0; n < 200; n++) {
      const d = backoffDelay(n, b);
      assert.ok(d >= b.minDelay && d <= Math.min(b.maxDelay, backoffCeiling(n, b)), `attempt ${n}: ${d}`);
    }
  });

  it('min = max gives a fixed delay; min 0 is allowed', () => {
    assert.equal(backoffDelay(3, { minDelay: 700, maxDelay: 700 }), 700);
    assert.equal(backoffDelay(0, { minDelay: 0, maxDelay: 0 }), 0);
  });
});
