import { ROOT_CONTEXT, trace, type Context, type Span } from '@opentelemetry/api';
import type { TraceContext } from '../core/trace-context.js';
import { extractContext, traceContextOf } from './tracing.js';

/**
 * The OpenTelemetry form of a TraceContext: a span's context. The W3C headers are worked out only when asked for
 * (the SSE response header); spans parented on it read `context` directly.
 */
export class SpanTraceContext implements TraceContext {
  readonly context: Context;
  private headers: { traceparent?: string; tracestate?: string } | undefined;

  constructor(private readonly span: Span) {
    this.context = trace.setSpan(ROOT_CONTEXT, span);
  }

  get traceparent(): string | undefined {
    return (this.headers ??= traceContextOf(this.span)).traceparent;
  }

  get tracestate(): string | undefined {
    return (this.headers ??= traceContextOf(this.span)).tracestate;
  }
}

/** A span's TraceContext, for the layers below observability/ to carry (an API request span, a handshake span). */
export function spanTraceContext(span: Span): TraceContext {
  return new SpanTraceContext(span);
}

/** A remote caller's trace context (W3C headers it sent), to parent spans on. */
export function remoteTraceContext(traceparent: string, tracestate?: string): TraceContext {
  return { traceparent, tracestate };
}

/**
 * The OpenTelemetry context a TraceContext names: a span's own context, or the one its W3C headers name (a
 * remote caller's), or `base` (default the root context) when there is none.
 */
export function otelContextOf(t: TraceContext | undefined, base: Context = ROOT_CONTEXT): Context {
  if (t === undefined) return base;
  if (t instanceof SpanTraceContext) return t.context;
  return extractContext(t.traceparent, t.tracestate, base);
}
