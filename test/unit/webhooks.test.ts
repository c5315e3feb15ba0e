/**
 * Webhook pieces without a network: the signature (a wrong secret, a changed body or an old timestamp fail), the
 * bounded memory queue (drops the oldest, counts and logs the loss; per-URL cursors), and the config rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { Counters } from '../../src/observability/counters.js';
import type { Logger } from '../../src/observability/logger.js';
import { MemoryWebhookQueue } from '../../src/webhooks/memory-queue.js';
import { signBody, verifySignature } from '../../src/webhooks/signature.js';

const SECRET = 'webhook-test-secret-0123456789abcdef';

describe('webhook signature', () => {
  const body = '{"events":[{"id":"n-1","name":"client_connected","time":1}]}';
  const now = 1_800_000_000;
  const sig = signBody(SECRET, now, body);
  it('verifies with the secret, the body and a fresh timestamp', () => {
    assert.match(sig, /^v1=[0-9a-f]{64}$/);
    assert.equal(verifySignature(SECRET, String(now), body, sig, 300, now + 10), true);
  });
  it('fails with another secret, another body, another timestamp, or an old one', () => {
    assert.equal(verifySignature('another-secret-0123456789abcdef-xyz', String(now), body, sig, 300, now), false);
    assert.equal(verifySignature(SECRET, String(now), body.replace('n-1', 'n-2'), sig, 300, now), false);
    assert.equal(verifySignature(SECRET, String(now + 1), body, sig, 300, now), false);
    assert.equal(verifySignature(SECRET, String(now), body, sig, 300, now + 301), false);
    assert.equal(verifySignature(SECRET, undefined, body, sig), false);
    assert.equal(verifySignature(SECRET, String(now), body, undefined, 300, now), false);
  });
});

describe('memory webhook queue', () => {
  const logs: unknown[][] = [];
  const logger = { error: (...a: unknown[]) => logs.push(a), warn() {}, info() {} } as unknown as Logger;
  const ev = (i: number) => ({ kind: 'event' as const, json: `{"i":${i}}` });

  it('is bounded: past webhooks.maxQueue the oldest events go, counted and logged', async () => {
    const counters = new Counters();
    const q = new MemoryWebhookQueue(['u'], 5, counters, logger);
    for (let i = 1; i <= 12; i++) q.push(ev(i));
    assert.equal(q.depth(), 5);
    assert.equal(counters.webhookDropped, 7);
    assert.equal(counters.webhookQueueDepth, 5);
    assert.equal(logs.length, 1); // once per 10 s, however many
    assert.match(JSON.stringify(logs[0]), /webhook_events_dropped/);
    const batch = await q.read('u', 100);
    assert.deepEqual(batch?.events, ['{"i":8}', '{"i":9}', '{"i":10}', '{"i":11}', '{"i":12}']);
  });

  it('keeps an event until every URL has it; each URL reads from its own cursor, in order', async () => {
    const q = new MemoryWebhookQueue(['a', 'b'], 100, new Counters(), logger);
    for (let i = 1; i <= 4; i++) q.push(ev(i));
    const a1 = await q.read('a', 3);
    assert.deepEqual(a1?.events, ['{"i":1}', '{"i":2}', '{"i":3}']);
    await q.ack('a', a1!.cursor);
    assert.equal(q.depth(), 4); // b has none yet
    assert.deepEqual((await q.read('a', 10))?.events, ['{"i":4}']);
    const b1 = await q.read('b', 2);
    await q.ack('b', b1!.cursor);
    assert.equal(q.depth(), 2);
    assert.deepEqual((await q.read('b', 10))?.events, ['{"i":3}', '{"i":4}']);
  });
});

describe('webhook options', () => {
  it('a URL needs a secret, and must be http(s)', () => {
    assert.throws(() => loadConfig({ env: { SWITCHBOARD_WEBHOOKS_URL: 'https://a.example/h' } }),
      (e: unknown) => e instanceof ConfigError && /webhooks.secret.*SWITCHBOARD_WEBHOOKS_SECRET/s.test(e.message));
    assert.throws(() => loadConfig({ env: { SWITCHBOARD_WEBHOOKS_URL: 'ftp://a.example/h', SWITCHBOARD_WEBHOOKS_SECRET: SECRET } }),
      (e: unknown) => e instanceof ConfigError && /not an http\(s\) URL/.test(e.message));
    const c = loadConfig({ env: { SWITCHBOARD_WEBHOOKS_URL: 'https://a.example/h,http://b.example/h', SWITCHBOARD_WEBHOOKS_SECRET: SECRET } });
    assert.deepEqual(c.webhooks.url, ['https://a.example/h', 'http://b.example/h']);
  });
});
