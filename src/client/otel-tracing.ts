/**
 * Client spans through the app's OpenTelemetry (the seed's client vocabulary): `websocket.connect`, `websocket.send`,
 * `websocket.receive`, `websocket.close`, `sse.connect`, `sse.receive`, `sse.read_error`. A receive span is a child
 * of the trace context the publication carries (the server's `event_stream.publish` span), so publisher, server
 * fan-out, socket writes and every receiving client form one trace. Built by `otelTracing(otel)`; pass it as the
 * clients' `tracing` option.
 */
import { ClientCodes } from './codes.js';
import { OptionError } from './errors.js';
import {
  formatTraceparent, parseTraceparent, SAMPLED, SpanKind, STATUS_ERROR,
  type Attributes, type OtelApi, type OtelContext, type SpanContextLike, type SpanLike, type TracerLike, type TracerProviderLike,
} from './otel-api.js';
import { ReceiveSampler } from './receive-sampler.js';
import type { ClientTracing, ConnectionTracing, TracedTransport } from './tracing.js';

export interface OtelTracingOptions {
  /** Where spans go. Default: the provider the app registered globally (`otel.trace.getTracer`). */
  tracerProvider?: TracerProviderLike;
  /** Instrumentation scope name. Default `switchboard-client`. */
  tracerName?: string;
  /**
   * Share of received publications that get a receive span, 0..1, decided by trace id (so all clients agree).
   * Publications the sender or server did not sample (`-00` flag) never get one. Default 1.
   */
  receiveSampleRate?: number;
  /** At most this many receive spans per second for all clients sharing this hook; 0: no cap. Default 10. */
  maxReceiveSpansPerSecond?: number;
}

/** Close codes that are a normal end, not an error (as on the server; 3000: `disconnect()`, 3007: SSE channels changed). */
const NORMAL_CLOSE = new Set<number>([1000, 1001, 1005, ClientCodes.DisconnectCalled, ClientCodes.ChannelsChanged]);

/** The `tracing` option for `createClient` / `createSseClient`: spans through `api` (`@opentelemetry/api`). */
export function otelTracing(api: OtelApi, options: OtelTracingOptions = {}): ClientTracing {
  if (typeof api?.trace?.getTracer !== 'function') throw new OptionError('otelTracing', 'pass the @opentelemetry/api module: otelTracing(otel)');
  const name = options.tracerName ?? 'switchboard-client';
  const tracer = (options.tracerProvider ?? api.trace).getTracer(name);
  const sampler = new ReceiveSampler(options.receiveSampleRate ?? 1, options.maxReceiveSpansPerSecond ?? 10);
  return { connection: (transport, url) => new OtelConnection(api, tracer, sampler, transport, url) };
}

const encoder = new TextEncoder();
const byteLength = (s: string) => encoder.encode(s).byteLength;

class OtelConnection implements ConnectionTracing {
  readonly traceparent: string | undefined;
  /** Open until `connected` or the attempt's end. */
  private connect: SpanLike | undefined;
  /** The connect span: later spans of this connection link to it (a connection is not one endless trace). */
  private readonly links: { context: SpanContextLike }[];
  private clientId: string | undefined;
  private connectedAt = 0;
  private error: Error | undefined;

  constructor(
    private readonly api: OtelApi,
    private readonly tracer: TracerLike,
    private readonly sampler: ReceiveSampler,
    private readonly transport: TracedTransport,
    url: string,
  ) {
    const attributes: Attributes = { [transport === 'websocket' ? 'ws.url' : 'sse.url']: publicUrl(url) };
    this.connect = tracer.startSpan(`${transport}.connect`, { kind: SpanKind.CLIENT, attributes }, api.context.active());
    const sc = this.connect.spanContext();
    this.links = [{ context: sc }];
    this.traceparent = formatTraceparent(sc);
  }

  connected(client: string, user: string): void {
    const span = this.connect;
    if (!span) return;
    this.connect = undefined;
    this.clientId = client;
    this.connectedAt = Date.now();
    // A WebSocket that opened was upgraded (101); an SSE stream that says `connected` was a 200.
    span.setAttributes({ 'http.status_code': this.transport === 'websocket' ? 101 : 200, 'client.id': client, 'user.id': user });
    span.addEvent('connected');
    span.end();
  }

  sent(method: string, frame: string, traceparent: string | undefined): void {
    const remote = parseTraceparent(this.api, traceparent, undefined);
    const active = this.api.context.active();
    const parent = remote ? this.api.trace.setSpanContext(active, remote) : active;
    const span = this.tracer.startSpan(`${this.transport}.send`, { attributes: { 'message.type': method, 'message.size': byteLength(frame), 'client.id': this.clientId }, links: this.links }, parent);
    span.end();
  }

  received(push: Record<string, unknown>, frame: string, deliver: () => void): void {
    const remote = parseTraceparent(this.api, push.traceparent, push.tracestate);
    // Not sampled upstream, or not picked here: no span, but listeners still run in the carried context, so spans
    // the app starts there continue the publication's trace (and follow its sampling decision).
    if ((remote && (remote.traceFlags & SAMPLED) === 0) || !this.sampler.take(remote?.traceId)) {
      if (!remote) return deliver();
      return void this.api.context.with(this.api.trace.setSpanContext(this.api.context.active(), remote), deliver);
    }
    const active = this.api.context.active();
    const parent: OtelContext = remote ? this.api.trace.setSpanContext(active, remote) : active;
    const span = this.tracer.startSpan(`${this.transport}.receive`, { kind: SpanKind.CONSUMER, attributes: this.receiveAttributes(push, frame), links: this.links }, parent);
    try {
      this.api.context.with(this.api.trace.setSpan(parent, span), deliver);
    } catch (err) {
      span.recordException(err instanceof Error ? err : new Error(String(err)));
      span.setStatus({ code: STATUS_ERROR, message: 'a listener threw' });
      throw err;
    } finally {
      span.end();
    }
  }

  failed(error: Error): void {
    if (this.connect || this.transport === 'websocket') {
      this.error = error;
      return;
    }
    // SSE, connected: the stream broke while reading.
    const span = this.tracer.startSpan('sse.read_error', { attributes: { 'client.id': this.clientId, 'error.type': errorCode(error) }, links: this.links }, this.api.context.active());
    span.recordException(error);
    span.setStatus({ code: STATUS_ERROR, message: error.message });
    span.end();
  }

  closed(code: number, reason: string): void {
    const connect = this.connect;
    if (connect) {
      this.connect = undefined;
      connect.setAttribute(`${this.transport === 'websocket' ? 'websocket' : 'sse'}.close.code`, code);
      // 3009: the server refused with this HTTP status (reason "HTTP <status>").
      if (code === ClientCodes.HttpError) connect.setAttribute('http.status_code', Number(reason.slice(5)));
      if (!NORMAL_CLOSE.has(code)) this.fail(connect, this.error ?? new Error(`${code} ${reason}`), 'connection failed');
      connect.end();
      return;
    }
    if (this.transport !== 'websocket') return;
    const span = this.tracer.startSpan('websocket.close', {
      attributes: {
        'client.id': this.clientId,
        'websocket.close.code': code,
        'websocket.close.reason': reason,
        'connection.duration_s': (Date.now() - this.connectedAt) / 1000,
      },
      links: this.links,
    }, this.api.context.active());
    if (!NORMAL_CLOSE.has(code)) this.fail(span, this.error ?? new Error(`${code} ${reason}`), `closed with ${code}`);
    span.addEvent('closed');
    span.end();
  }

  private fail(span: SpanLike, error: Error, message: string): void {
    span.recordException(error);
    span.setStatus({ code: STATUS_ERROR, message });
    span.setAttribute('error.type', errorCode(error));
  }

  private receiveAttributes(push: Record<string, unknown>, frame: string): Attributes {
    const a: Attributes = {
      'messaging.system': 'switchboard',
      'messaging.operation.type': 'receive',
      'event.type': typeof push.type === 'string' ? push.type : undefined,
      'client.id': this.clientId,
    };
    if (typeof push.channel === 'string') {
      a['messaging.destination.name'] = push.channel;
      a['messaging.message.id'] = `${String(push.epoch)}:${String(push.offset)}`;
    }
    // The seed's names: the frame's size on WebSocket, the event's data size on SSE (bytes, UTF-8).
    if (this.transport === 'websocket') {
      a['message.type'] = String(push.push);
      a['message.size'] = byteLength(frame);
    } else {
      a['data.size'] = byteLength(frame);
    }
    return a;
  }
}

/** The URL without query, fragment or credentials: tokens and user parameters stay out of spans. */
function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
}

function errorCode(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name;
}
