/**
 * Graceful shutdown of the real CLI process: SIGTERM makes the node unready, tells WebSocket clients to reconnect
 * elsewhere (1001), sends SSE streams a `disconnect` event and ends them, and exits 0 within shutdown.timeout.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startCli, type Cli } from '../helpers/cli.js';
import { rawSse, type RawSse } from '../helpers/sse-client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

const SHUTDOWN_TIMEOUT_MS = 3000;

describe('shutdown of the CLI process', () => {
  let cli: Cli | undefined;
  const opened: (WsClient | RawSse)[] = [];
  after(async () => {
    for (const c of opened) await c.close();
    if (cli && cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await withTimeout(cli.exited, 5000, 'CLI kill');
    }
  });

  it('drains WebSocket and SSE clients on SIGTERM and exits 0', async () => {
    cli = await startCli(['--shutdown.timeout', `${SHUTDOWN_TIMEOUT_MS}ms`]);
    const base = `http://127.0.0.1:${cli.port}`;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    const { client: ws } = await connectReady(`ws://127.0.0.1:${cli.port}/ws?user=wsuser`);
    opened.push(ws);
    await ws.call('subscribe', { channel: 'bye' });
    const sse = await rawSse(`${base}/events?channel=bye&user=sseuser`);
    opened.push(sse);
    await sse.waitEvent((e) => e.event === 'connected');

    const t0 = Date.now();
    assert.ok(cli.child.kill('SIGTERM'));

    // Not ready any more: /readyz answers 503 or the port is closed.
    const readiness = await waitFor(async () => {
      try {
        const r = await fetch(`${base}/readyz`);
        await r.arrayBuffer();
        return r.status === 200 ? undefined : `status ${r.status}`;
      } catch {
        return 'refused';
      }
    }, { timeout: SHUTDOWN_TIMEOUT_MS, label: '/readyz to stop answering 200' });
    assert.ok(readiness === 'status 503' || readiness === 'refused', readiness);

    assert.deepEqual(await ws.waitClosed(SHUTDOWN_TIMEOUT_MS), { code: 1001, reason: 'shutdown' });

    const bye = await sse.waitEvent((e) => e.event === 'disconnect', SHUTDOWN_TIMEOUT_MS);
    assert.deepEqual(JSON.parse(bye.data!), { code: 1001, reason: 'shutdown', reconnect: true });
    await sse.waitEnded(SHUTDOWN_TIMEOUT_MS);

    const exit = await withTimeout(cli.exited, SHUTDOWN_TIMEOUT_MS + 1000, 'the CLI to exit');
    assert.deepEqual(exit, { code: 0, signal: null }, cli.stderr);
    assert.ok(Date.now() - t0 < SHUTDOWN_TIMEOUT_MS, `exited after ${Date.now() - t0} ms`);
    const msgs = cli.logs.map((l) => l.msg);
    assert.ok(msgs.includes('shutdown complete'), JSON.stringify(msgs));
  });
});
