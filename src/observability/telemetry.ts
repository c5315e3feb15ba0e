import { metrics as metricsApi, type Histogram, type Meter, type Tracer } from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Counters } from './counters.js';
import { createMetrics, type MetricGauges } from './metrics.js';
import { createTracing, INSTRUMENTATION_SCOPE } from './tracing.js';

/**
 * Everything the rest of the server uses to be observed: plain counters, a tracer (a no-op one when tracing is
 * off, so spans cost nothing), and the few histograms recorded per publication or per request (never per delivery).
 */
export interface Telemetry {
  readonly counters: Counters;
  readonly tracer: Tracer;
  /** True when spans are exported; call sites skip span work entirely when false. */
  readonly tracing: boolean;
  /** Fraction (0..1) of deliveries whose socket write gets its own span (config `tracing.writeSampleRate`). */
  readonly writeSampleRate: number;
  /** Most write spans per publication per node, 0 for no limit (config `tracing.maxWriteSpans`). */
  readonly maxWriteSpans: number;
  readonly histograms: TelemetryHistograms;
  /** Serves `GET /metrics` (Prometheus text); undefined when metrics are off. */
  readonly metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  shutdown(): Promise<void>;
}

export interface TelemetryHistograms {
  /** Local recipients per publication (`switchboard.fanout.size`). */
  readonly fanoutSize: Histogram;
  /** Seconds from a publication's acceptance to its bytes being written to every local socket (`switchboard.publish_to_write.duration`). */
  readonly publishToWrite: Histogram;
  /** Seconds per broker operation, attribute `operation` (`switchboard.broker.duration`). */
  readonly brokerDuration: Histogram;
  /** Seconds per server API request, attributes `http.request.method`, `http.route`, `http.response.status_code` (`switchboard.api.request.duration`). */
  readonly apiDuration: Histogram;
}

/** Histogram buckets: seconds from 100 µs to 10 s; recipients from 1 to 100k. */
const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FANOUT_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000];

export function createHistograms(meter: Meter): TelemetryHistograms {
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });
  return {
    fanoutSize: meter.createHistogram('switchboard.fanout.size', {
      description: 'Local recipients of one publication on this node',
      unit: '{recipient}',
      advice: { explicitBucketBoundaries: FANOUT_BUCKETS },
    }),
    publishToWrite: seconds(
      'switchboard.publish_to_write.duration',
      'Time from a publication being accepted to its bytes being written to every local subscriber socket',
    ),
    brokerDuration: seconds('switchboard.broker.duration', 'Duration of broker operations (round trip to Redis, or in-process for the memory broker)'),
    apiDuration: seconds('switchboard.api.request.duration', 'Duration of server API requests'),
  };
}

export interface TelemetryOptions {
  /** `tracing.writeSampleRate`, `metrics.enabled`. */
  config: { readonly tracing: { readonly writeSampleRate: number; readonly maxWriteSpans: number }; readonly metrics: { readonly enabled: boolean } };
  /** Where the standard OTEL_* variables are read from (normally `process.env`). */
  env: Record<string, string | undefined>;
  serviceVersion: string;
  nodeId: string;
  /** Extra span processors (tests); when given, tracing is on. */
  spanProcessors?: SpanProcessor[];
  /** Gauges read on each metrics collection (the node's hub and broker); undefined until the node exists. */
  gauges: () => MetricGauges | undefined;
}

/** Builds tracing (from OTEL_* env), metrics (Prometheus `/metrics` and optional OTLP push) and the shared counters. */
export function createTelemetry(opts: TelemetryOptions): Telemetry {
  const counters = new Counters();
  const tracing = createTracing({ env: opts.env, serviceName: 'switchboard', serviceVersion: opts.serviceVersion, nodeId: opts.nodeId, spanProcessors: opts.spanProcessors });
  const metrics = opts.config.metrics.enabled
    ? createMetrics({
        env: opts.env,
        serviceName: 'switchboard',
        serviceVersion: opts.serviceVersion,
        nodeId: opts.nodeId,
        sources: () => {
          const gauges = opts.gauges();
          return gauges ? { counters, gauges: () => gauges } : undefined;
        },
      })
    : undefined;
  let stopped: Promise<void> | undefined;
  return {
    counters,
    tracer: tracing.tracer,
    tracing: tracing.enabled,
    writeSampleRate: opts.config.tracing.writeSampleRate,
    maxWriteSpans: opts.config.tracing.maxWriteSpans,
    histograms: createHistograms(metrics?.meter ?? metricsApi.getMeter(INSTRUMENTATION_SCOPE)),
    metricsHandler: metrics ? (req, res) => metrics.handler(req, res) : undefined,
    shutdown: () => (stopped ??= Promise.all([tracing.shutdown(), metrics?.shutdown()]).then(() => undefined)),
  };
}
