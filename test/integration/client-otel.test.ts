/**
 * OpenTelemetry in the SDK: with the `otelTraceContext` hook a publish carries the caller's active span as
 * `traceparent`, a receiver sees the sender's trace context on the publication, and `otelContextOf` turns it back
 * into a context for a consumer span. Uses the real `@opentelemetry/api`, with a NodeTracerProvider registered for
 * its context manager.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as otel from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createClient, type Publication } from '../../src/client/index.js';
import { otelContextOf, otelTraceContext } from '../../src/client/otel.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

describe('client OpenTelemetry', () => {
  let srv: TestServer;
  before(async () => {
    new NodeTracerProvider().register();
    srv = await startServer();
  });
  after(async () => {
    await srv.close();
    otel.trace.disable();
    otel.context.disable();
    otel.propagation.disable();
  });

  it('publishes carry the active span; receivers get the traceparent and can continue the trace', async () => {
    const sender = createClient({ url: srv.wsUrl, params: { user: 'sender' }, traceContext: otelTraceContext(otel) });
    const receiver = createClient({ url: srv.wsUrl, params: { user: 'receiver' } });
    srv.track({ close: () => sender.disconnect() });
    srv.track({ close: () => receiver.disconnect() });
    const pubs: Publication[] = [];
    const sub = receiver.subscribe('traced');
    sub.on('publication', (p) => pubs.push(p));
    receiver.connect();
    sender.connect();
    await sub.ready();

    const sc = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: otel.TraceFlags.SAMPLED };
    const active = otel.trace.setSpan(otel.context.active(), otel.trace.wrapSpanContext(sc));
    await otel.context.with(active, () => sender.publish('traced', 'with trace'));
    await sender.publish('traced', 'no active span');
    await waitFor(() => pubs.length === 2);

    // Tracing is off in this server, so the sender's traceparent is delivered unchanged.
    assert.equal(pubs[0]!.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(pubs[1]!.traceparent, undefined);
    const ctx = otelContextOf(otel, pubs[0]!) as otel.Context;
    const parent = otel.trace.getSpanContext(ctx)!;
    assert.deepEqual({ traceId: parent.traceId, spanId: parent.spanId, isRemote: parent.isRemote }, { traceId: sc.traceId, spanId: sc.spanId, isRemote: true });
    assert.equal(otelContextOf(otel, pubs[1]!), undefined);
  });
});
