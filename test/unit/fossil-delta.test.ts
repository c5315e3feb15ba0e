/**
 * The SDK's fossil delta applier (src/protocol/fossil.ts) against the encoder the server uses (`fossil-delta`): every
 * delta of random and JSON-like inputs, binary and multi-byte UTF-8 included, rebuilds the target byte for byte;
 * a delta applied to another base, cut short or altered gives undefined (never wrong bytes, never a throw).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { applyDelta, createDelta } from 'fossil-delta';
import { applyFossilDelta, decodeCommand, fossilChecksum } from '../../src/protocol/index.js';

const asText = (d: Uint8Array) => Buffer.from(d).toString('latin1');

/** A small pseudo-random generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);
}

/** `src` with a few random edits: replaced, inserted and deleted runs. */
function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = Buffer.from(src);
  for (let e = Math.floor(r() * 6); e >= 0; e--) {
    const at = Math.floor(r() * (b.length + 1));
    const run = randomBytes(Math.floor(r() * 40));
    const cut = Math.floor(r() * 20);
    b = Buffer.concat([b.subarray(0, at), run, b.subarray(Math.min(b.length, at + (r() < 0.5 ? cut : 0)))]);
  }
  return new Uint8Array(b);
}

describe('applyFossilDelta', () => {
  it('rebuilds what fossil-delta encoded, for 500 random pairs', () => {
    const r = rng(17);
    for (let i = 0; i < 500; i++) {
      const base = new Uint8Array(randomBytes(Math.floor(r() * 3000)));
      const target = mutate(base, r);
      const delta = createDelta(base, target);
      assert.deepEqual(applyFossilDelta(base, asText(delta)), target, `pair ${i}`);
    }
  });

  it('rebuilds JSON text with multi-byte characters (copies may split a character)', () => {
    const enc = new TextEncoder();
    const base = enc.encode(JSON.stringify({ a: 'héllo wörld ✓✓✓', n: 1, list: Array.from({ length: 50 }, (_, i) => `élément ${i}`) }));
    const target = enc.encode(JSON.stringify({ a: 'héllo wörld ✓✗✓', n: 2, list: Array.from({ length: 50 }, (_, i) => `élément ${i * 2}`) }));
    assert.equal(new TextDecoder().decode(applyFossilDelta(base, asText(createDelta(base, target)))), new TextDecoder().decode(target));
  });

  it('computes the checksum fossil-delta writes', () => {
    const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';
    for (const n of [1, 2, 3, 4, 5, 15, 16, 17, 1001]) {
      const b = new Uint8Array(randomBytes(n));
      // From an empty base the delta is `size\n size:bytes checksum;`: its last integer is the target's checksum.
      const d = asText(createDelta(new Uint8Array(0), b));
      const written = [...d.slice(d.indexOf(':') + 1 + n, -1)].reduce((v, c) => v * 64 + DIGITS.indexOf(c), 0);
      assert.equal(fossilChecksum(b), written, `${n} bytes`);
      assert.deepEqual(applyFossilDelta(new Uint8Array(0), d), b);
      assert.deepEqual(applyDelta(new Uint8Array(0), createDelta(new Uint8Array(0), b)), b);
    }
  });

  it('gives undefined for another base, a cut or altered delta, and junk', () => {
    const r = rng(5);
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const base = new Uint8Array(randomBytes(200 + Math.floor(r() * 800)));
      const target = mutate(base, r);
      const delta = asText(createDelta(base, target));
      const other = new Uint8Array(base);
      other[Math.floor(r() * other.length)]! ^= 0x5a;
      const cut = delta.slice(0, Math.floor(r() * delta.length));
      const pos = Math.floor(r() * delta.length);
      const altered = delta.slice(0, pos) + String.fromCharCode(delta.charCodeAt(pos) ^ 1) + delta.slice(pos + 1);
      for (const [b, d] of [[other, delta], [base, cut], [base, altered]] as const) {
        const out = applyFossilDelta(b, d);
        // Only exactly the target may come out (a change in a byte the delta never copies changes nothing).
        if (out === undefined) refused++;
        else assert.deepEqual(out, target);
      }
    }
    assert.ok(refused > 600, `most broken deltas are refused (${refused} of 900)`);
    for (const junk of ['', '\n', 'zz', '5\n5@0,;', '1\n1:\u0100', '3\n3:abcX;', '~~~~~~~~~~\n', '2\n2@99999999,0;']) {
      assert.equal(applyFossilDelta(new Uint8Array(10), junk), undefined, JSON.stringify(junk));
    }
  });
});

describe('subscribe "delta"', () => {
  it('takes "fossil" and refuses anything else with bad_request', () => {
    const cmd = decodeCommand('{"id":1,"method":"subscribe","params":{"channel":"c","delta":"fossil"}}');
    assert.equal(cmd.method === 'subscribe' && cmd.params.delta, 'fossil');
    const none = decodeCommand('{"id":1,"method":"subscribe","params":{"channel":"c"}}');
    assert.ok(none.method === 'subscribe' && !('delta' in none.params));
    for (const bad of ['"xdelta"', 'true', '1', '{}']) {
      assert.throws(() => decodeCommand(`{"id":1,"method":"subscribe","params":{"channel":"c","delta":${bad}}}`), { code: 'bad_request', message: '"delta" must be "fossil"' });
    }
  });
});
