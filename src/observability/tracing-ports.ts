import { ConnectionSpans, noConnectionSpans } from './connection-spans.js';
import { HandshakeSpans, noHandshakeSpans } from './handshake-spans.js';
import { PublishSpans } from './publish-spans.js';
import { noPublishTracing, type PublishTracing } from './publish-tracing.js';
import type { Telemetry } from './telemetry.js';

/**
 * The spans behind each layer's tracing port: the node's publications (PublishTracing), connections
 * (session/connection-telemetry.ts) and handshakes (transport/telemetry.ts). With tracing off, no-op forms that
 * allocate nothing, so call sites need not test `telemetry.tracing` themselves.
 */
export function createTracingPorts(tel: Telemetry) {
  if (!tel.tracing) return { publish: noPublishTracing, connections: noConnectionSpans, handshakes: noHandshakeSpans };
  const publish: PublishTracing = new PublishSpans(tel);
  return { publish, connections: new ConnectionSpans(tel.tracer), handshakes: new HandshakeSpans(tel.tracer) };
}
