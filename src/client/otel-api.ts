/**
 * The parts of `@opentelemetry/api` the SDK's OpenTelemetry entry uses, declared structurally so that entry imports
 * nothing: the app passes its own `import * as otel from '@opentelemetry/api'` (any 1.x), and the spans go to whatever
 * tracer provider the app registered (Node or web SDK). Also W3C `traceparent` parsing and formatting.
 */
import { TRACEPARENT_PATTERN } from '../protocol/names.js';

/** An OpenTelemetry `Context`; only the API looks inside. */
export type OtelContext = unknown;

export interface SpanContextLike {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: { serialize(): string };
}

/** As the API declares it (arrays included), so the API's own types fit these in both directions. */
export type AttributeValue =
  | string | number | boolean
  | Array<null | undefined | string> | Array<null | undefined | number> | Array<null | undefined | boolean>;
export type Attributes = Record<string, AttributeValue | undefined>;

export interface SpanLike {
  spanContext(): SpanContextLike;
  setAttribute(key: string, value: AttributeValue): unknown;
  setAttributes(attributes: Attributes): unknown;
  addEvent(name: string, attributes?: Attributes): unknown;
  recordException(exception: Error): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  isRecording(): boolean;
  end(): void;
}

export interface SpanOptionsLike {
  kind?: number;
  attributes?: Attributes;
  links?: { context: SpanContextLike }[];
}

export interface TracerLike {
  startSpan(name: string, options?: SpanOptionsLike, context?: OtelContext): SpanLike;
}

export interface TracerProviderLike {
  getTracer(name: string, version?: string): TracerLike;
}

export interface OtelApi {
  context: {
    active(): OtelContext;
    /** Runs `fn` with `context` active (only the no-argument form is used). */
    with(context: OtelContext, fn: () => void): unknown;
  };
  trace: {
    getTracer(name: string, version?: string): TracerLike;
    getSpanContext(context: OtelContext): SpanContextLike | undefined;
    setSpanContext(context: OtelContext, spanContext: SpanContextLike): OtelContext;
    setSpan(context: OtelContext, span: SpanLike): OtelContext;
  };
  createTraceState?(raw?: string): { serialize(): string };
}

/** `SpanKind` and `SpanStatusCode` values of the API (stable since 1.0). */
export const SpanKind = { INTERNAL: 0, CLIENT: 2, CONSUMER: 4 } as const;
export const STATUS_ERROR = 2;
/** The sampled bit of W3C trace flags. */
export const SAMPLED = 1;

const ZEROS = /^0+$/;

/** A remote span context from a W3C `traceparent` (and `tracestate`); undefined when absent or not valid. */
export function parseTraceparent(api: OtelApi, traceparent: unknown, tracestate: unknown): SpanContextLike | undefined {
  if (typeof traceparent !== 'string' || !TRACEPARENT_PATTERN.test(traceparent)) return undefined;
  const [, traceId, spanId, flags] = traceparent.split('-') as [string, string, string, string];
  if (ZEROS.test(traceId) || ZEROS.test(spanId)) return undefined;
  const sc: SpanContextLike = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
  if (typeof tracestate === 'string' && tracestate !== '' && api.createTraceState) sc.traceState = api.createTraceState(tracestate);
  return sc;
}

/** `00-<trace id>-<span id>-<flags>`; undefined for the invalid (all-zero) context of a no-op tracer. */
export function formatTraceparent(sc: SpanContextLike): string | undefined {
  if (ZEROS.test(sc.traceId) || ZEROS.test(sc.spanId)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
