/**
 * The tracing hook (option `tracing`): both clients report a connection's edges to it, and the hook makes spans.
 * `otelTracing()` in `switchboard/client/otel` builds one from the app's `@opentelemetry/api`. Types only: the core
 * bundle carries no tracing code, and without the option each edge costs one `undefined` check.
 */

/** Which client reports. Span names start with it (`websocket.receive`, `sse.receive`, ...). */
export type TracedTransport = 'websocket' | 'sse';

export interface ClientTracing {
  /** A connection attempt starts (one per attempt, reconnects included). `url` is the `url` option as given. */
  connection(transport: TracedTransport, url: string): ConnectionTracing;
}

/** One connection attempt and, once connected, the connection. Calls after `closed` are not made. */
export interface ConnectionTracing {
  /** The attempt's W3C trace context, sent as the `traceparent` request header where the reader can (SSE over fetch). */
  readonly traceparent?: string;
  /** The server's `connected` arrived. */
  connected(client: string, user: string): void;
  /** A command frame was written to the socket (WebSocket). `traceparent`: the trace context the frame carries. */
  sent(method: string, frame: string, traceparent: string | undefined): void;
  /**
   * A `publication` or `message` push arrived (`frame`: its JSON text). The hook must call `deliver` exactly once,
   * synchronously: it hands the push to the app's listeners, inside the receive span.
   */
  received(push: Record<string, unknown>, frame: string, deliver: () => void): void;
  /** The transport failed: a refused upgrade or stream, or (SSE) reading the stream. `closed` follows. */
  failed(error: Error): void;
  /** The attempt or connection ended with this code (docs/client.md, "Disconnect codes"). */
  closed(code: number, reason: string): void;
}
