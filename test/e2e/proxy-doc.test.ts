/**
 * docs/proxy.md, run: its `node:http` backend runs as written (on a free port instead of 3000) and Switchboard runs
 * with its `switchboard.yaml`; what the page says a cookie-session user gets is then checked over a real WebSocket.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { downUrl } from '../helpers/proxy-backend.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const md = readFileSync(join(ROOT, 'docs/proxy.md'), 'utf8');
const block = (lang: string, has: string): string => {
  const m = [...md.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].find((b) => b[1] === lang && b[2]!.includes(has));
  assert.ok(m, `docs/proxy.md has a ${lang} block with ${has}`);
  return m[2]!;
};

describe('docs/proxy.md "Try it"', () => {
  let backend: ChildProcess | undefined;
  let sb: Switchboard | undefined;
  const clients: WsClient[] = [];
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await sb?.shutdown();
    backend?.kill();
  });

  it('the 20-line backend and the config do what the page says', async () => {
    const base = await downUrl(); // a free loopback port for the backend
    const port = new URL(base).port;
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-proxy-doc-'));
    const code = block('js', "from 'node:http'");
    assert.ok(code.split('\n').length <= 30, 'the backend stays short');
    writeFileSync(join(dir, 'backend.mjs'), code.replace('listen(3000,', `listen(${port},`));
    backend = spawn(process.execPath, [join(dir, 'backend.mjs')], { stdio: 'ignore' });
    await waitFor(async () => (await fetch(`${base}/nothing`, { method: 'POST', body: '{}' }).catch(() => undefined))?.status === 403, { timeout: 5000, interval: 50, label: 'backend up' });

    const config = parseYaml(block('yaml', 'cookies: [session]').replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`)) as Record<string, unknown>;
    sb = createSwitchboard({ env: {}, config: { ...config, port: 0, host: '127.0.0.1', logLevel: 'silent' } });
    const ws = `ws://127.0.0.1:${(await sb.listen()).port}/ws`;

    const { client, connected } = await connectReady(ws, 3000, { headers: { cookie: 'session=abc123' } });
    clients.push(client);
    assert.equal(connected.user, 'alice');
    assert.equal((await client.nextPush((m) => m.push === 'subscribed')).channel, 'news:welcome');
    await client.call('subscribe', { channel: 'news:sports' });
    assert.equal((await client.request('subscribe', { channel: 'chat:room' })).error?.code, 'permission_denied');
    await client.call('publish', { channel: 'chat:room', data: { text: 'hi' } });
    assert.deepEqual((await sb.history('chat:room')).map((p) => JSON.parse(p.data)), [{ text: 'hi', by: 'alice' }]);
    assert.deepEqual((await client.call('rpc', { method: 'whoami', data: { hello: 1 } })).data, { method: 'whoami', user: 'alice', echo: { hello: 1 } });

    await assert.rejects(connectReady(ws, 3000, { headers: { cookie: 'session=nope' } }), /HTTP 401/);
  });
});
