/**
 * The client's receive-span sampler (src/client/receive-sampler.ts): the ratio is decided by the trace id's last 8
 * hex digits (so every client agrees), and the per-second cap resets on each wall-clock second.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiveSampler } from '../../src/client/receive-sampler.js';

const id = (low: number) => `${'ab'.repeat(12)}${low.toString(16).padStart(8, '0')}`;

describe('ReceiveSampler', () => {
  it('keeps a trace when its low 32 bits fall under the rate, the same way every time', () => {
    const s = new ReceiveSampler(0.25, 0);
    assert.equal(s.take(id(0)), true);
    assert.equal(s.take(id(2 ** 30 - 1)), true);
    assert.equal(s.take(id(2 ** 30)), false);
    assert.equal(s.take(id(2 ** 32 - 1)), false);
    const other = new ReceiveSampler(0.25, 0);
    for (let i = 0; i < 100; i++) {
      const t = id(Math.floor(Math.random() * 2 ** 32));
      assert.equal(other.take(t), s.take(t));
    }
  });

  it('1 keeps all, 0 keeps none', () => {
    assert.equal(new ReceiveSampler(1, 0).take(id(2 ** 32 - 1)), true);
    assert.equal(new ReceiveSampler(0, 0).take(id(0)), false);
    assert.equal(new ReceiveSampler(0, 0).take(undefined), false);
  });

  it('caps spans per wall-clock second, and starts again in the next second', () => {
    const s = new ReceiveSampler(1, 3);
    const taken = (now: number, n: number) => Array.from({ length: n }, () => s.take(id(1), now)).filter(Boolean).length;
    assert.equal(taken(10_000, 5), 3);
    assert.equal(taken(10_999, 5), 0);
    assert.equal(taken(11_000, 5), 3);
  });

  it('refuses a rate outside 0..1 and a cap that is not an integer >= 0, naming the option', () => {
    assert.throws(() => new ReceiveSampler(1.5, 0), /receiveSampleRate/);
    assert.throws(() => new ReceiveSampler(Number.NaN, 0), /receiveSampleRate/);
    assert.throws(() => new ReceiveSampler(1, -1), /maxReceiveSpansPerSecond/);
    assert.throws(() => new ReceiveSampler(1, 0.5), /maxReceiveSpansPerSecond/);
  });
});
