/**
 * The real `centrifuge` client recovers across a server crash on Redis: the server is SIGKILLed, publications are made
 * while it is down (through a second node on the same Redis), the server comes back on the same port, and the client's
 * resubscribe with `recover` from its `{epoch, offset}` is answered `wasRecovering` and `recovered` true with exactly
 * the missed publications, in order, and nothing twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Centrifuge, type PublicationContext, type SubscribedContext } from 'centrifuge';
import WebSocket from 'ws';
import { startCli, type Cli } from '../helpers/cli.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { waitFor } from '../helpers/wait.js';

describe('centrifuge client recovery over a server restart on Redis', () => {
  const prefix = `test-centrifuge-${process.pid}`;
  const env = { SWITCHBOARD_REDIS_URL: SHARED_REDIS_URL, SWITCHBOARD_REDIS_PREFIX: prefix, SWITCHBOARD_LIMITS_CONNECT_RATE: '0' };
  let a: Cli;
  let b: Cli;
  let c: Centrifuge | undefined;

  before(async () => {
    a = await startCli(['--shutdown.timeout', '1s'], env);
    b = await startCli(['--shutdown.timeout', '1s'], env);
  });
  after(async () => {
    c?.disconnect();
    await a.kill();
    await b.kill();
    await deleteRedisPrefix(prefix);
  });

  const publish = async (data: unknown) => {
    const r = await fetch(`http://127.0.0.1:${b.port}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'ticks', data }) });
    assert.equal(r.status, 200);
  };

  it('recovers exactly the publications missed while the server was down', async () => {
    const port = a.port;
    c = new Centrifuge(`ws://127.0.0.1:${port}/connection/websocket?user=dave`, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 300 });
    const sub = c.newSubscription('ticks', { recoverable: true, positioned: true });
    const got: unknown[] = [];
    const subscribed: SubscribedContext[] = [];
    sub.on('publication', (p: PublicationContext) => got.push(p.data));
    sub.on('subscribed', (ctx) => subscribed.push(ctx));
    sub.subscribe();
    c.connect();
    await sub.ready(10_000);
    for (let n = 1; n <= 3; n++) await publish(n);
    await waitFor(() => got.length === 3, { timeout: 10_000, label: 'live publications' });

    await a.kill();
    for (let n = 4; n <= 6; n++) await publish(n);
    a = await startCli(['--shutdown.timeout', '1s', '--port', String(port)], env);

    await waitFor(() => subscribed.length === 2, { timeout: 15_000, label: 'resubscribed after restart' });
    await waitFor(() => got.length >= 6, { timeout: 10_000, label: 'missed publications' });
    assert.equal(subscribed[1]!.wasRecovering, true);
    assert.equal(subscribed[1]!.recovered, true);
    await publish(7);
    await waitFor(() => got.length >= 7, { timeout: 10_000, label: 'live after recovery' });
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
  });
});
