/**
 * Stream positions and SSE stream tokens: `epoch:offset` per channel, joined by `,` in URL order. Tokens come back
 * from clients (Last-Event-ID, `lastEventId`, API `since`), so everything foreign or garbled must parse to undefined.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EPOCH_PATTERN,
  formatPosition,
  formatStreamToken,
  isStreamPosition,
  parsePosition,
  parseStreamToken,
  type StreamPosition,
} from '../../src/protocol/index.js';

describe('positions', () => {
  it('format as epoch:offset and parse back', () => {
    const cases: StreamPosition[] = [
      { epoch: 'k3f9x2ab', offset: 0 },
      { epoch: 'a', offset: 1 },
      { epoch: '0', offset: 42 },
      { epoch: 'z'.repeat(32), offset: 999_999_999_999_999 },
    ];
    for (const p of cases) {
      const token = formatPosition(p);
      assert.equal(token, `${p.epoch}:${p.offset}`);
      assert.deepEqual(parsePosition(token), p);
      assert.ok(isStreamPosition(p));
    }
  });

  it('parsePosition returns a plain {epoch, offset}', () => {
    assert.deepEqual(Object.keys(parsePosition('abc:5')!), ['epoch', 'offset']);
  });

  it('leading zeros are read as the same offset', () => {
    assert.deepEqual(parsePosition('abc:007'), { epoch: 'abc', offset: 7 });
  });

  it('parsePosition rejects garbage', () => {
    const bad = [
      '',
      ':',
      'abc',
      'abc:',
      ':5',
      'ABC:5', // epochs are lowercase
      'a-b:5',
      'a_b:5',
      'a.b:5',
      'é:5',
      'a'.repeat(33) + ':5', // epoch longer than 32
      'abc:-1',
      'abc:+1',
      'abc:1.5',
      'abc:1e3',
      'abc:0x10',
      'abc: 1',
      'abc:1 ',
      ' abc:1',
      'abc:1:2',
      'abc:1,def:2',
      'abc:9999999999999999', // 16 digits: beyond the 15 that are always safe integers
      'abc:' + '9'.repeat(400),
      'abc:Infinity',
      'abc:NaN',
    ];
    for (const token of bad) assert.equal(parsePosition(token), undefined, JSON.stringify(token));
  });

  it('isStreamPosition checks the epoch pattern and a safe non-negative integer offset', () => {
    const bad: unknown[] = [
      null,
      undefined,
      'abc:1',
      1,
      [],
      {},
      { epoch: 'abc' },
      { offset: 1 },
      { epoch: 'abc', offset: -1 },
      { epoch: 'abc', offset: 0.5 },
      { epoch: 'abc', offset: 2 ** 53 },
      { epoch: 'abc', offset: Infinity },
      { epoch: 'abc', offset: NaN },
      { epoch: 'abc', offset: '1' },
      { epoch: '', offset: 1 },
      { epoch: 'ABC', offset: 1 },
      { epoch: 'a'.repeat(33), offset: 1 },
      { epoch: 7, offset: 1 },
    ];
    for (const v of bad) assert.equal(isStreamPosition(v), false, JSON.stringify(v) ?? String(v));
    assert.equal(isStreamPosition({ epoch: 'abc', offset: Number.MAX_SAFE_INTEGER }), true);
  });

  it('EPOCH_PATTERN: 1-32 lowercase letters and digits', () => {
    assert.match('0123456789abcdefghijklmnopqrstuv', EPOCH_PATTERN);
    assert.doesNotMatch('', EPOCH_PATTERN);
    assert.doesNotMatch('a'.repeat(33), EPOCH_PATTERN);
    assert.doesNotMatch('aB', EPOCH_PATTERN);
  });
});

describe('stream tokens', () => {
  const A = { epoch: 'k3f9x2ab', offset: 12 };
  const B = { epoch: '9c0d1e2f', offset: 0 };
  const C = { epoch: 'z', offset: 999_999_999_999_999 };

  it('format one position per channel, comma-separated, and parse back', () => {
    assert.equal(formatStreamToken([A]), 'k3f9x2ab:12');
    assert.equal(formatStreamToken([A, B, C]), 'k3f9x2ab:12,9c0d1e2f:0,z:999999999999999');
    assert.equal(formatStreamToken([]), '');
    for (const ps of [[A], [A, B], [C, B, A], [A, A]]) {
      assert.deepEqual(parseStreamToken(formatStreamToken(ps), ps.length), ps);
    }
  });

  it('a token with the widest positions of 32 channels round-trips', () => {
    const ps = Array.from({ length: 32 }, (_, i) => ({ epoch: 'e'.repeat(32), offset: 999_999_999_999_990 + (i % 10) }));
    const token = formatStreamToken(ps);
    assert.deepEqual(parseStreamToken(token, 32), ps);
  });

  it('refuses a token made for a different number of channels', () => {
    const token = formatStreamToken([A, B]);
    assert.equal(parseStreamToken(token, 1), undefined);
    assert.equal(parseStreamToken(token, 3), undefined);
    assert.equal(parseStreamToken(formatStreamToken([A]), 2), undefined);
    assert.equal(parseStreamToken(token, 0), undefined);
  });

  it('refuses foreign and garbled tokens', () => {
    const bad: [string, number][] = [
      ['', 1],
      ['', 0],
      [',', 2],
      [',', 1],
      ['k3f9x2ab:12,', 2], // empty last part
      [',k3f9x2ab:12', 2], // empty first part
      ['k3f9x2ab:12,,9c0d1e2f:0', 3],
      ['k3f9x2ab:12, 9c0d1e2f:0', 2],
      ['k3f9x2ab:12;9c0d1e2f:0', 2],
      ['K3F9X2AB:12', 1], // bad epoch
      ['k3f9-x2ab:12', 1],
      ['k3f9x2ab', 1], // no offset
      ['k3f9x2ab:', 1],
      [':12', 1],
      ['k3f9x2ab:-1', 1],
      ['k3f9x2ab:1.5', 1],
      ['k3f9x2ab:9999999999999999', 1], // huge offset
      ['k3f9x2ab:12,9c0d1e2f:' + '9'.repeat(40), 2],
      ['12', 1], // a plain counter id from another server
      ['1700000000000-0', 1], // a Redis stream id
      ['ad8f2c1e-6d0b-4c8c-9f6b-3c9f1e2d7a10', 1], // a UUID
      ['null', 1],
      ['undefined', 1],
    ];
    for (const [token, n] of bad) assert.equal(parseStreamToken(token, n), undefined, `${JSON.stringify(token)} for ${n}`);
  });

  it('refuses a token longer than 64 characters per channel before splitting it', () => {
    const long = 'a:' + '1'.repeat(63); // 65 characters for one channel
    assert.equal(parseStreamToken(long, 1), undefined);
    // A huge header is refused by length alone (no 100,000-part split).
    assert.equal(parseStreamToken('a:1,'.repeat(100_000) + 'a:1', 2), undefined);
  });
});
