/**
 * docs/operations.md "Seed telemetry names" kept true: every row of that table is checked against what a real server
 * (in-memory span exporter, its own `/metrics`) and a real SDK client (in-memory tracer provider) export after the
 * operations the seeds name were exercised: connect, seed 002 room frames with trace fields, a direct message, an
 * API publish and history read, an SSE stream, an unknown frame, an unreadable frame, the demo producer.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import WebSocket from 'ws';
import { createClient, createSseClient } from '../../src/client/index.js';
import { otelTracing } from '../../src/client/otel.js';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { connectReady, type Frame } from '../helpers/ws-client.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

interface Row {
  seed: string;
  kind: 'span' | 'event' | 'attribute' | 'metric';
  emits: string | undefined;
  where: string;
  notes: string;
}

/** The rows of the table under "### Seed telemetry names" in docs/operations.md. */
function seedTable(): Row[] {
  const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const start = doc.indexOf('### Seed telemetry names');
  assert.ok(start >= 0, 'docs/operations.md has a "Seed telemetry names" section');
  const section = doc.slice(start, doc.indexOf('\n### ', start + 10));
  const rows: Row[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const strip = (c: string) => c.replace(/`/g, '');
    const [seed, kind, emits, where, notes] = cells as [string, Row['kind'], string, string, string];
    rows.push({ seed: strip(seed), kind, emits: emits === '—' ? undefined : strip(emits), where: strip(where), notes });
  }
  return rows;
}

/**
 * Every name seeds 000 and 002 (../shared/seeds, not in this repository) give a span (`tracer.Start`), a span event
 * (`AddEvent`), an attribute (`attribute.*`) or a metric (`meter.*Counter`), taken from their Go samples. The table
 * must have a row of that kind for each, so a row dropped from the doc fails here, not only a row that lies.
 */
const SEED_NAMES: Record<Row['kind'], string[]> = {
  span: [
    'chat.send_message', 'chat_room.get_history', 'chat_room.send_message', 'connection_manager.add', 'connection_manager.remove',
    'connection_manager.stats', 'event_stream.publish', 'event_stream.subscribe', 'event_stream.unsubscribe', 'hub.broadcast',
    'hub.process_message', 'notification.send', 'sse.add_client', 'sse.broadcast', 'sse.connect', 'sse.handle_connection',
    'sse.read_error', 'sse.receive', 'sse.remove_client', 'sse.send_message', 'stream.push_data', 'websocket.broadcast',
    'websocket.close', 'websocket.connect', 'websocket.handle_message', 'websocket.handle_traced_message', 'websocket.read_error',
    'websocket.receive', 'websocket.register_client', 'websocket.send', 'websocket.send_traced_message',
    'websocket.unregister_client', 'websocket.upgrade', 'websocket.write_message',
  ],
  event: [
    'client_connected', 'client_disconnected', 'client_registered', 'client_unregistered', 'closed', 'connected',
    'connection_upgraded', 'message_broadcasted', 'unknown_action',
  ],
  attribute: [
    'client.id', 'clients.count', 'clients.total', 'connection_duration_ms', 'connections.total', 'content.length', 'data.size',
    'error', 'error.code', 'error.type', 'event.type', 'http.method', 'http.remote_addr', 'http.status_code', 'http.url', 'limit',
    'message.action', 'message.size', 'message.type', 'messages.count', 'messages.sent', 'recipients.count', 'room.id', 'span.id',
    'sse.url', 'stream.id', 'subscribers.count', 'trace.id', 'user.id', 'user.name', 'ws.url',
  ],
  metric: [
    'ws.connections.active', 'ws.messages.sent', 'ws.messages.received',
    'websocket.active_connections', 'websocket.messages.sent', 'websocket.messages.received',
  ],
};

const hex = (n: number) => randomBytes(n).toString('hex');

describe('seed telemetry names (docs/operations.md) against a real export', () => {
  let sb: Switchboard;
  let url: string;
  let wsUrl: string;
  const server = new InMemorySpanExporter();
  const sdk = new InMemorySpanExporter();
  let provider: BasicTracerProvider;
  let metricsText = '';
  const closers: (() => unknown)[] = [];

  before(async () => {
    otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(sdk)] });
    const config = loadConfig({
      argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--shutdown.timeout', '1s', '--limits.connectRate', '0',
        '--tracing.writeSampleRate', '1', '--tracing.maxWriteSpans', '0', '--demo.producer', 'true', '--demo.producerInterval', '100ms'],
    });
    sb = createSwitchboard({ config, env: {}, spanProcessors: [new SimpleSpanProcessor(server)] });
    const { port } = await sb.listen();
    url = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}/ws`;
    await exercise();
  });

  after(async () => {
    for (const c of closers.reverse()) await c();
    await withTimeout(sb.shutdown(), 15_000, 'server shutdown');
    await provider.shutdown();
    otel.context.disable();
  });

  const serverSpans = () => server.getFinishedSpans();
  const sdkSpans = () => sdk.getFinishedSpans();
  const describeSpans = (spans: ReadableSpan[]) => [...new Set(spans.map((s) => s.name))].join(', ');

  /** Every operation the table's rows come from, each waited for, so the checks below read a settled export. */
  async function exercise(): Promise<void> {
    const room = `room-${randomUUID().slice(0, 8)}`;
    const tracing = otelTracing(otel, { tracerProvider: provider });

    // An SDK WebSocket client (websocket.connect/send/receive/close) subscribed to the room.
    const alice = createClient({ url: wsUrl, params: { user: 'alice' }, tracing });
    const sub = alice.subscribe(room);
    alice.connect();
    await sub.ready();

    // An SDK SSE client on the same room (server sse.connect/add_client, SDK sse.connect/receive).
    const carol = createSseClient({ url: `${url}/events`, params: { user: 'carol' }, tracing });
    const sseSub = carol.subscribe(room);
    carol.connect();
    await sseSub.ready();

    // A seed 002 client: join, send with the seed's trace fields, a direct message, an unknown type, leave.
    const { client: bob } = await connectReady(`${wsUrl}?user=bob`);
    const traceId = hex(16);
    bob.send({ type: 'join_room', payload: { room_id: room } });
    bob.send({ type: 'send_to_room', payload: { room_id: room, content: 'hi' }, trace_id: traceId, span_id: hex(8) });
    await bob.next((m: Frame) => m.push === 'publication' && m.channel === room);
    bob.send({ type: 'send_to_user', payload: { user_id: 'alice', content: 'psst' } });
    bob.send({ type: 'no_such_type', payload: {} });
    await bob.next((m: Frame) => m.type === 'error');
    bob.send({ type: 'leave_room', payload: { room_id: room } });

    // The server API: a publish (fan-out to alice and carol), a direct message, a history read.
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
    await post('/api/publish', { channel: room, data: { n: 1 } });
    await post('/api/send', { user: 'alice', data: { note: 1 } });
    await fetch(`${url}/api/history?channel=${room}`).then((r) => r.json());

    // Bytes that are not a readable frame: a text frame of invalid UTF-8 (websocket.read_error).
    const raw = new WebSocket(`${wsUrl}?user=dave`);
    await once(raw, 'open');
    raw.send(Buffer.from([0xc3, 0x28]), { binary: false });
    await once(raw, 'close');

    // An SSE stream that breaks while the SDK reads it (sse.read_error).
    const drops: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: connected\ndata: {"client":"drop-1","user":"dave","channels":[]}\n\n`);
      setTimeout(() => res.socket?.destroy(), 50);
    });
    drops.listen(0, '127.0.0.1');
    await once(drops, 'listening');
    const broken = createSseClient({ url: `http://127.0.0.1:${(drops.address() as AddressInfo).port}/events`, tracing, minReconnectDelay: 5000, maxReconnectDelay: 5000 });
    broken.subscribe('x');
    broken.connect();

    const want = ['websocket.receive', 'sse.receive', 'sse.read_error'];
    await waitFor(() => want.every((n) => sdkSpans().some((s) => s.name === n)), { timeout: 10_000, label: want.join(', '), describe: () => describeSpans(sdkSpans()) });
    broken.disconnect();
    drops.closeAllConnections();
    drops.close();

    // Ends: closes give the unregister/remove spans and the SDK's websocket.close.
    await bob.close();
    alice.disconnect();
    carol.disconnect();
    const ends = ['websocket.unregister_client', 'sse.remove_client', 'stream.push_data', 'websocket.read_error', 'event_stream.unsubscribe', 'notification.send', 'history.read'];
    await waitFor(() => ends.every((n) => serverSpans().some((s) => s.name === n)), { timeout: 10_000, label: ends.join(', '), describe: () => describeSpans(serverSpans()) });
    await waitFor(() => sdkSpans().some((s) => s.name === 'websocket.close'), { timeout: 5000, label: 'websocket.close' });

    // The seed 002 frame's trace fields parent its span (checked here too: the table says so).
    const send = serverSpans().find((s) => s.name === 'chat_room.send');
    assert.equal(send?.spanContext().traceId, traceId, 'chat_room.send continues the trace the seed frame carried');

    metricsText = await fetch(`${url}/metrics`).then((r) => r.text());
  }

  const spansOf = (where: string) => (where === 'SDK' ? sdkSpans() : serverSpans());
  /** The spans a row's event or attribute is looked for on: those named in "where" (server and SDK both). */
  const onSpan = (where: string) => [...serverSpans(), ...sdkSpans()].filter((s) => s.name === where);

  it('has a row for every seed name the issue lists, each either emitted or with a reason', () => {
    const rows = seedTable();
    const names = new Set(rows.map((r) => r.seed));
    for (const n of ['connection_upgraded', 'client_registered', 'client_unregistered', 'message_broadcasted', 'unknown_action', 'message_received',
      'event_stream.subscribe', 'event_stream.unsubscribe', 'chat_room.join', 'chat_room.leave', 'chat_room.send', 'hub.process_message',
      'notification.send', 'stream.push_data', 'websocket.read_error', 'room.id', 'stream.id', 'event.type', 'clients.total',
      'subscribers.count', 'messages.sent', 'error.code', 'websocket.messages.sent', 'websocket.messages.received']) {
      assert.ok(names.has(n), `row for ${n}`);
    }
    for (const r of rows) if (r.emits === undefined) assert.ok(r.notes.length > 10, `${r.seed}: not emitted, so the row says why`);
  });

  it('has a row of the right kind for every name in the seeds\' Go samples', () => {
    const rows = seedTable();
    const missing = Object.entries(SEED_NAMES).flatMap(([kind, names]) =>
      names.filter((n) => !rows.some((r) => r.seed === n && r.kind === kind)).map((n) => `${kind} ${n}`));
    assert.deepEqual(missing, [], 'seed names without a row in docs/operations.md');
  });

  it('every span row is exported under the name the table gives', () => {
    for (const r of seedTable().filter((r) => r.kind === 'span' && r.emits)) {
      assert.ok(spansOf(r.where).some((s) => s.name === r.emits), `${r.seed} → ${r.emits} (${r.where}); exported: ${describeSpans(spansOf(r.where))}`);
    }
  });

  it('every event row is an event on the span the table names', () => {
    for (const r of seedTable().filter((r) => r.kind === 'event' && r.emits)) {
      const spans = onSpan(r.where);
      assert.ok(spans.length > 0, `${r.seed}: no ${r.where} span exported`);
      assert.ok(spans.some((s) => s.events.some((e) => e.name === r.emits)), `${r.seed} → event ${r.emits} on ${r.where}`);
    }
  });

  it('every attribute row is an attribute of the span the table names', () => {
    for (const r of seedTable().filter((r) => r.kind === 'attribute' && r.emits)) {
      const spans = onSpan(r.where);
      assert.ok(spans.length > 0, `${r.seed}: no ${r.where} span exported`);
      assert.ok(spans.some((s) => r.emits! in s.attributes), `${r.seed} → attribute ${r.emits} on ${r.where}: ${JSON.stringify(spans[0]!.attributes)}`);
    }
  });

  it('every metric row is in /metrics', () => {
    for (const r of seedTable().filter((r) => r.kind === 'metric' && r.emits)) {
      const prom = r.emits!.replace(/\./g, '_');
      assert.match(metricsText, new RegExp(`^${prom}(_total)?(\\{[^}]*\\})? \\d`, 'm'), `${r.seed} → ${prom}`);
    }
    // The seed names are the same counters, not a second count: equal values.
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metricsText)?.[1]);
    assert.ok(value('ws_messages_received_total') > 0);
    assert.equal(value('websocket_messages_received_total'), value('ws_messages_received_total'));
    assert.equal(value('websocket_messages_sent_total'), value('ws_messages_sent_total'));
  });
});
