/**
 * Client spans (`otelTracing` from switchboard/client/otel) end to end in Node: a real server exporting OTLP/protobuf
 * and a client exporting OTLP/JSON (the real @opentelemetry/exporter-trace-otlp-http) to one loopback OTLP receiver.
 * One trace id runs from the API request through `event_stream.publish`, `hub.broadcast` and the socket write to
 * the client's `websocket.receive` / `sse.receive`, parented on the publish span the publication carries. Also the
 * connection spans (connect, send, close, read_error) and sampling (carried flag, rate, per-second cap).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { WebSocketServer } from 'ws';
import { createClient, createSseClient, type Publication } from '../../src/client/index.js';
import { otelTracing } from '../../src/client/otel.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { startTracedServer, type TracedServer } from '../helpers/traced-server.js';
import { waitFor } from '../helpers/wait.js';

/** OTLP span kinds (the API's + 1). */
const KIND = { server: 2, client: 3, producer: 4, consumer: 5 };
const CLIENT_SERVICE = 'client-tracing-test';

describe('client tracing: one trace from the server API to the client', () => {
  let receiver: OtlpReceiver;
  let srv: TracedServer;
  let provider: BasicTracerProvider;
  before(async () => {
    otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    receiver = await startOtlpReceiver();
    srv = await startTracedServer(receiver.url);
    provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': CLIENT_SERVICE }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${receiver.url}/v1/traces` }), { scheduledDelayMillis: 50 })],
    });
  });
  after(async () => {
    await srv.close();
    await provider.shutdown();
    await receiver.close();
    otel.context.disable();
  });

  /** Waits until the receiver holds spans of all `names` in trace `traceId`; returns that trace's spans. */
  const traceSpans = (traceId: string, names: string[]) =>
    waitFor(() => {
      const mine = receiver.spans().filter((s) => s.traceId === traceId);
      return names.every((n) => mine.some((s) => s.name === n)) && mine;
    }, { timeout: 10_000, label: `trace ${traceId}: ${names.join(', ')}`, describe: () => listSpans(receiver.spans().filter((s) => s.traceId === traceId)) });
  const one = (spans: ReceivedSpan[], name: string, pred: (s: ReceivedSpan) => boolean = () => true) => {
    const found = spans.filter((s) => s.name === name && pred(s));
    assert.equal(found.length, 1, `one ${name} in ${listSpans(spans)}`);
    return found[0]!;
  };
  const clientSpans = () => receiver.spans().filter((s) => s.resource['service.name'] === CLIENT_SERVICE);

  it('WebSocket: API request → event_stream.publish → hub.broadcast → websocket.write_message, and the client\'s websocket.receive', async () => {
    const channel = `ws-trace-${randomUUID().slice(0, 8)}`;
    const client = wsClient(srv, provider, 'alice');
    const pubs: Publication[] = [];
    const sub = client.subscribe(channel);
    // A span the app starts in its listener is a child of the receive span (the listener runs inside it).
    sub.on('publication', (p) => {
      pubs.push(p);
      provider.getTracer('app').startSpan('app.render').end();
    });
    client.connect();
    await sub.ready();
    const clientId = client.info!.client;

    const t = await srv.publish(channel, { text: 'hello' });
    await waitFor(() => pubs.length === 1);
    client.disconnect();
    await provider.forceFlush();

    const spans = await traceSpans(t.traceId, ['POST /api/publish', 'event_stream.publish', 'hub.broadcast', 'websocket.write_message', 'websocket.receive', 'app.render']);
    const api = one(spans, 'POST /api/publish');
    const publish = one(spans, 'event_stream.publish');
    const broadcast = one(spans, 'hub.broadcast');
    const write = one(spans, 'websocket.write_message');
    const receive = one(spans, 'websocket.receive');
    assert.equal(api.parentSpanId, t.spanId);
    assert.equal(publish.parentSpanId, api.spanId);
    assert.equal(broadcast.parentSpanId, publish.spanId);
    assert.equal(write.parentSpanId, broadcast.spanId);
    assert.equal(write.attributes['client.id'], clientId);
    // The client's span: exported by the client's own provider, a consumer child of the publish span it received.
    assert.equal(receive.resource['service.name'], CLIENT_SERVICE);
    assert.equal(receive.parentSpanId, publish.spanId);
    assert.equal(receive.kind, KIND.consumer);
    assert.equal(receive.attributes['client.id'], clientId);
    assert.equal(receive.attributes['messaging.system'], 'switchboard');
    assert.equal(receive.attributes['messaging.destination.name'], channel);
    assert.equal(receive.attributes['messaging.message.id'], `${t.epoch}:${t.offset}`);
    assert.equal(receive.attributes['message.type'], 'publication');
    assert.equal(receive.attributes['event.type'], 'message');
    assert.equal(typeof receive.attributes['message.size'], 'number');
    assert.ok((receive.attributes['message.size'] as number) > 20);
    assert.equal(one(spans, 'app.render').parentSpanId, receive.spanId);

    // The connection's own spans (each its own trace): connect with the seed's attributes and no token or query,
    // a send per command frame, and the close.
    await waitFor(() => clientSpans().some((s) => s.name === 'websocket.close' && s.attributes['client.id'] === clientId), { timeout: 10_000, label: 'websocket.close' });
    const mine = clientSpans().filter((s) => s.attributes['client.id'] === clientId);
    const connect = one(mine, 'websocket.connect');
    assert.equal(connect.kind, KIND.client);
    assert.equal(connect.attributes['ws.url'], srv.wsUrl);
    assert.equal(connect.attributes['http.status_code'], 101);
    assert.equal(connect.attributes['user.id'], 'alice');
    assert.equal(connect.statusCode, 0);
    const send = one(mine, 'websocket.send', (s) => s.attributes['message.type'] === 'subscribe');
    assert.equal(typeof send.attributes['message.size'], 'number');
    const close = one(mine, 'websocket.close');
    assert.equal(close.attributes['websocket.close.code'], 3000);
    assert.equal(typeof close.attributes['connection.duration_s'], 'number');
    assert.equal(close.statusCode, 0, 'disconnect() is a normal close');
    assert.deepEqual(receiver.requests.filter((r) => r.error !== undefined).map((r) => r.error), []);
  });

  it('WebSocket: a publish carries the caller\'s trace; websocket.send and the server\'s handling share it', async () => {
    const channel = `ws-send-${randomUUID().slice(0, 8)}`;
    const tracer = provider.getTracer('app');
    const client = wsClient(srv, provider, 'carol');
    client.connect();
    await client.ready();
    let traceId = '';
    let appSpanId = '';
    await tracer.startActiveSpan('app.place_order', async (span) => {
      traceId = span.spanContext().traceId;
      appSpanId = span.spanContext().spanId;
      await client.publish(channel, { n: 1 }, { traceparent: `00-${traceId}-${appSpanId}-01` });
      span.end();
    });
    client.disconnect();
    await provider.forceFlush();
    const spans = await traceSpans(traceId, ['websocket.send', 'websocket.handle_message', 'event_stream.publish']);
    const send = one(spans, 'websocket.send');
    assert.equal(send.parentSpanId, appSpanId);
    assert.equal(send.attributes['message.type'], 'publish');
    assert.equal(one(spans, 'websocket.handle_message').parentSpanId, appSpanId);
  });

  it('SSE: API request → event_stream.publish → hub.broadcast → sse.send_message, and the client\'s sse.receive; the server\'s sse.connect continues the client\'s', async () => {
    const channel = `sse-trace-${randomUUID().slice(0, 8)}`;
    const client = sseClient(srv, provider, 'bob');
    const pubs: Publication[] = [];
    const sub = client.subscribe(channel);
    sub.on('publication', (p) => pubs.push(p));
    client.connect();
    await sub.ready();
    const clientId = client.info!.client;

    const t = await srv.publish(channel, { text: 'hello sse' }, {});
    await waitFor(() => pubs.length === 1);
    client.disconnect();
    await provider.forceFlush();

    const spans = await traceSpans(t.traceId, ['POST /api/publish', 'event_stream.publish', 'hub.broadcast', 'sse.send_message', 'sse.receive']);
    const publish = one(spans, 'event_stream.publish');
    assert.equal(publish.parentSpanId, one(spans, 'POST /api/publish').spanId);
    const broadcast = one(spans, 'hub.broadcast');
    assert.equal(broadcast.parentSpanId, publish.spanId);
    const write = one(spans, 'sse.send_message');
    assert.equal(write.parentSpanId, broadcast.spanId);
    assert.equal(write.attributes['client.id'], clientId);
    const receive = one(spans, 'sse.receive');
    assert.equal(receive.resource['service.name'], CLIENT_SERVICE);
    assert.equal(receive.parentSpanId, publish.spanId);
    assert.equal(receive.kind, KIND.consumer);
    assert.equal(receive.attributes['client.id'], clientId);
    assert.equal(receive.attributes['event.type'], 'message');
    assert.equal(receive.attributes['messaging.message.id'], `${t.epoch}:${t.offset}`);
    assert.equal(typeof receive.attributes['data.size'], 'number');

    // The client's sse.connect is the parent of the server's (the fetch reader sends its traceparent header).
    const connect = await waitFor(() => clientSpans().find((s) => s.name === 'sse.connect' && s.attributes['client.id'] === clientId), { timeout: 10_000, label: 'client sse.connect' });
    assert.equal(connect.kind, KIND.client);
    assert.equal(connect.attributes['sse.url'], `${srv.url}/events`);
    assert.equal(connect.attributes['http.status_code'], 200);
    const serverConnect = await waitFor(() => receiver.spans().find((s) => s.name === 'sse.connect' && s.kind === KIND.server && s.attributes['client.id'] === clientId), { timeout: 10_000, label: 'server sse.connect' });
    assert.equal(serverConnect.traceId, connect.traceId);
    assert.equal(serverConnect.parentSpanId, connect.spanId);
  });

  it('SSE: a stream that breaks while reading is an sse.read_error span', async () => {
    // A loopback "server" that opens the stream, says connected, then drops the connection mid-stream.
    const drops: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: connected\ndata: {"client":"drop-1","user":"dave","channels":[]}\n\n`);
      setTimeout(() => res.socket?.destroy(), 50);
    });
    drops.listen(0, '127.0.0.1');
    await once(drops, 'listening');
    const url = `http://127.0.0.1:${(drops.address() as AddressInfo).port}/events`;
    const client = createSseClient({ url, tracing: otelTracing(otel, { tracerProvider: provider }), minReconnectDelay: 5000, maxReconnectDelay: 5000 });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.error.code));
    client.subscribe('x');
    client.connect();
    try {
      await waitFor(() => errors.includes('connection_lost'), { timeout: 5000, label: 'connection_lost' });
    } finally {
      client.disconnect();
      drops.closeAllConnections();
      drops.close();
    }
    await provider.forceFlush();
    const readError = await waitFor(() => clientSpans().find((s) => s.name === 'sse.read_error' && s.attributes['client.id'] === 'drop-1'), { timeout: 10_000, label: 'sse.read_error' });
    assert.equal(readError.statusCode, 2);
    assert.equal(readError.attributes['error.type'], 'connection_lost');
  });

  it('WebSocket: a connection that breaks while reading is a websocket.close span with status ERROR and the close code', async () => {
    // A loopback "server" that says connected, then drops the TCP connection without a close frame (1006).
    const drops = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(drops, 'listening');
    drops.on('connection', (ws) => {
      ws.send(JSON.stringify({ push: 'connected', client: 'drop-ws-1', user: 'erin', version: '0', protocol: 1, ping: 25 }));
      setTimeout(() => ws.terminate(), 50);
    });
    const url = `ws://127.0.0.1:${(drops.address() as AddressInfo).port}/ws`;
    const client = createClient({ url, tracing: otelTracing(otel, { tracerProvider: provider }), minReconnectDelay: 5000, maxReconnectDelay: 5000 });
    client.connect();
    let close: ReceivedSpan;
    try {
      // The batch processor exports every 50 ms; the drop's close span comes before the reconnect (5 s later).
      close = await waitFor(() => clientSpans().find((s) => s.name === 'websocket.close' && s.attributes['client.id'] === 'drop-ws-1'), { timeout: 10_000, label: 'websocket.close' });
    } finally {
      client.disconnect();
      drops.close();
    }
    assert.equal(close.statusCode, 2);
    assert.equal(close.attributes['websocket.close.code'], 1006);
    assert.equal(typeof close.attributes['error.type'], 'string');
  });
});

describe('client tracing: sampling', () => {
  let srv: TracedServer;
  let receiver: OtlpReceiver;
  const exporter = new InMemorySpanExporter();
  // Always on: the app's sampler would keep everything, so only the hook's own rules leave spans out.
  const provider = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  before(async () => {
    receiver = await startOtlpReceiver();
    srv = await startTracedServer(receiver.url);
  });
  after(async () => {
    await srv.close();
    await receiver.close();
  });

  /** Subscribes with these tracing options, publishes `n` times (sampled or not), returns the receive spans. */
  async function receives(options: Parameters<typeof otelTracing>[1], n: number, sampled = true) {
    exporter.reset();
    const channel = `sampling-${randomUUID().slice(0, 8)}`;
    const client = createClient({ url: srv.wsUrl, params: { user: 'sam' }, tracing: otelTracing(otel, { tracerProvider: provider, ...options }) });
    srv.track({ close: () => client.disconnect() });
    let got = 0;
    const sub = client.subscribe(channel);
    sub.on('publication', () => got++);
    client.connect();
    await sub.ready();
    const traces: string[] = [];
    for (let i = 0; i < n; i++) traces.push((await srv.publish(channel, i, { sampled })).traceId);
    await waitFor(() => got === n, { label: `${n} publications` });
    client.disconnect();
    return { spans: exporter.getFinishedSpans().filter((s) => s.name === 'websocket.receive'), traces };
  }

  it('follows the carried flag: an unsampled publication gets no receive span (listeners still run)', async () => {
    assert.equal((await receives({}, 3, false)).spans.length, 0);
    assert.equal((await receives({}, 3, true)).spans.length, 3);
  });

  it('receiveSampleRate thins by trace id; 0 turns receive spans off', async () => {
    assert.equal((await receives({ receiveSampleRate: 0 }, 3)).spans.length, 0);
    const { spans, traces } = await receives({ receiveSampleRate: 0.5, maxReceiveSpansPerSecond: 0 }, 40);
    const expected = traces.filter((id) => parseInt(id.slice(-8), 16) / 2 ** 32 < 0.5);
    assert.deepEqual(spans.map((s) => s.spanContext().traceId).sort(), expected.sort());
  });

  it('maxReceiveSpansPerSecond caps a burst', async () => {
    const start = Date.now();
    const { spans } = await receives({ maxReceiveSpansPerSecond: 2 }, 6);
    // 2 per wall-clock second: a slow run may cross a second boundary or two (test/unit/client-receive-sampler.test.ts checks the window exactly).
    const seconds = Math.floor(Date.now() / 1000) - Math.floor(start / 1000) + 1;
    assert.ok(spans.length >= 2 && spans.length <= Math.min(6, 2 * seconds), `${spans.length} spans over ${seconds} s`);
    if (seconds === 1) assert.equal(spans.length, 2);
  });

  it('refuses bad options with the option\'s name', () => {
    assert.throws(() => otelTracing(otel, { receiveSampleRate: 2 }), /receiveSampleRate/);
    assert.throws(() => otelTracing(otel, { maxReceiveSpansPerSecond: -1 }), /maxReceiveSpansPerSecond/);
    assert.throws(() => createClient({ url: 'ws://x/ws', tracing: {} as never }), /tracing/);
  });
});

/** A traced WebSocket client that `srv.close()` disconnects. */
function wsClient(srv: TracedServer, provider: BasicTracerProvider, user: string) {
  const c = createClient({ url: srv.wsUrl, params: { user }, tracing: otelTracing(otel, { tracerProvider: provider }) });
  srv.track({ close: () => c.disconnect() });
  return c;
}

function sseClient(srv: TracedServer, provider: BasicTracerProvider, user: string) {
  const c = createSseClient({ url: `${srv.url}/events`, params: { user }, tracing: otelTracing(otel, { tracerProvider: provider }) });
  srv.track({ close: () => c.disconnect() });
  return c;
}

function listSpans(spans: ReceivedSpan[]): string {
  return spans.map((s) => `${s.name}[${s.resource['service.name']}](${s.spanId}<-${s.parentSpanId})`).join(', ');
}
