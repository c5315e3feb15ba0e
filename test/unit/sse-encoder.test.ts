/** The SSE encoder (src/protocol/sse.ts): exact bytes, and what a spec parser makes of them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeSseComment, encodeSseEvent, encodeSseEventHead } from '../../src/protocol/sse.js';
import { parseSse } from '../helpers/sse-client.js';

describe('SSE encoder', () => {
  it('encodes event, data, id and the blank line that dispatches', () => {
    assert.equal(encodeSseEvent({ event: 'news', data: '{"a":1}', id: 'e1:5' }), 'event: news\ndata: {"a":1}\nid: e1:5\n\n');
  });

  it('splits multi-line data on LF, CR and CRLF into one data line each', () => {
    assert.equal(encodeSseEvent({ data: 'a\rb\nc\r\nd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
    assert.equal(encodeSseEvent({ data: 'x\r\n\r\ny' }), 'data: x\ndata: \ndata: y\n\n');
    assert.equal(encodeSseEvent({ data: 'tail\n' }), 'data: tail\ndata: \n\n');
    assert.equal(encodeSseEvent({ data: '' }), 'data: \n\n');
    assert.equal(encodeSseEventHead('m', 'one\rtwo'), 'event: m\ndata: one\ndata: two\n');
  });

  it('round-trips through a parser: lines are kept (line ends come back as LF), no event is split', () => {
    const cases = ['a\rb\nc\r\nd', 'x\r\n\r\ny', 'tail\n', '', ' leading space', 'data: fake\n\nevent: injected', 'crlf at end\r\n'];
    for (const data of cases) {
      const { events, rest } = parseSse(encodeSseEvent({ event: 'e', data, id: '1' }));
      assert.equal(rest, '');
      assert.equal(events.length, 1, JSON.stringify(data));
      assert.equal(events[0]!.event, 'e');
      assert.equal(events[0]!.id, '1');
      assert.equal(events[0]!.data, data.replace(/\r\n|\r/g, '\n'), JSON.stringify(data));
    }
  });

  it('keeps event names and ids on one line and without NUL', () => {
    assert.equal(encodeSseEvent({ event: 'a\nb', id: 'x\r\0y', data: '1' }), 'event: a b\ndata: 1\nid: x  y\n\n');
    const { events } = parseSse(encodeSseEvent({ event: 'evil\n\ndata: injected', data: 'ok' }));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data, 'ok');
  });

  it('encodes retry as whole milliseconds and comments as ignorable lines', () => {
    assert.equal(encodeSseEvent({ retry: 1500.7 }), 'retry: 1500\n\n');
    assert.equal(encodeSseEvent({ retry: -5 }), 'retry: 0\n\n');
    assert.equal(encodeSseComment('ping'), ': ping\n\n');
    assert.equal(encodeSseComment('two\nlines'), ': two lines\n\n');
    const { events } = parseSse(encodeSseComment('ping'));
    assert.deepEqual(events, [{ comments: ['ping'] }]);
  });
});
