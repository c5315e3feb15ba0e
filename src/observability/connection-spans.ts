import { ROOT_CONTEXT, SpanKind, trace, type Link, type Span, type Tracer } from '@opentelemetry/api';
import type { TraceContext } from '../core/trace-context.js';
import type { Command } from '../protocol/index.js';
import { errorTypeOf, isNormalClose, markError } from './spans.js';
import { otelContextOf, spanTraceContext } from './trace-context.js';
import { extractContext } from './tracing.js';

/**
 * A connection as its spans need it. Declared here rather than imported from session/ (which defines the
 * ConnectionTelemetry port this class implements), so observability/ does not depend on the layer above it; the
 * node, which wires them, checks that the shapes match.
 */
interface Conn {
  readonly id: string;
  readonly userId: string;
  readonly transport: string;
  readonly traceContext: TraceContext | undefined;
}

/** A command's `websocket.handle_message` span. */
class CommandSpan {
  readonly context: TraceContext;

  constructor(private readonly span: Span) {
    this.context = spanTraceContext(span);
  }

  failed(code: string): void {
    markError(this.span, errorTypeOf(code), code);
  }

  end(outcome: string): void {
    this.span.setAttribute('outcome', outcome);
    this.span.end();
  }
}

/** The link from a span of a long connection to the connection's own span (a new trace, not a child of it). */
function linkTo(c: Conn): Link[] {
  const link = trace.getSpanContext(otelContextOf(c.traceContext));
  return link ? [{ context: link }] : [];
}

/** Connection lifecycle spans (ConnectionTelemetry in session/connection-telemetry.ts), tracing on. */
export class ConnectionSpans {
  constructor(private readonly tracer: Tracer) {}

  connected(c: Conn): void {
    // Only a connection with a handshake span gets one (always, when tracing is on).
    if (c.traceContext === undefined) return;
    const name = c.transport === 'sse' ? 'sse.add_client' : 'websocket.register_client';
    this.tracer.startSpan(name, { attributes: { 'client.id': c.id, 'user.id': c.userId } }, otelContextOf(c.traceContext)).end();
  }

  recovery(c: Conn, channel: string, recovered: boolean, missed: number, reason: string | undefined): void {
    const span = this.tracer.startSpan('subscription.recover', {
      attributes: { 'messaging.destination.name': channel, 'client.id': c.id, recovered, missed: recovered ? missed : 0, ...(reason ? { reason } : {}) },
    }, otelContextOf(c.traceContext));
    if (!recovered) markError(span, 'business', reason!);
    span.end();
  }

  /**
   * `websocket.handle_message` for one command: a child of the trace the client sent with it (publish may carry a
   * `traceparent`), else a new trace linked to the connection's span (a long connection is not one huge trace).
   */
  command(c: Conn, command: Command, dialect: string, size: number): CommandSpan {
    const p = command.method === 'publish' ? command.params : undefined;
    const parent = p?.traceparent ? extractContext(p.traceparent, p.tracestate) : ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      'websocket.handle_message',
      {
        kind: SpanKind.SERVER,
        attributes: {
          'client.id': c.id,
          'user.id': c.userId,
          'message.type': command.method,
          'message.size': size,
          ...(dialect === 'native' ? {} : { 'message.dialect': dialect }),
          ...('channel' in command.params ? { 'messaging.destination.name': command.params.channel } : {}),
        },
        links: p?.traceparent ? [] : linkTo(c),
      },
      parent,
    );
    return new CommandSpan(span);
  }

  badFrame(c: Conn, code: string): void {
    const span = this.tracer.startSpan('websocket.handle_message', {
      kind: SpanKind.SERVER,
      attributes: { 'client.id': c.id, 'user.id': c.userId, outcome: code },
      links: linkTo(c),
    });
    markError(span, 'protocol', code);
    span.end();
  }

  closed(c: Conn, code: number, reason: string, durationMs: number): void {
    const span = this.tracer.startSpan(c.transport === 'sse' ? 'sse.remove_client' : 'websocket.unregister_client', {
      attributes: {
        'client.id': c.id,
        'user.id': c.userId,
        'connection.duration_s': durationMs / 1000,
        'websocket.close.code': code,
        'websocket.close.reason': reason,
      },
      links: linkTo(c),
    });
    if (!isNormalClose(code)) markError(span, 'connection', String(code), reason || undefined);
    span.end();
  }
}

/** Tracing off: no span, and `command` says so (undefined) so the session passes no parent on. */
export const noConnectionSpans = {
  connected(): void {},
  recovery(): void {},
  command(): undefined {
    return undefined;
  },
  badFrame(): void {},
  closed(): void {},
};
