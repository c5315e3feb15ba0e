import type { TraceContext } from '../core/trace-context.js';
import type { Command } from '../protocol/index.js';

/** A connection as its telemetry sees it. Sessions implement it. */
export interface TracedConnection {
  readonly id: string;
  readonly userId: string;
  /** `websocket` or `sse`. */
  readonly transport: string;
  /** The connection's handshake span (`websocket.upgrade`, `sse.connect`), when tracing. */
  readonly traceContext: TraceContext | undefined;
}

/** One command being handled, as traced: what it causes is parented on `context`. */
export interface CommandTrace {
  readonly context: TraceContext;
  /** The command failed with this reply error code. */
  failed(code: string): void;
  /** Ends the command's trace with its outcome (`ok` or the error code). Called once, last. */
  end(outcome: string): void;
}

/**
 * Lifecycle edges of a connection, reported by its session (and by the node for `connected`), for spans. Counting
 * and logging stay with the session (plain counters, its logger); this port carries only what needs the tracer,
 * so session/ never imports it. Implemented in observability/ (spans) and as a no-op when tracing is off.
 */
export interface ConnectionTelemetry {
  /** The connection was registered with the node (`websocket.register_client`, `sse.add_client`). */
  connected(c: TracedConnection): void;
  /** A subscribe with a position: whether it resumed gap-free, how many it replays, else why not. */
  recovery(c: TracedConnection, channel: string, recovered: boolean, missed: number, reason: string | undefined): void;
  /** A command starts (`websocket.handle_message`); `dialect` is the vocabulary it came in (`native`, `seed000`, ...). Undefined when it is not traced. */
  command(c: TracedConnection, command: Command, dialect: string, size: number): CommandTrace | undefined;
  /** A frame that could not be read as a command, answered with `code`. */
  badFrame(c: TracedConnection, code: string): void;
  /** The connection ended with close `code` and `reason` after `durationMs`. */
  closed(c: TracedConnection, code: number, reason: string, durationMs: number): void;
}
