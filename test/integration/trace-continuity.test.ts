/**
 * Trace continuity of the seed vocabularies and of direct messages (issue #14), and the HTTP access log:
 * - a seed frame's trace fields (`trace_flags`, `trace_id`/`span_id`) parent its command span, whose publish
 *   continues the trace into the publication subscribers receive;
 * - a direct message (`send`, seed 002 `send_to_user`, `POST /api/send`) carries its `notification.send` span's
 *   context, like a publication carries its publish span's; with tracing off the caller's context passes through;
 * - one access line per HTTP request, with the trace id, at the configured level, none per WebSocket frame.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { captureLogs } from '../helpers/log-capture.js';
import { connectReady, type Frame } from '../helpers/ws-client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const hex = (n: number) => randomBytes(n).toString('hex');
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

async function start(opts: { tracing: boolean; accessLog?: string; logs?: ReturnType<typeof captureLogs> }) {
  const config = loadConfig({
    argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', opts.logs ? 'info' : 'silent', '--shutdown.timeout', '1s', '--limits.connectRate', '0',
      ...(opts.accessLog ? ['--access-log', opts.accessLog] : [])],
  });
  const exporter = new InMemorySpanExporter();
  const sb = createSwitchboard({ config, env: {}, ...(opts.tracing ? { spanProcessors: [new SimpleSpanProcessor(exporter)] } : {}), ...(opts.logs ? { logger: opts.logs.logger } : {}) });
  const { port } = await sb.listen();
  return { sb, exporter, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('trace continuity: seed frames and direct messages (tracing on)', () => {
  let srv: Awaited<ReturnType<typeof start>>;
  before(async () => {
    srv = await start({ tracing: true });
  });
  after(() => withTimeout(srv.sb.shutdown(), 15_000, 'shutdown'));

  const span = (name: string, pred: (s: ReadableSpan) => boolean) =>
    waitFor(() => srv.exporter.getFinishedSpans().find((s) => s.name === name && pred(s)), {
      label: name,
      describe: () => srv.exporter.getFinishedSpans().map((s) => s.name).join(', '),
    });

  it('seed 000 chat with trace_flags: chat_room.send is the carried span\'s child, and its publish reaches subscribers in that trace', async () => {
    const traceId = hex(16);
    const parent = hex(8);
    const { client } = await connectReady(`${srv.wsUrl}?user=sam`);
    try {
      client.send({ action: 'chat', data: { text: 'x' }, trace_flags: { traceparent: `00-${traceId}-${parent}-01` } });
      const push = await client.next((m: Frame) => m.push === 'publication' && m.channel === 'broadcast');
      const send = await span('chat_room.send', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(send), parent);
      assert.equal(send.attributes['room.id'], 'broadcast');
      assert.equal(send.attributes['event.type'], 'chat');
      const publish = await span('event_stream.publish', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(publish), send.spanContext().spanId);
      assert.equal(push.trace_id, traceId);
      assert.equal(push.span_id, publish.spanContext().spanId);
    } finally {
      await client.close();
    }
  });

  it('seed 002 join_room with trace_id/span_id: chat_room.join under it, event_stream.subscribe under that', async () => {
    const traceId = hex(16);
    const parent = hex(8);
    const room = `r-${randomUUID().slice(0, 8)}`;
    const { client } = await connectReady(`${srv.wsUrl}?user=ria`);
    try {
      client.send({ type: 'join_room', payload: { room_id: room }, trace_id: traceId, span_id: parent });
      const join = await span('chat_room.join', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(join), parent);
      const sub = await span('event_stream.subscribe', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(sub), join.spanContext().spanId);
      assert.equal(sub.attributes['stream.id'], room);
      assert.equal(sub.attributes['subscribers.count'], 1);
    } finally {
      await client.close();
    }
  });

  it('a native send with traceparent: notification.send under the command span, its context in the recipient\'s message push', async () => {
    const traceId = hex(16);
    const { client: to } = await connectReady(`${srv.wsUrl}?user=una`);
    const { client: from } = await connectReady(`${srv.wsUrl}?user=vic`);
    try {
      await from.call('send', { user: 'una', data: { n: 1 }, traceparent: `00-${traceId}-${hex(8)}-01` });
      const push = await to.next((m: Frame) => m.push === 'message');
      const handle = await span('websocket.handle_message', (s) => s.spanContext().traceId === traceId);
      const notify = await span('notification.send', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(notify), handle.spanContext().spanId);
      assert.equal(push.traceparent, `00-${traceId}-${notify.spanContext().spanId}-01`);
      assert.equal(push.trace_id, traceId);
    } finally {
      await to.close();
      await from.close();
    }
  });

  it('seed 002 send_to_user continues the frame\'s trace (hub.process_message → notification.send)', async () => {
    const traceId = hex(16);
    const { client: to } = await connectReady(`${srv.wsUrl}?user=wes`);
    const { client: from } = await connectReady(`${srv.wsUrl}?user=xia`);
    try {
      from.send({ type: 'send_to_user', payload: { user_id: 'wes', content: 'psst' }, trace_id: traceId, span_id: hex(8) });
      const push = await to.next((m: Frame) => m.push === 'message');
      const hubSpan = await span('hub.process_message', (s) => s.spanContext().traceId === traceId);
      const notify = await span('notification.send', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(notify), hubSpan.spanContext().spanId);
      assert.equal(push.span_id, notify.spanContext().spanId);
    } finally {
      await to.close();
      await from.close();
    }
  });

  it('POST /api/send: notification.send under the request span; the push names it', async () => {
    const traceId = hex(16);
    const { client: to } = await connectReady(`${srv.wsUrl}?user=yul`);
    try {
      const res = await post(`${srv.url}/api/send`, { user: 'yul', data: 1 }, { traceparent: `00-${traceId}-${hex(8)}-01` });
      assert.equal(res.status, 200);
      const push = await to.next((m: Frame) => m.push === 'message');
      const request = await span('POST /api/send', (s) => s.spanContext().traceId === traceId);
      const notify = await span('notification.send', (s) => s.spanContext().traceId === traceId);
      assert.equal(parentOf(notify), request.spanContext().spanId);
      assert.equal(push.span_id, notify.spanContext().spanId);
    } finally {
      await to.close();
    }
  });
});

describe('trace continuity with tracing off, and the access log', () => {
  const logs = captureLogs('info');
  let srv: Awaited<ReturnType<typeof start>>;
  before(async () => {
    srv = await start({ tracing: false, logs });
  });
  after(() => withTimeout(srv.sb.shutdown(), 15_000, 'shutdown'));

  it('a direct message passes the caller\'s trace fields through unchanged (API body, seed frame)', async () => {
    const tp = `00-${hex(16)}-${hex(8)}-01`;
    const { client: to } = await connectReady(`${srv.wsUrl}?user=zed`);
    const { client: from } = await connectReady(`${srv.wsUrl}?user=amy`);
    try {
      await post(`${srv.url}/api/send`, { user: 'zed', data: 1, traceparent: tp });
      assert.equal((await to.next((m: Frame) => m.push === 'message')).traceparent, tp);
      const [, traceId, spanId] = tp.split('-');
      from.send({ type: 'send_to_user', payload: { user_id: 'zed' }, trace_id: traceId, span_id: spanId });
      assert.equal((await to.next((m: Frame) => m.push === 'message' && m.from === 'amy')).traceparent, tp);
    } finally {
      await to.close();
      await from.close();
    }
  });

  it('GET /api/online has the seed\'s online_users beside its own fields', async () => {
    const { client } = await connectReady(`${srv.wsUrl}?user=olga`);
    try {
      const body = (await (await fetch(`${srv.url}/api/online`)).json()) as { count: number; users: { user: string }[]; online_users: string[] };
      assert.ok(body.online_users.includes('olga'));
      assert.deepEqual([...body.online_users].sort(), body.users.map((u) => u.user).sort());
      assert.equal(body.count, body.online_users.length);
    } finally {
      await client.close();
    }
  });

  it('one access line per HTTP request, with route, status, bytes, client ip and the caller\'s trace id; none per WebSocket frame', async () => {
    const traceId = hex(16);
    const res = await post(`${srv.url}/api/publish?token=secret-in-query`, { channel: 'al', data: 1 }, { traceparent: `00-${traceId}-${hex(8)}-01` });
    const text = await res.text();
    const line = await waitFor(() => logs.lines.find((l) => l.event === 'http_request' && l.trace_id === traceId), { label: 'access line' });
    assert.equal(line.method, 'POST');
    assert.equal(line.route, '/api/publish');
    assert.equal(line.path, '/api/publish');
    assert.equal(line.status, 200);
    assert.equal(line.client_ip, '127.0.0.1');
    assert.ok(Number(line.bytes) > text.length, 'bytes sent, headers included');
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(!logs.raw.join('\n').includes('secret-in-query'), 'the query string is not logged');
    assert.equal(logs.lines.filter((l) => l.event === 'http_request' && l.trace_id === traceId).length, 1);

    const before = logs.lines.length;
    const { client } = await connectReady(`${srv.wsUrl}?user=ann`);
    for (let i = 0; i < 20; i++) await client.call('ping');
    await client.close();
    await waitFor(() => logs.lines.slice(before).some((l) => l.event === 'disconnect'), { label: 'disconnect line' });
    const added = logs.lines.slice(before);
    assert.ok(added.length <= 3, `WebSocket frames are not logged: ${JSON.stringify(added.map((l) => l.msg))}`);
  });
});

describe('access log level', () => {
  it('accessLog off writes no access line; debug keeps it out of an info log', async () => {
    for (const level of ['off', 'debug']) {
      const logs = captureLogs('info');
      const srv = await start({ tracing: false, accessLog: level, logs });
      try {
        await (await fetch(`${srv.url}/healthz`)).text();
        await (await fetch(`${srv.url}/api/stats`)).text();
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(logs.lines.filter((l) => l.event === 'http_request').length, 0, level);
      } finally {
        await withTimeout(srv.sb.shutdown(), 15_000, 'shutdown');
      }
    }
  });
});
