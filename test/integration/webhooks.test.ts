/**
 * Webhooks on the memory broker, against a real receiver on loopback: a receiver that is down for a while, then
 * back, gets every event once (by id) and in order per channel; a receiver with another secret refuses every
 * request (the signature does not verify) and nothing counts as delivered; a full queue drops and counts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { connectReady } from '../helpers/ws-client.js';

const SECRET = 'webhook-test-secret-0123456789abcdef';

async function metric(srv: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('webhooks (memory broker)', () => {
  const servers: TestServer[] = [];
  const receivers: WebhookReceiver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
    for (const r of receivers) await r.close();
  });
  const flags = (port: number, extra: string[] = []) => ['--webhooks.url', `http://127.0.0.1:${port}/hook`, '--webhooks.secret', SECRET,
    '--webhooks.retryMin', '50ms', '--webhooks.retryMax', '200ms', '--webhooks.batchSize', '7', '--channel.webhookPublications', ...extra];

  it('a receiver down for a while, then back, gets every event once, in order per channel', async () => {
    const port = await WebhookReceiver.freePort();
    const srv = await startServer(flags(port));
    servers.push(srv);
    const { client } = await connectReady(`${srv.wsUrl}?user=alice`);
    await client.call('subscribe', { channel: 'room' });
    for (let i = 1; i <= 30; i++) await srv.publish('room', { i });
    await srv.publish('other', { i: 0 }); // no subscriber: a publication event, but no occupancy
    await client.close();
    // The receiver is down: requests fail and are retried with backoff.
    await waitFor(async () => (await metric(srv, 'switchboard_webhook_request_retries_total')) >= 2, { timeout: 5000, label: 'retries while down' });
    assert.ok((await metric(srv, 'switchboard_webhook_request_failures_total')) >= 3);
    assert.ok((await metric(srv, 'switchboard_webhook_queue_depth')) >= 30);

    const receiver = new WebhookReceiver(SECRET);
    receivers.push(receiver);
    await receiver.listen(port);
    await waitFor(() => receiver.named('client_disconnected').length === 1, { timeout: 10_000, label: 'the last event',
      describe: () => receiver.events.map((e) => e.name).join(',') });
    await sleep(300); // anything duplicated would come now
    const room = receiver.events.filter((e) => e.channel === 'room').map((e) => e.name === 'publication' ? `publication:${e.offset}` : e.name);
    assert.deepEqual(room, ['channel_occupied', 'member_added', ...Array.from({ length: 30 }, (_, i) => `publication:${i + 1}`), 'member_removed', 'channel_vacated']);
    assert.deepEqual(receiver.named('publication', 'other').map((e) => e.data), [{ i: 0 }]);
    assert.equal(receiver.named('client_connected').length, 1);
    assert.equal(receiver.named('client_connected')[0]!.user, 'alice');
    assert.equal(receiver.events.length, 37);
    assert.equal(new Set(receiver.events.map((e) => e.id)).size, receiver.events.length);
    await waitFor(async () => (await metric(srv, 'switchboard_webhook_queue_depth')) === 0, { label: 'queue empty' });
    assert.equal(await metric(srv, 'switchboard_webhook_events_delivered_total'), 37);
  });

  it('several URLs each get every event; one that is down holds back only itself; publications only where the namespace asks', async () => {
    const up = new WebhookReceiver(SECRET);
    const down = new WebhookReceiver(SECRET);
    receivers.push(up, down);
    const upPort = await up.listen();
    const downPort = await WebhookReceiver.freePort();
    const namespaces = JSON.stringify([{ name: 'orders', publish: true, webhookPublications: true }, { name: 'chat', publish: true }]);
    // Comma-separated as in SWITCHBOARD_WEBHOOKS_URL; the default namespace's publications are off (no --channel.webhookPublications).
    const srv = await startServer(['--webhooks.url', `http://127.0.0.1:${upPort}/a,http://127.0.0.1:${downPort}/b`, '--webhooks.secret', SECRET,
      '--webhooks.retryMin', '50ms', '--webhooks.retryMax', '200ms', '--namespaces', namespaces]);
    servers.push(srv);
    for (let i = 1; i <= 3; i++) await srv.publish('orders:1', { i });
    await srv.publish('chat:1', { no: 1 });
    await srv.publish('plain', { no: 2 });
    await srv.publish('orders:2', { i: 4 });
    const expected = ['orders:1:1', 'orders:1:2', 'orders:1:3', 'orders:2:1'];
    const seen = (r: WebhookReceiver) => r.named('publication').map((e) => `${e.channel}:${e.offset}`);
    // The live URL is not held back by the dead one.
    await waitFor(() => seen(up).length === 4, { timeout: 5000, label: 'the live URL got its events', describe: () => seen(up).join(',') });
    assert.deepEqual(seen(up), expected);
    assert.ok((await metric(srv, 'switchboard_webhook_request_failures_total')) >= 1, 'the dead URL was tried');
    await down.listen(downPort);
    await waitFor(() => seen(down).length === 4, { timeout: 10_000, label: 'the URL that came back got its events', describe: () => seen(down).join(',') });
    await sleep(200); // a wrong extra event would come now
    assert.deepEqual(seen(down), expected);
    assert.equal(up.events.length, 4);
    assert.equal(down.events.length, 4);
    assert.deepEqual(down.events.map((e) => e.id), up.events.map((e) => e.id));
  });

  it('a receiver with another secret refuses every request; nothing counts as delivered', async () => {
    const receiver = new WebhookReceiver('not-the-server-secret-0123456789abcdef');
    receivers.push(receiver);
    const port = await receiver.listen();
    const srv = await startServer(flags(port));
    servers.push(srv);
    await srv.publish('news', { hello: 1 });
    await waitFor(() => receiver.refused >= 2, { timeout: 5000, label: 'refused twice' });
    assert.equal(receiver.events.length, 0);
    assert.equal(await metric(srv, 'switchboard_webhook_events_delivered_total'), 0);
    assert.equal(await metric(srv, 'switchboard_webhook_queue_depth'), 1);
  });

  it('a full memory queue drops the oldest events, counts them and logs', async () => {
    const port = await WebhookReceiver.freePort();
    const srv = await startServer(flags(port, ['--webhooks.maxQueue', '5', '--webhooks.retryMin', '10s']));
    servers.push(srv);
    for (let i = 1; i <= 12; i++) await srv.publish('flood', { i });
    assert.equal(await metric(srv, 'switchboard_webhook_events_dropped_total'), 7);
    assert.equal(await metric(srv, 'switchboard_webhook_queue_depth'), 5);
  });
});
