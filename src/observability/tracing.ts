import { ROOT_CONTEXT, isSpanContextValid, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type BufferConfig,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ConfigError, problem } from '../config/errors.js';
import { parsePositiveInt } from '../core/positive-int.js';

/** The name our tracers and meters report as their instrumentation scope. */
export const INSTRUMENTATION_SCOPE = 'switchboard';

/**
 * Tracing from the standard OTEL_* environment variables, read from an env object passed in (not process.env, so
 * several servers with different settings can run in one process). Nothing is registered globally: no global
 * tracer provider, propagator or context manager. Call sites pass parent contexts explicitly.
 */
export interface TracingRuntime {
  /** The provider's tracer when enabled; the API's no-op tracer (no provider registered) when not. */
  readonly tracer: Tracer;
  readonly enabled: boolean;
  readonly provider?: NodeTracerProvider;
  /** What was resolved from the env (exporter, endpoint, sampler...), for a startup log line. Headers are not included. */
  readonly settings: TracingSettings;
  /** Exports what is buffered, then stops the exporters. Idempotent. */
  shutdown(): Promise<void>;
  /** Exports what is buffered now (tests; before a planned exit). */
  forceFlush(): Promise<void>;
}

export interface CreateTracingOptions {
  env: Record<string, string | undefined>;
  serviceName: string;
  serviceVersion: string;
  /** Becomes `service.instance.id`, so spans match the node id in logs and `/api/stats`. */
  nodeId: string;
  /** Extra processors (tests: `new SimpleSpanProcessor(new InMemorySpanExporter())`). When given, tracing is on. */
  spanProcessors?: SpanProcessor[];
}

export type TraceExporterName = 'otlp' | 'console';
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The tracing configuration resolved from the env, before anything is constructed. */
export interface TracingSettings {
  readonly enabled: boolean;
  /** Exporters built from the env (empty when only `spanProcessors` were given, or when off). */
  readonly exporters: readonly TraceExporterName[];
  readonly otlp?: {
    readonly protocol: OtlpProtocol;
    /** Full URL spans are POSTed to, e.g. `http://collector:4318/v1/traces`. */
    readonly url: string;
    readonly headers: Readonly<Record<string, string>>;
    /** `OTEL_EXPORTER_OTLP(_TRACES)_TIMEOUT`, ms; undefined: the exporter's default (10 s). */
    readonly timeoutMillis?: number;
    readonly compression?: 'gzip' | 'none';
  };
  /** e.g. `parentbased_always_on`, `traceidratio(0.1)`. */
  readonly sampler: string;
  /** `OTEL_BSP_*` values given in the env; unset ones keep the SDK defaults (queue 2048, batch 512, delay 5 s, timeout 30 s). */
  readonly batch: BufferConfig;
  /** Resource attributes from OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME merged with the code's own. */
  readonly resource: Readonly<Record<string, string>>;
}

/**
 * A tracing env variable with a value that cannot be used; thrown at startup, never later. A ConfigError, so the
 * CLI prints it without a stack and exits with code 2 like any other configuration mistake.
 */
export class TracingConfigError extends ConfigError {
  constructor(
    /** The environment variable at fault. */
    readonly variable: string,
    what: string,
    fix: string,
  ) {
    super([problem(`env ${variable}`, variable, 'environment', what, fix)]);
  }
}

/** Default OTLP/HTTP endpoint (a collector on this host) when `OTEL_TRACES_EXPORTER=otlp` names no endpoint. */
const DEFAULT_OTLP_BASE = 'http://localhost:4318';

/**
 * Reads the tracing env. Tracing is on when an OTLP endpoint is set or `OTEL_TRACES_EXPORTER` names an exporter
 * (`none`: off), or when `extraProcessors` is true; `OTEL_SDK_DISABLED=true` forces it off. Throws
 * TracingConfigError for a value that cannot be honoured (grpc, an invalid URL, an unknown sampler...), but only
 * when tracing would be on: an off switch never fails startup.
 */
export function resolveTracingSettings(env: Record<string, string | undefined>, opts: { serviceName: string; serviceVersion: string; nodeId: string; extraProcessors?: boolean }): TracingSettings {
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const off = (): TracingSettings => ({ enabled: false, exporters: [], sampler: 'always_off', batch: {}, resource: {} });
  if (get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return off();

  const tracesEndpoint = get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseEndpoint = get('OTEL_EXPORTER_OTLP_ENDPOINT');
  let exporters: TraceExporterName[];
  const named = get('OTEL_TRACES_EXPORTER');
  if (named !== undefined) {
    const list = [...new Set(named.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''))];
    if (list.includes('none')) {
      if (list.length > 1) throw new TracingConfigError('OTEL_TRACES_EXPORTER', `"none" is combined with other exporters (${named})`, 'give either "none" (tracing off) or a list of exporters (otlp, console)');
      exporters = [];
    } else {
      for (const e of list) {
        if (e !== 'otlp' && e !== 'console') {
          throw new TracingConfigError('OTEL_TRACES_EXPORTER', `exporter "${e}" is not supported`, 'use otlp (OTLP over HTTP; send to a collector for Jaeger, Zipkin and others), console, or none');
        }
      }
      exporters = list as TraceExporterName[];
    }
  } else {
    exporters = tracesEndpoint !== undefined || baseEndpoint !== undefined ? ['otlp'] : [];
  }
  if (exporters.length === 0 && !opts.extraProcessors) return off();

  let otlp: TracingSettings['otlp'];
  if (exporters.includes('otlp')) {
    const protocolVar = get('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    const protocol = (get(protocolVar) ?? 'http/protobuf').toLowerCase();
    if (protocol === 'grpc') {
      throw new TracingConfigError(protocolVar, 'grpc is not supported: Switchboard exports traces with OTLP over HTTP only', 'set it to http/protobuf (the default) or http/json, and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector\'s OTLP/HTTP port (usually 4318, not the gRPC port 4317)');
    }
    if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
      throw new TracingConfigError(protocolVar, `unknown protocol "${protocol}"`, 'use http/protobuf (the default) or http/json');
    }
    let url: string;
    let urlVar: string;
    if (tracesEndpoint !== undefined) {
      // The signal-specific endpoint is used as given (spec): no /v1/traces appended.
      url = tracesEndpoint;
      urlVar = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
    } else {
      const base = baseEndpoint ?? DEFAULT_OTLP_BASE;
      url = base.endsWith('/') ? `${base}v1/traces` : `${base}/v1/traces`;
      urlVar = 'OTEL_EXPORTER_OTLP_ENDPOINT';
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new TracingConfigError(urlVar, `"${url}" is not an http(s) URL`, 'give the collector\'s OTLP/HTTP address, e.g. http://otel-collector:4318');
    }
    const headers = {
      ...parseKeyValueList(env, 'OTEL_EXPORTER_OTLP_HEADERS'),
      ...parseKeyValueList(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
    };
    const timeoutVar = get('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TIMEOUT';
    const timeoutMillis = positiveInt(env, timeoutVar);
    const compressionVar = get('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION' : 'OTEL_EXPORTER_OTLP_COMPRESSION';
    const compression = get(compressionVar)?.toLowerCase();
    if (compression !== undefined && compression !== 'gzip' && compression !== 'none') {
      throw new TracingConfigError(compressionVar, `unknown compression "${compression}"`, 'use gzip or none');
    }
    otlp = {
      protocol,
      url,
      headers,
      ...(timeoutMillis !== undefined ? { timeoutMillis } : {}),
      ...(compression !== undefined ? { compression } : {}),
    };
  }

  const batch: BufferConfig = {};
  const bsp = { OTEL_BSP_SCHEDULE_DELAY: 'scheduledDelayMillis', OTEL_BSP_EXPORT_TIMEOUT: 'exportTimeoutMillis', OTEL_BSP_MAX_QUEUE_SIZE: 'maxQueueSize', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'maxExportBatchSize' } as const;
  for (const [variable, key] of Object.entries(bsp)) {
    const v = positiveInt(env, variable);
    if (v !== undefined) batch[key] = v;
  }
  if (batch.maxExportBatchSize !== undefined && batch.maxExportBatchSize > (batch.maxQueueSize ?? 2048)) {
    throw new TracingConfigError('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', `${batch.maxExportBatchSize} is larger than the queue (${batch.maxQueueSize ?? 2048})`, 'make it at most OTEL_BSP_MAX_QUEUE_SIZE');
  }

  // Spec precedence, the same as the metrics resource (metrics.ts) so both signals name the same instance: the code's
  // service.name, version and node id, then OTEL_RESOURCE_ATTRIBUTES over those, then OTEL_SERVICE_NAME over all.
  const resource = resourceAttributesFromEnv(env, opts);

  return { enabled: true, exporters, ...(otlp ? { otlp } : {}), sampler: samplerSpec(env), batch, resource };
}

/**
 * Builds tracing from the env (see resolveTracingSettings). Off: the API's no-op tracer, no provider, no cost.
 * On: a NodeTracerProvider with the env's sampler and resource, a BatchSpanProcessor per exporter (bounded queue),
 * plus `spanProcessors`.
 */
export function createTracing(opts: CreateTracingOptions): TracingRuntime {
  const extra = opts.spanProcessors ?? [];
  const settings = resolveTracingSettings(opts.env, { ...opts, extraProcessors: extra.length > 0 });
  if (!settings.enabled) {
    return {
      tracer: trace.getTracer(INSTRUMENTATION_SCOPE, opts.serviceVersion),
      enabled: false,
      settings,
      shutdown: async () => {},
      forceFlush: async () => {},
    };
  }
  const processors: SpanProcessor[] = [...extra];
  for (const name of settings.exporters) processors.push(new BatchSpanProcessor(buildExporter(name, settings), settings.batch));
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes(settings.resource)),
    sampler: buildSampler(opts.env),
    spanProcessors: processors,
  });
  let stopped: Promise<void> | undefined;
  return {
    tracer: provider.getTracer(INSTRUMENTATION_SCOPE, opts.serviceVersion),
    enabled: true,
    provider,
    settings,
    shutdown: () => (stopped ??= provider.shutdown()),
    forceFlush: () => provider.forceFlush(),
  };
}

function buildExporter(name: TraceExporterName, settings: TracingSettings): SpanExporter {
  if (name === 'console') return new ConsoleSpanExporter();
  const o = settings.otlp!;
  type ExporterConfig = NonNullable<ConstructorParameters<typeof OtlpProtoExporter>[0]>;
  const config: ExporterConfig = { url: o.url, headers: { ...o.headers } };
  if (o.timeoutMillis !== undefined) config.timeoutMillis = o.timeoutMillis;
  // CompressionAlgorithm is a string enum ('gzip' | 'none') of a transitive package: the cast names its values.
  if (o.compression !== undefined) config.compression = o.compression as ExporterConfig['compression'];
  return o.protocol === 'http/json' ? new OtlpJsonExporter(config) : new OtlpProtoExporter(config);
}

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
type SamplerName = (typeof SAMPLERS)[number];

/** Validated sampler name and ratio. Default parentbased_always_on; a ratio defaults to 1 when no arg is given. */
function readSampler(env: Record<string, string | undefined>): { name: SamplerName; ratio: number } {
  const raw = (env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on').toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(raw)) {
    throw new TracingConfigError('OTEL_TRACES_SAMPLER', `unknown sampler "${raw}"`, `use one of ${SAMPLERS.join(', ')}`);
  }
  const name = raw as SamplerName;
  let ratio = 1;
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  // The arg only means something to the ratio samplers; the spec says to ignore it for the others.
  if (name.endsWith('traceidratio') && arg !== undefined && arg !== '') {
    ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      throw new TracingConfigError('OTEL_TRACES_SAMPLER_ARG', `"${arg}" is not a ratio between 0 and 1`, 'give the fraction of traces to keep, e.g. 0.1');
    }
  }
  return { name, ratio };
}

function samplerSpec(env: Record<string, string | undefined>): string {
  const { name, ratio } = readSampler(env);
  return name.endsWith('traceidratio') ? `${name}(${ratio})` : name;
}

function buildSampler(env: Record<string, string | undefined>): Sampler {
  const { name, ratio } = readSampler(env);
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/**
 * `k=v,k2=v2` with percent-encoded keys and values (W3C baggage style, as OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS use). A malformed entry rejects the whole variable, as the spec asks.
 */
/**
 * The resource both signals share (metrics.ts uses it too, so traces and metrics name the same instance): the
 * code's service.name, version and node id, then OTEL_RESOURCE_ATTRIBUTES over those, then OTEL_SERVICE_NAME over
 * all (spec precedence). A malformed OTEL_RESOURCE_ATTRIBUTES stops startup with the variable named.
 */
export function resourceAttributesFromEnv(
  env: Record<string, string | undefined>,
  opts: { serviceName: string; serviceVersion: string; nodeId: string },
): Record<string, string> {
  const resource: Record<string, string> = {
    'service.name': opts.serviceName,
    'service.version': opts.serviceVersion,
    'service.instance.id': opts.nodeId,
    ...parseKeyValueList(env, 'OTEL_RESOURCE_ATTRIBUTES'),
  };
  const serviceName = env.OTEL_SERVICE_NAME?.trim();
  if (serviceName) resource['service.name'] = serviceName;
  return resource;
}

export function parseKeyValueList(env: Record<string, string | undefined>, variable: string): Record<string, string> {
  const raw = env[variable];
  const out: Record<string, string> = {};
  if (raw === undefined || raw.trim() === '') return out;
  for (const entry of raw.split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(eq < 0 ? entry : entry.slice(0, eq)).trim();
      value = eq < 0 ? '' : decodeURIComponent(entry.slice(eq + 1)).trim();
    } catch {
      throw new TracingConfigError(variable, `"${entry.trim()}" has an invalid percent-encoding`, 'percent-encode reserved characters (",", "=", "%", spaces) as %XX');
    }
    if (eq < 0 || key === '') throw new TracingConfigError(variable, `"${entry.trim()}" is not key=value`, 'write a comma-separated list of key=value pairs');
    out[key] = value;
  }
  return out;
}

function positiveInt(env: Record<string, string | undefined>, variable: string): number | undefined {
  const n = parsePositiveInt(env[variable]);
  if (n === null) throw new TracingConfigError(variable, `"${env[variable]?.trim()}" is not a positive integer`, 'give a whole number (milliseconds for delays and timeouts)');
  return n;
}

// --- W3C trace context -------------------------------------------------------------------------------------------

const propagator = new W3CTraceContextPropagator();
const carrierGetter = {
  keys: (c: Record<string, string>) => Object.keys(c),
  get: (c: Record<string, string>, key: string) => c[key],
};
const carrierSetter = {
  set: (c: Record<string, string>, key: string, value: string) => {
    c[key] = value;
  },
};

/**
 * The context a `traceparent` (and `tracestate`) header names, to parent a span on; `base` (default: the root context)
 * when the header is absent or not valid W3C trace context.
 */
export function extractContext(traceparent?: string, tracestate?: string, base: Context = ROOT_CONTEXT): Context {
  if (traceparent === undefined || traceparent === '') return base;
  const carrier: Record<string, string> = { traceparent };
  if (tracestate !== undefined && tracestate !== '') carrier.tracestate = tracestate;
  return propagator.extract(base, carrier, carrierGetter);
}

/** W3C trace context of a span, for a publication's meta or a response header. Empty when the span has no valid context (tracing off). */
export function traceContextOf(span: Span): { traceparent?: string; tracestate?: string } {
  if (!isSpanContextValid(span.spanContext())) return {};
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, carrierSetter);
  return carrier;
}

/** `00-<trace id>-<span id>-<flags>` of a span; undefined when it has no valid context (tracing off). */
export function traceparentOf(span: Span): string | undefined {
  return traceContextOf(span).traceparent;
}

/** The span's `tracestate` header value; undefined when empty. */
export function tracestateOf(span: Span): string | undefined {
  return traceContextOf(span).tracestate;
}
