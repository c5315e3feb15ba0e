/** The SDK's event-stream parser: WHATWG field rules, any chunking, CRLF split across chunks, bounded lines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseLineTooLongError, SseParser } from '../../src/client/sse-parser.js';

interface Got {
  events: [string, string, string | undefined][];
  retries: number[];
}

function parse(chunks: string[], maxLine?: number): Got {
  const got: Got = { events: [], retries: [] };
  const p = new SseParser({ event: (t, d, id) => got.events.push([t, d, id]), retry: (ms) => got.retries.push(ms) }, maxLine);
  for (const c of chunks) p.push(c);
  return got;
}

const STREAM =
  '\uFEFFretry: 3000\n: switchboard\n\nevent: connected\ndata: {"a":1}\nid: e:1\n\n' +
  'data: line1\r\ndata: line2\r\n\r\n' +
  'event: chat\rdata:no-space\rid: x\0y\r\r' +
  ': ping\n\n' +
  'event: empty\n\n' +
  'data\n\n' +
  'retry: soon\nfoo: bar\ndata: last\n\n';

const EXPECTED: Got = {
  events: [
    ['connected', '{"a":1}', 'e:1'],
    ['message', 'line1\nline2', undefined],
    // An id holding NUL is ignored (WHATWG).
    ['chat', 'no-space', undefined],
    ['message', '', undefined],
    ['message', 'last', undefined],
  ],
  retries: [3000],
};

describe('client SSE parser', () => {
  it('parses a stream in one chunk', () => {
    assert.deepEqual(parse([STREAM]), EXPECTED);
  });

  it('gives the same events for every split into two chunks (CRLF split included)', () => {
    for (let i = 1; i < STREAM.length; i++) {
      assert.deepEqual(parse([STREAM.slice(0, i), STREAM.slice(i)]), EXPECTED, `split at ${i}`);
    }
  });

  it('gives the same events fed one character at a time', () => {
    assert.deepEqual(parse([...STREAM]), EXPECTED);
  });

  it('does not dispatch an event until its blank line arrives', () => {
    assert.deepEqual(parse(['data: half\n']).events, []);
  });

  it('refuses a line longer than the limit', () => {
    assert.throws(() => parse(['data: ' + 'x'.repeat(100)], 50), SseLineTooLongError);
  });
});
