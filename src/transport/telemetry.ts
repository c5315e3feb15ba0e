import type { IncomingMessage } from 'node:http';
import type { TraceContext } from '../core/trace-context.js';
import type { ErrorType } from '../observability/error-type.js';

/** A connection handshake being traced (`websocket.upgrade`, `sse.connect`). */
export interface HandshakeTrace {
  /** The handshake span, for the session's later spans (parent or link) and the SSE `traceparent` header. */
  readonly context: TraceContext;
  /** Refused with HTTP `status`: records it and the error's class and code, and ends the span. */
  refused(status: number, type: ErrorType, code: string): void;
  /** Accepted: records these attributes (status, client and user ids...); the span stays open until `end`. */
  accepted(attributes: Record<string, string | number>): void;
  /** Failed after it was accepted: records the error and ends the span. */
  failed(type: ErrorType, code: string): void;
  end(): void;
}

/**
 * The transports' tracing port: one server span per handshake, continuing the client's trace when its request
 * carried `traceparent`. Implemented in observability/; undefined results when tracing is off, so the transports
 * skip the span work entirely.
 */
export interface TransportTelemetry {
  /** `websocket.upgrade` for an upgrade request. */
  upgrade(req: IncomingMessage, ip: string, route: string): HandshakeTrace | undefined;
  /** `sse.connect` for an event-stream request. */
  streamConnect(req: IncomingMessage, ip: string, route: string): HandshakeTrace | undefined;
}
