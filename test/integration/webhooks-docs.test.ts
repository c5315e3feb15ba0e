/**
 * The receiver in docs/webhooks.md, run exactly as printed (a child `node` process): it gets a server's events and
 * refuses a request signed with another secret.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { signBody } from '../../src/webhooks/signature.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'webhook-docs-secret-0123456789abcdef';
const doc = readFileSync(fileURLToPath(new URL('../../docs/webhooks.md', import.meta.url)), 'utf8');

describe('docs/webhooks.md receiver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-webhook-doc-'));
  let server: TestServer | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  after(async () => {
    await server?.close();
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies, dedupes and prints the events of a real server', async () => {
    const block = /## A receiver to copy[\s\S]*?```js\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(block, 'the receiver block is in the doc');
    writeFileSync(join(dir, 'receiver.mjs'), block);
    const port = await WebhookReceiver.freePort();
    child = spawn(process.execPath, [join(dir, 'receiver.mjs')], { env: { ...process.env, WEBHOOK_SECRET: SECRET, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    server = await startServer(['--webhooks.url', `http://127.0.0.1:${port}/`, '--webhooks.secret', SECRET, '--webhooks.retryMin', '50ms',
      '--webhooks.retryMax', '200ms', '--channel.webhookPublications']);
    await server.publish('news', { title: 'hello' });
    const printed = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { name: string; data?: unknown });
    const lines = await waitFor(() => {
      const pubs = printed().filter((e) => e.name === 'publication');
      return pubs.length > 0 ? pubs : undefined;
    }, { timeout: 10_000, label: 'the receiver printed the publication' });
    assert.deepEqual(lines[0]!.data, { title: 'hello' });

    const body = '{"events":[]}';
    const ts = Math.floor(Date.now() / 1000);
    const post = (secret: string) => fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body,
      headers: { 'x-switchboard-timestamp': String(ts), 'x-switchboard-signature': signBody(secret, ts, body) } });
    assert.equal((await post('another-secret-0123456789abcdef-xyz')).status, 401);
    assert.equal((await post(SECRET)).status, 204);
  });
});
