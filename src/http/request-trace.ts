import type { IncomingMessage } from 'node:http';

/**
 * The trace of an HTTP request's server span (an API request's, an SSE stream's `sse.connect`), noted by whoever
 * made the span, so the access log line (access-log.ts) can name the trace without knowing the tracer. Weak: the
 * entry goes with the request.
 */
const traces = new WeakMap<IncomingMessage, RequestTrace>();

/** What a request's trace is read for: its W3C `traceparent` (core's TraceContext fits; http/ imports nothing). */
export interface RequestTrace {
  readonly traceparent: string | undefined;
}

export function noteRequestTrace(req: IncomingMessage, trace: RequestTrace): void {
  traces.set(req, trace);
}

export function requestTrace(req: IncomingMessage): RequestTrace | undefined {
  return traces.get(req);
}
