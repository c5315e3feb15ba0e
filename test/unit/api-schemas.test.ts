// The API publish body is checked directly before zod (src/api/schemas.ts `checkedFirst`): for every body, the
// answer must be zod's own — the same data for an accepted body, the same issues for a refused one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiSchemas } from '../../src/api/schemas.js';

const limits = { maxChannelLength: 32, maxKeyLength: 16 };
const direct = apiSchemas(limits).publish;
const zodOnly = apiSchemas(limits, { direct: false }).publish;

const TP = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
const bodies: unknown[] = [
  { channel: 'news', data: { a: 1 } },
  { channel: 'news', event: 'chat', data: 'x' },
  { channel: 'news', data: null },
  { channel: 'news', data: 0, traceparent: TP, tracestate: 'k=v', idempotency_key: 'id-1', exclude: 'c1' },
  { channel: 'room:1', key: 'user-7', data: { on: true } },
  { channel: 'room:1', key: 'user-7', op: 'upsert', data: 1 },
  { channel: 'room:1', key: 'user-7', op: 'delete' },
  // Refused, each by one rule.
  { data: 1 },
  { channel: 'news' },
  { channel: 7, data: 1 },
  { channel: 'x'.repeat(33), data: 1 },
  { channel: 'bad channel', data: 1 },
  { channel: 'news', event: '', data: 1 },
  { channel: 'news', event: 5, data: 1 },
  { channel: 'news', data: 1, traceparent: 'nope' },
  { channel: 'news', data: 1, tracestate: 'x'.repeat(600) },
  { channel: 'news', data: 1, key: 'k'.repeat(17) },
  { channel: 'news', data: 1, op: 'upsert' },
  { channel: 'news', data: 1, key: 'k', op: 'replace' },
  { channel: 'news', key: 'k', op: 'upsert' },
  { channel: 'news', data: 1, idempotency_key: 'has space' },
  { channel: 'news', data: 1, exclude: '' },
  { channel: 'news', data: 1, extra: true },
  JSON.parse('{"channel":"news","data":1,"__proto__":{"x":1}}'),
  [],
  'text',
  null,
];

/** zod's output lists absent optional fields as undefined; compare what a reader of the fields sees. */
const defined = (v: unknown) => Object.fromEntries(Object.entries(v as object).filter(([, x]) => x !== undefined));

test('the direct publish check answers every body as zod does', () => {
  for (const body of bodies) {
    const a = direct.safeParse(body);
    const b = zodOnly.safeParse(body);
    const label = JSON.stringify(body);
    assert.equal(a.success, b.success, label);
    if (a.success && b.success) assert.deepEqual(defined(a.data), defined(b.data), label);
    if (!a.success && !b.success) assert.deepEqual(a.error.issues, b.error.issues, label);
  }
});

test('an accepted publish body defaults its event to "message", as on the WebSocket', () => {
  const r = direct.safeParse({ channel: 'news', data: 1 });
  assert.ok(r.success);
  assert.equal(r.data.event, 'message');
});
