/**
 * Optional OpenTelemetry glue (entry point `switchboard/client/otel`). It takes the `@opentelemetry/api` object
 * the app already has and imports nothing itself, so the core SDK stays free of it:
 *
 *   import * as otel from '@opentelemetry/api';
 *   const client = createClient({ url, traceContext: otelTraceContext(otel) });
 *   sub.on('publication', (p) => tracer.startActiveSpan('handle', {}, otelContextOf(otel, p), (span) => { ...; span.end(); }));
 */
import { TRACEPARENT_PATTERN } from '../protocol/names.js';
import type { TraceContext } from './types.js';

/** The subset of a span context the helpers read and build. */
interface SpanContextLike {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: { serialize(): string };
}

/** The parts of `@opentelemetry/api` used here (structural, so this file needs no import of the package). */
export interface OtelApi {
  context: { active(): any };
  trace: {
    getSpanContext(ctx: any): SpanContextLike | undefined;
    setSpanContext(ctx: any, spanContext: any): any;
  };
  createTraceState?(raw?: string): { serialize(): string };
}

const INVALID_TRACE = /^0+$/;

/** A `traceContext` hook: the active span's W3C trace context, so publishes join the caller's trace. */
export function otelTraceContext(api: OtelApi): () => TraceContext | undefined {
  return () => {
    const sc = api.trace.getSpanContext(api.context.active());
    if (!sc || INVALID_TRACE.test(sc.traceId) || INVALID_TRACE.test(sc.spanId)) return undefined;
    const traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
    const tracestate = sc.traceState?.serialize();
    return tracestate ? { traceparent, tracestate } : { traceparent };
  };
}

/**
 * The context to start a consumer span in (as parent, or link its span context) for a received publication: the
 * sender's trace from its `traceparent`. Undefined when the publication carries none.
 */
export function otelContextOf(api: OtelApi, p: { traceparent?: string; tracestate?: string }): unknown {
  if (!p.traceparent || !TRACEPARENT_PATTERN.test(p.traceparent)) return undefined;
  const [, traceId, spanId, flags] = p.traceparent.split('-') as [string, string, string, string];
  if (INVALID_TRACE.test(traceId) || INVALID_TRACE.test(spanId)) return undefined;
  const sc: SpanContextLike = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
  if (p.tracestate && api.createTraceState) sc.traceState = api.createTraceState(p.tracestate);
  return api.trace.setSpanContext(api.context.active(), sc);
}
