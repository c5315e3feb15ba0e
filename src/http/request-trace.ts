import type { IncomingMessage } from 'node:http';
import type { TraceContext } from '../core/trace-context.js';

/**
 * The trace of an HTTP request's server span (an API request's, an SSE stream's `sse.connect`), noted by whoever
 * made the span, so the access log line (access-log.ts) can name the trace without knowing the tracer. Weak: the
 * entry goes with the request.
 */
const traces = new WeakMap<IncomingMessage, TraceContext>();

export function noteRequestTrace(req: IncomingMessage, trace: TraceContext): void {
  traces.set(req, trace);
}

export function requestTrace(req: IncomingMessage): TraceContext | undefined {
  return traces.get(req);
}
