/**
 * `switchboard serve --workers N`: N processes share the port, each a node on the shared Redis broker; connections
 * spread over them and a publication through any of them reaches subscribers on all of them; SIGTERM drains all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { startCli, type Cli } from '../helpers/cli.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe('serve --workers 2', () => {
  const prefix = 'sbw' + randomBytes(4).toString('hex');
  let cli: Cli | undefined;
  const clients: WsClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await cli?.kill();
    await deleteRedisPrefix(prefix);
  });

  it('spreads connections over two nodes that share channels, and drains both on SIGTERM', async () => {
    cli = await startCli(['--workers', '2', '--shutdown.timeout', '1s'], {
      SWITCHBOARD_REDIS_URL: REDIS_URL,
      SWITCHBOARD_REDIS_PREFIX: prefix,
      SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
    });
    await waitFor(() => cli!.logs.filter((l) => l.msg === 'switchboard listening').length === 2, { timeout: 20_000, label: 'both workers listening' });
    const base = `http://127.0.0.1:${cli.port}`;
    // Connections are handed round-robin: a few stats requests on fresh connections see both node ids.
    const nodes = new Set<string>();
    for (let i = 0; i < 10 && nodes.size < 2; i++) {
      const r = await fetch(`${base}/api/stats`, { headers: { connection: 'close' } });
      nodes.add(((await r.json()) as { node: string }).node);
    }
    assert.equal(nodes.size, 2, 'two workers answer');
    for (let i = 0; i < 4; i++) {
      const { client } = await connectReady(`ws://127.0.0.1:${cli.port}/ws?user=w${i}`);
      clients.push(client);
      await client.call('subscribe', { channel: 'shared' });
    }
    const r = await fetch(`${base}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'shared', data: 'hello' }) });
    assert.equal(r.status, 200);
    for (const c of clients) assert.equal((await c.nextPush((m: Frame) => m.push === 'publication')).payload, 'hello');

    cli.child.kill('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.waitClosed(5000)));
    assert.ok(closes.every((c) => c.code === 1001), JSON.stringify(closes));
    const exit = await withTimeout(cli.exited, 10_000, 'primary exit');
    assert.equal(exit.code, 0);
  });
});
