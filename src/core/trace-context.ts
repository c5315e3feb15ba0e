/**
 * Where a span sits in a trace: what a connection's or a command's later spans are parented on or linked to. Below
 * observability/ it is opaque; layers only carry it from where it was made (a handshake, a command, an API request)
 * to the node operation it parents. observability/ makes it (wrapping an OpenTelemetry context) and reads it back.
 */
export interface TraceContext {
  /** The W3C `traceparent` of that span; undefined when it is not sampled or not valid (tracing off). */
  readonly traceparent: string | undefined;
  /** Its W3C `tracestate`; undefined when empty. */
  readonly tracestate: string | undefined;
}
