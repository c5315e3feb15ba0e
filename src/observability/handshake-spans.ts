import { ROOT_CONTEXT, SpanKind, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import type { TraceContext } from '../core/trace-context.js';
import { markError, type ErrorType } from './spans.js';
import { otelContextOf, spanTraceContext } from './trace-context.js';
import { extractContext } from './tracing.js';

/** One handshake's server span (HandshakeTrace in transport/telemetry.ts). */
class HandshakeSpan {
  readonly context: TraceContext;

  constructor(
    private readonly span: Span,
    /** The seed's event for the accepted handshake (`connection_upgraded`, `client_connected`). */
    private readonly acceptedEvent: string,
    private readonly clientsTotal: () => number,
  ) {
    this.context = spanTraceContext(span);
  }

  refused(status: number, type: ErrorType, code: string): void {
    this.span.setAttribute('http.response.status_code', status);
    markError(this.span, type, code);
    this.span.end();
  }

  accepted(attributes: Record<string, string | number>): void {
    this.span.setAttributes(attributes);
    this.span.setAttribute('clients.total', this.clientsTotal());
    this.span.addEvent(this.acceptedEvent);
  }

  failed(type: ErrorType, code: string): void {
    markError(this.span, type, code);
    this.span.end();
  }

  end(): void {
    this.span.end();
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Handshake spans (TransportTelemetry in transport/telemetry.ts), tracing on. Shaped like that port rather than
 * importing it, so observability/ does not depend on transport/; the node checks the match where it wires them.
 */
export class HandshakeSpans {
  constructor(
    private readonly tracer: Tracer,
    /** This node's connections now (`clients.total`). */
    private readonly clientsTotal: () => number,
  ) {}

  /** `websocket.upgrade`: the handshake, as a server span continuing the client's trace when it sent `traceparent`. */
  upgrade(req: IncomingMessage, ip: string, route: string): HandshakeSpan {
    const tp = req.headers.traceparent;
    const ts = req.headers.tracestate;
    return new HandshakeSpan(this.tracer.startSpan(
      'websocket.upgrade',
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': 'GET', 'http.route': route, 'client.address': ip, 'network.protocol.name': 'websocket' },
      },
      typeof tp === 'string' ? extractContext(tp, typeof ts === 'string' ? ts : undefined) : ROOT_CONTEXT,
    ), 'connection_upgraded', this.clientsTotal);
  }

  /** `sse.connect`: the stream request as a server span, continuing the client's trace when it sent `traceparent`. */
  streamConnect(req: IncomingMessage, ip: string, route: string): HandshakeSpan {
    const tp = headerValue(req.headers.traceparent);
    return new HandshakeSpan(this.tracer.startSpan(
      'sse.connect',
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? 'GET', 'http.route': route, 'client.address': ip } },
      tp ? extractContext(tp, headerValue(req.headers.tracestate)) : ROOT_CONTEXT,
    ), 'client_connected', this.clientsTotal);
  }

  /**
   * `websocket.read_error`: the connection's bytes could not be read as WebSocket frames (invalid UTF-8, a bad
   * opcode, a frame over websocket.maxMessageSize...); `code` is the library's (`WS_ERR_...`). A new trace linked to
   * the connection's handshake span, like its commands. Rare by nature (the connection closes after it).
   */
  readError(connection: TraceContext | undefined, clientId: string, code: string): void {
    const link = trace.getSpanContext(otelContextOf(connection));
    const span = this.tracer.startSpan('websocket.read_error', { attributes: { 'client.id': clientId }, links: link ? [{ context: link }] : [] });
    markError(span, 'protocol', code);
    span.end();
  }
}

/** Tracing off: no handshake is traced. */
export const noHandshakeSpans = {
  upgrade: (): undefined => undefined,
  streamConnect: (): undefined => undefined,
  readError: (): void => {},
};
