import { ROOT_CONTEXT, SpanKind, type Span, type Tracer } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import type { TraceContext } from '../core/trace-context.js';
import { markError, type ErrorType } from './spans.js';
import { spanTraceContext } from './trace-context.js';
import { extractContext } from './tracing.js';

/** One handshake's server span (HandshakeTrace in transport/telemetry.ts). */
class HandshakeSpan {
  readonly context: TraceContext;

  constructor(private readonly span: Span) {
    this.context = spanTraceContext(span);
  }

  refused(status: number, type: ErrorType, code: string): void {
    this.span.setAttribute('http.response.status_code', status);
    markError(this.span, type, code);
    this.span.end();
  }

  accepted(attributes: Record<string, string | number>): void {
    this.span.setAttributes(attributes);
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
  constructor(private readonly tracer: Tracer) {}

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
    ));
  }

  /** `sse.connect`: the stream request as a server span, continuing the client's trace when it sent `traceparent`. */
  streamConnect(req: IncomingMessage, ip: string, route: string): HandshakeSpan {
    const tp = headerValue(req.headers.traceparent);
    return new HandshakeSpan(this.tracer.startSpan(
      'sse.connect',
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? 'GET', 'http.route': route, 'client.address': ip } },
      tp ? extractContext(tp, headerValue(req.headers.tracestate)) : ROOT_CONTEXT,
    ));
  }
}

/** Tracing off: no handshake is traced. */
export const noHandshakeSpans = {
  upgrade: (): undefined => undefined,
  streamConnect: (): undefined => undefined,
};
