import { metrics as metricsApi, trace, type Histogram, type Meter, type Tracer } from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counters } from './counters.js';

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

export const INSTRUMENTATION_SCOPE = 'switchboard';

/** Histogram buckets: seconds from 100 µs to 10 s; recipients from 1 to 100k. */
const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FANOUT_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000];

export function createHistograms(meter: Meter): TelemetryHistograms {
  return {
    fanoutSize: meter.createHistogram('switchboard.fanout.size', {
      description: 'Local recipients of one publication on this node',
      unit: '{recipient}',
      advice: { explicitBucketBoundaries: FANOUT_BUCKETS },
    }),
    publishToWrite: meter.createHistogram('switchboard.publish_to_write.duration', {
      description: 'Time from a publication being accepted to its bytes being written to every local subscriber socket',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    brokerDuration: meter.createHistogram('switchboard.broker.duration', {
      description: 'Duration of broker operations (round trip to Redis, or in-process for the memory broker)',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    apiDuration: meter.createHistogram('switchboard.api.request.duration', {
      description: 'Duration of server API requests',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
  };
}

/** Telemetry that records nothing: for embedders and tests that want none. */
export function noopTelemetry(): Telemetry {
  return {
    counters: new Counters(),
    tracer: trace.getTracer(INSTRUMENTATION_SCOPE),
    tracing: false,
    writeSampleRate: 0,
    histograms: createHistograms(metricsApi.getMeter(INSTRUMENTATION_SCOPE)),
    metricsHandler: undefined,
    shutdown: async () => {},
  };
}
