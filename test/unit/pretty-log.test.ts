/** The terminal log format of `switchboard serve` (src/cli/pretty-log.ts): one readable line per pino entry. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLine } from '../../src/cli/pretty-log.js';
import { createLogger } from '../../src/observability/logger.js';
import { prettyDestination } from '../../src/cli/pretty-log.js';

describe('pretty log lines', () => {
  it('time, level, message, then the fields as key=value (strings quoted only when needed)', () => {
    const line = JSON.stringify({ level: 40, time: '2026-01-02T12:34:56.789Z', service: 'switchboard', msg: 'client reads too slowly; disconnected',
      conn_id: 'k3f9x2ab-1a', route: '/ws', queue_max_bytes: 1048576, reason: 'two words', tags: ['a'] });
    assert.equal(formatLine(`${line}\n`, { color: false }),
      '12:34:56 WARN  client reads too slowly; disconnected  conn_id=k3f9x2ab-1a route=/ws queue_max_bytes=1048576 reason="two words" tags=["a"]\n');
  });
  it('colors the level on a terminal, hides the entries asked, and passes anything else through', () => {
    const line = JSON.stringify({ level: 50, time: '2026-01-02T12:34:56.789Z', msg: 'boom' });
    assert.match(formatLine(line, { color: true }), /\x1b\[31mERROR\x1b\[0m boom/);
    assert.equal(formatLine(JSON.stringify({ level: 30, msg: 'switchboard listening', port: 1 }), { color: false, hide: new Set(['switchboard listening']) }), '');
    assert.equal(formatLine('not json\n', { color: false }), 'not json\n');
  });
  it('a logged error shows its stack on the following lines', () => {
    const out: string[] = [];
    const logger = createLogger('info', prettyDestination({ write: (s: string) => out.push(s) }, { color: false }));
    logger.error({ err: new Error('kaput') }, 'command failed');
    assert.match(out.join(''), /^\d\d:\d\d:\d\d ERROR command failed  err=\n.*Error: kaput\n\s+at /s);
  });
});
