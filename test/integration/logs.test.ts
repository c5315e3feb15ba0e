/**
 * Structured logs: every line about a connection carries conn_id, user_id, client_ip, transport and route, and the
 * events an operator looks for have their own `event` field. Message contents never appear.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { connectReady } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';
import { captureLogs, type LogLine } from '../helpers/log-capture.js';

type Line = LogLine;

describe('structured logs', () => {
  const { lines, raw, logger } = captureLogs('info');
  let sb: Switchboard;
  let base: string;
  let wsBase: string;

  before(async () => {
    const config = loadConfig({ argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', 'info', '--client.queueMaxBytes', '16384', '--shutdown.timeout', '1s'] });
    sb = createSwitchboard({ config, logger, env: {} });
    const { port } = await sb.listen();
    base = `http://127.0.0.1:${port}`;
    wsBase = `ws://127.0.0.1:${port}/ws`;
  });
  after(() => sb.shutdown());

  const find = (pred: (l: Line) => boolean, label: string) => waitFor(() => lines.find(pred), { label, timeout: 3000 });

  it('connect and disconnect of a WebSocket carry the connection fields, code, reason and duration', async () => {
    const { client, connected } = await connectReady(`${wsBase}?user=alice`);
    const connect = await find((l) => l.event === 'connect' && l.conn_id === connected.client, 'connect line');
    assert.equal(connect.user_id, 'alice');
    assert.equal(connect.client_ip, '127.0.0.1');
    assert.equal(connect.transport, 'websocket');
    assert.equal(connect.route, '/ws');
    client.close();
    const gone = await find((l) => l.event === 'disconnect' && l.conn_id === connected.client, 'disconnect line');
    assert.equal(gone.user_id, 'alice');
    assert.equal(gone.code, 1000);
    assert.equal(typeof gone.duration_ms, 'number');
    assert.equal(typeof gone.reason, 'string');
  });

  it('an SSE stream logs transport sse and its route', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${base}/events?channel=logs&user=bob`, resolve));
    const connect = await find((l) => l.event === 'connect' && l.user_id === 'bob', 'sse connect line');
    assert.equal(connect.transport, 'sse');
    assert.equal(connect.route, '/events');
    res.destroy();
    await find((l) => l.event === 'disconnect' && l.user_id === 'bob', 'sse disconnect line');
  });

  it('recovery_failed names the channel and the reason', async () => {
    const { client } = await connectReady(`${wsBase}?user=carol`);
    try {
      const reply = await client.call('subscribe', { channel: 'logs-r', since: { epoch: 'zzzz', offset: 3 } });
      assert.equal(reply.recovered, false);
      const l = await find((x) => x.event === 'recovery_failed' && x.user_id === 'carol', 'recovery_failed line');
      assert.equal(l.channel, 'logs-r');
      assert.equal(l.reason, 'epoch_changed');
    } finally {
      client.close();
    }
  });

  it('slow_consumer when a client stops reading; contents never logged', async () => {
    const { client, connected } = await connectReady(`${wsBase}?user=dave`);
    await client.call('subscribe', { channel: 'logs-slow' });
    client.socket.pause();
    const secret = 'secret-payload-' + Math.random().toString(36).slice(2);
    for (let i = 0; i < 5000 && !lines.some((l) => l.event === 'slow_consumer' && l.conn_id === connected.client); i++) {
      await sb.publish('logs-slow', { secret, pad: 'x'.repeat(1000) });
    }
    const slow = await find((l) => l.event === 'slow_consumer' && l.conn_id === connected.client, 'slow_consumer line');
    assert.equal(slow.user_id, 'dave');
    assert.equal(slow.queue_max_bytes, 16384);
    client.terminate();
    assert.ok(!raw.some((t) => t.includes(secret)), 'a published payload appeared in the logs');
  });

  it('auth_failed when the identity is refused (bad user id), without the offending value', async () => {
    const status = await new Promise<number>((resolve) => {
      const req = http.get(`${base}/events?channel=a&user=${encodeURIComponent('bad user!')}`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
    });
    assert.equal(status, 400);
    const l = await find((x) => x.event === 'auth_failed' && x.transport === 'sse', 'auth_failed line');
    assert.equal(l.client_ip, '127.0.0.1');
    assert.ok(!raw.some((t) => t.includes('bad user!')));
  });
});

