/**
 * The server side of delta compression (src/delivery/delta.ts) without sockets: which frames are deltas (never when
 * not live, never the first, at most fullEvery - 1 in a row, never when not smaller), that a delta is built once per
 * publication and base and shared, and that a publication keeps at most `maxBases` of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeltaStream } from '../../src/delivery/delta.js';
import { EncodedPublication, encodeCounts } from '../../src/delivery/encoded.js';
import { applyFossilDelta, type ServerPublication } from '../../src/protocol/index.js';

const payload = (i: number) => ({ seq: i, text: 'the same long text every time '.repeat(10) });
const pub = (offset: number, data: unknown = payload(offset), epoch = 'e'): EncodedPublication =>
  new EncodedPublication({ channel: 'c', event: 'message', data: JSON.stringify(data), epoch, offset, time: 0 } satisfies ServerPublication);
/** The push in a WebSocket frame built by the server (a short unmasked text frame: 2- or 4-byte header). */
const push = (frame: Buffer): Record<string, any> => JSON.parse(frame.subarray(frame[1]! === 126 ? 4 : 2).toString('utf8'));

describe('DeltaStream', () => {
  it('sends the first publication full, then deltas, a full one every fullEvery, and deltas that rebuild the data', () => {
    const s = new DeltaStream({ fullEvery: 4, maxBases: 4 });
    let base: Uint8Array | undefined;
    const kinds: string[] = [];
    for (let i = 1; i <= 9; i++) {
      const p = push(s.frame(pub(i), true));
      if (p.delta === true) {
        const out = applyFossilDelta(base!, p.payload)!;
        assert.deepEqual(JSON.parse(new TextDecoder().decode(out)), payload(i));
        base = out;
      } else base = new TextEncoder().encode(JSON.stringify(p.payload));
      kinds.push(p.delta === true ? 'd' : 'F');
    }
    assert.equal(kinds.join(''), 'FdddFdddF');
  });

  it('sends full payloads while not live, and when the delta is not smaller or the epoch changed', () => {
    const s = new DeltaStream({ fullEvery: 100, maxBases: 4 });
    assert.equal(push(s.frame(pub(1), false)).delta, undefined);
    assert.equal(push(s.frame(pub(2), false)).delta, undefined, 'replayed: full');
    assert.equal(push(s.frame(pub(3), true)).delta, true);
    assert.equal(push(s.frame(pub(4, { other: Math.random().toString(36) }), true)).delta, undefined, 'nothing alike: full');
    assert.equal(push(s.frame(pub(5, payload(5), 'f'), true)).delta, undefined, 'another epoch: full');
  });

  it('builds one delta per publication and base, shared by every stream at that base, at most maxBases', () => {
    const maxBases = 3;
    // Six streams: two at base 1, then one each at bases 2..5.
    const bases = [1, 1, 2, 3, 4, 5].map((b) => pub(b));
    const streams = bases.map((b) => {
      const s = new DeltaStream({ fullEvery: 100, maxBases });
      s.frame(b, true);
      return s;
    });
    const next = pub(6);
    const before = encodeCounts.delta;
    const frames = streams.map((s) => s.frame(next, true));
    assert.deepEqual(frames.map((f) => push(f).delta === true), [true, true, true, true, false, false]);
    assert.equal(frames[0], frames[1], 'the two streams at base 1 share one frame');
    assert.equal(encodeCounts.delta - before, maxBases);
    assert.equal(next.deltaCache.frames.length, maxBases);
    assert.equal(frames[5], next.wsFrame(), 'past maxBases: the shared full frame');
  });
});
