/**
 * docs/protocol.md's "Error codes" table and the error table in code (src/protocol/errors.ts) say the same thing,
 * both ways: every code in code is documented with the same HTTP status, class and meaning, and no documented
 * code is missing from code. The table is what the server API answers with and what spans record.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, ErrorCode, errorClassOf, httpStatusOf, type ErrorInfo } from '../../src/protocol/index.js';

interface DocRow {
  readonly status: string;
  readonly class: string;
  readonly meaning: string;
}

/** The rows of the table under "### Error codes", by code; fails with a clear message if the table moved. */
function documentedCodes(): Map<string, DocRow> {
  const text = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const start = text.indexOf('\n### Error codes\n');
  assert.ok(start >= 0, 'docs/protocol.md has no "### Error codes" section');
  const section = text.slice(start + 1, text.indexOf('\n## ', start + 1));
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  assert.deepEqual(cells(lines[0] ?? ''), ['Code', 'HTTP', 'Class', 'Meaning', 'When'], 'the error-code table header changed');
  const rows = new Map<string, DocRow>();
  for (const line of lines.slice(2)) {
    const [code, status, cls, meaning] = cells(line);
    const name = /^`([a-z_]+)`$/.exec(code ?? '')?.[1];
    assert.ok(name, `docs/protocol.md error-code row without a code in backticks: ${line}`);
    assert.ok(!rows.has(name), `docs/protocol.md documents ${name} twice`);
    rows.set(name, { status: status ?? '', class: cls ?? '', meaning: plain(meaning ?? '') });
  }
  return rows;
}

function cells(line: string): string[] {
  return line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
}

/** Markdown to the plain words the code's doc line holds: links keep their text, emphasis marks go. */
function plain(md: string): string {
  return md.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/\*\*/g, '');
}

const rows: readonly ErrorInfo[] = Object.values(ERRORS);

describe('error codes: docs/protocol.md and src/protocol/errors.ts', () => {
  const docs = documentedCodes();

  it('documents every code of the table with its HTTP status, class and meaning', () => {
    for (const e of rows) {
      const doc = docs.get(e.code);
      assert.ok(doc, `${e.code} is in src/protocol/errors.ts but not in docs/protocol.md "Error codes"`);
      assert.equal(doc.status, e.status === undefined ? '—' : String(e.status), `${e.code}: HTTP status in the docs`);
      assert.equal(doc.class, e.class, `${e.code}: class in the docs`);
      assert.equal(doc.meaning, e.doc, `${e.code}: meaning in the docs`);
    }
  });

  it('has every documented code in the table', () => {
    const known = new Set(rows.map((e) => e.code));
    const missing = [...docs.keys()].filter((c) => !known.has(c));
    assert.deepEqual(missing, [], `documented in docs/protocol.md but missing from src/protocol/errors.ts: ${missing.join(', ')}`);
  });

  it('derives ErrorCode and the lookups from the table', () => {
    assert.deepEqual(Object.values(ErrorCode), rows.map((e) => e.code));
    assert.equal(new Set(Object.values(ErrorCode)).size, rows.length, 'a code is in the table twice');
    assert.equal(httpStatusOf(ErrorCode.OutcomeUnknown, 400), 504);
    assert.equal(httpStatusOf(ErrorCode.AlreadySubscribed, 400), 400, 'a code never sent over HTTP takes the fallback');
    assert.equal(errorClassOf(ErrorCode.PermissionDenied), 'auth');
    assert.equal(errorClassOf('some_future_code'), 'business');
  });
});
