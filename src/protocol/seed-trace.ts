import { MAX_TRACESTATE_LENGTH } from './fields.js';
import { TRACEPARENT_PATTERN } from './names.js';

/** W3C trace context as carried in a frame. */
export interface CarriedTrace {
  readonly traceparent: string;
  readonly tracestate?: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * The trace context a seed client put in its frame (docs/protocol.md "Trace fields of seed frames"): seed 000's
 * `trace_flags` (a W3C carrier map: `traceparent`, optional `tracestate`) wins; else `trace_id` (32 hex) and
 * `span_id` (16 hex), as seed 000 and 002 send them, become a sampled `traceparent` (the seeds carry no flags
 * without the carrier). Fields that are absent or malformed give undefined: seed clients are not refused for them,
 * their frames simply start a new trace.
 */
export function seedTraceContext(frame: Record<string, unknown>): CarriedTrace | undefined {
  const carrier = frame.trace_flags;
  if (typeof carrier === 'object' && carrier !== null && !Array.isArray(carrier)) {
    const { traceparent, tracestate } = carrier as Record<string, unknown>;
    if (typeof traceparent === 'string' && TRACEPARENT_PATTERN.test(traceparent) && !traceparent.startsWith('ff')) {
      const ok = typeof tracestate === 'string' && tracestate.length > 0 && tracestate.length <= MAX_TRACESTATE_LENGTH;
      return ok ? { traceparent, tracestate } : { traceparent };
    }
  }
  const { trace_id: traceId, span_id: spanId } = frame;
  if (typeof traceId !== 'string' || typeof spanId !== 'string') return undefined;
  if (!TRACE_ID.test(traceId) || !SPAN_ID.test(spanId) || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceparent: `00-${traceId}-${spanId}-01` };
}
