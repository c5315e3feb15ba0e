/**
 * Optional OpenTelemetry glue (entry point `switchboard/client/otel`). It takes the `@opentelemetry/api` object
 * the app already has and imports nothing itself, so the core SDK stays free of it:
 *
 *   import * as otel from '@opentelemetry/api';
 *   const client = createClient({ url, traceContext: otelTraceContext(otel), tracing: otelTracing(otel) });
 *   sub.on('publication', (p) => tracer.startActiveSpan('handle', {}, otelContextOf(otel, p), (span) => { ...; span.end(); }));
 *
 * `otelTracing` makes the client's own spans (connect, send, receive, close; docs/client.md, "OpenTelemetry").
 */
import { formatTraceparent, parseTraceparent, type OtelApi } from './otel-api.js';
import type { TraceContext } from './types.js';

export { otelTracing, type OtelTracingOptions } from './otel-tracing.js';
export type { OtelApi, TracerProviderLike } from './otel-api.js';

/** A `traceContext` hook: the active span's W3C trace context, so publishes join the caller's trace. */
export function otelTraceContext(api: OtelApi): () => TraceContext | undefined {
  return () => {
    const sc = api.trace.getSpanContext(api.context.active());
    const traceparent = sc && formatTraceparent(sc);
    if (!traceparent) return undefined;
    const tracestate = sc.traceState?.serialize();
    return tracestate ? { traceparent, tracestate } : { traceparent };
  };
}

/**
 * The context to start a consumer span in (as parent, or link its span context) for a received publication: the
 * sender's trace from its `traceparent`. Undefined when the publication carries none. (With `otelTracing`, listeners
 * already run inside the client's receive span: plain `startSpan` there is its child.)
 */
export function otelContextOf(api: OtelApi, p: { traceparent?: string; tracestate?: string }): unknown {
  const sc = parseTraceparent(api, p.traceparent, p.tracestate);
  return sc && api.trace.setSpanContext(api.context.active(), sc);
}
