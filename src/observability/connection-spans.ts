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

/**
 * What a frame is, for its command span (FrameInfo in session/dialects/dialect.ts, declared here for the same
 * reason as Conn).
 */
interface Frame {
  readonly kind: 'command' | 'room_join' | 'room_leave' | 'room_send' | 'hub_message';
  readonly type: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/**
 * The command span's name by frame kind. A frame is one operation and gets one span: native commands (and seed
 * 000's ping) keep `websocket.handle_message`; the legacy chat frames take the seeds' names for the same operation
 * (seed 000's chat_room, seed 002's hub), so they are not a second span around the first (docs/operations.md).
 */
const COMMAND_SPAN: Readonly<Record<Frame['kind'], string>> = {
  command: 'websocket.handle_message',
  room_join: 'chat_room.join',
  room_leave: 'chat_room.leave',
  room_send: 'chat_room.send',
  hub_message: 'hub.process_message',
};

/** A subscribe's or unsubscribe's span (`event_stream.subscribe` / `event_stream.unsubscribe`). */
class ChannelSpan {
  constructor(private readonly span: Span) {}

  failed(code: string): void {
    markError(this.span, errorTypeOf(code), code);
    this.span.end();
  }

  end(subscribers: number): void {
    this.span.setAttribute('subscribers.count', subscribers);
    this.span.end();
  }
}

/** A command's span (`websocket.handle_message`, or a legacy frame's seed name). */
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
  constructor(
    private readonly tracer: Tracer,
    /** This node's connections now (`clients.total`). */
    private readonly clientsTotal: () => number,
  ) {}

  connected(c: Conn): void {
    // Only a connection with a handshake span gets one (always, when tracing is on).
    if (c.traceContext === undefined) return;
    const name = c.transport === 'sse' ? 'sse.add_client' : 'websocket.register_client';
    const span = this.tracer.startSpan(name, { attributes: { 'client.id': c.id, 'user.id': c.userId, 'clients.total': this.clientsTotal() } }, otelContextOf(c.traceContext));
    span.addEvent('client_registered');
    span.end();
  }

  channel(c: Conn, op: 'subscribe' | 'unsubscribe', channel: string, parent: TraceContext | undefined): ChannelSpan | undefined {
    if (parent === undefined) return undefined;
    const span = this.tracer.startSpan(`event_stream.${op}`, {
      attributes: { 'messaging.destination.name': channel, 'stream.id': channel, 'client.id': c.id },
    }, otelContextOf(parent));
    return new ChannelSpan(span);
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
  command(c: Conn, command: Command, dialect: string, size: number, frame: Frame): CommandSpan {
    // The trace the frame carried: a seed client's trace fields, or a native publish's / send's `traceparent`.
    const p = command.method === 'publish' || command.method === 'send' ? command.params : undefined;
    const tp = frame.traceparent ?? p?.traceparent;
    const parent = tp ? extractContext(tp, frame.traceparent ? frame.tracestate : p?.tracestate) : ROOT_CONTEXT;
    const room = frame.kind === 'room_join' || frame.kind === 'room_leave' || frame.kind === 'room_send';
    const span = this.tracer.startSpan(
      COMMAND_SPAN[frame.kind],
      {
        kind: SpanKind.SERVER,
        attributes: {
          'client.id': c.id,
          'user.id': c.userId,
          'message.type': command.method,
          'message.size': size,
          'event.type': frame.type,
          ...(dialect === 'native' ? {} : { 'message.dialect': dialect }),
          ...('channel' in command.params ? { 'messaging.destination.name': command.params.channel } : {}),
          ...(room && 'channel' in command.params ? { 'room.id': command.params.channel } : {}),
        },
        links: tp ? [] : linkTo(c),
      },
      parent,
    );
    span.addEvent('message_received');
    return new CommandSpan(span);
  }

  badFrame(c: Conn, code: string): void {
    const span = this.tracer.startSpan('websocket.handle_message', {
      kind: SpanKind.SERVER,
      attributes: { 'client.id': c.id, 'user.id': c.userId, outcome: code },
      links: linkTo(c),
    });
    // Seed 000's event for a frame whose action (method, type) the server does not know.
    if (code === 'unknown_method') span.addEvent('unknown_action');
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
        'clients.total': this.clientsTotal(),
      },
      links: linkTo(c),
    });
    span.addEvent(c.transport === 'sse' ? 'client_disconnected' : 'client_unregistered');
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
  channel(): undefined {
    return undefined;
  },
  badFrame(): void {},
  closed(): void {},
};
