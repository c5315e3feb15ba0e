/**
 * Tracing: the OTEL_* env rules of createTracing (no server), W3C trace context helpers, real OTLP/HTTP export to a
 * loopback receiver (protobuf and JSON), and the span tree of an instrumented server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes, randomUUID } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createTracing, extractContext, resolveTracingSettings, traceContextOf, traceparentOf, tracestateOf, TracingConfigError } from '../../src/observability/tracing.js';
import { createSwitchboard, VERSION, type Switchboard, nodeOf } from '../../src/server.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { rawSse } from '../helpers/sse-client.js';
import { Cleanup, waitFor, withTimeout, type Closable } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const ids = { serviceName: 'switchboard', serviceVersion: '9.9.9', nodeId: 'node-abc' };
const settings = (env: Record<string, string>, extraProcessors = false) => resolveTracingSettings(env, { ...ids, extraProcessors });
const inMemory = () => {
  const exporter = new InMemorySpanExporter();
  return { exporter, processor: new SimpleSpanProcessor(exporter) };
};
const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TP_UNSAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
/** Asserts a TracingConfigError naming this variable. */
const throwsFor = (variable: string, fn: () => unknown, fix?: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TracingConfigError, String(err));
    assert.equal(err.variable, variable);
    assert.ok(err instanceof ConfigError, 'the CLI reports it like any config error');
    assert.match(err.message, new RegExp(`^env ${variable} \\(from environment\\): .*\\. Fix: .*\\.$`));
    if (fix) assert.match(err.message, fix);
    return true;
  });

describe('tracing: env rules', () => {
  it('is off with no OTEL_* variables: the API no-op tracer, no provider, nothing recorded', () => {
    const t = createTracing({ env: {}, ...ids });
    assert.equal(t.enabled, false);
    assert.equal(t.provider, undefined);
    const span = t.tracer.startSpan('x');
    assert.equal(span.isRecording(), false);
    assert.deepEqual(traceContextOf(span), {});
    assert.equal(traceparentOf(span), undefined);
    span.end();
  });

  it('turns on with OTEL_EXPORTER_OTLP_ENDPOINT: OTLP over HTTP/protobuf to <endpoint>/v1/traces', () => {
    const s = settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
    assert.equal(s.enabled, true);
    assert.deepEqual(s.exporters, ['otlp']);
    assert.equal(s.otlp?.protocol, 'http/protobuf');
    assert.equal(s.otlp?.url, 'http://collector:4318/v1/traces');
    assert.equal(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/base/' }).otlp?.url, 'http://collector:4318/base/v1/traces');
  });

  it('uses OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, over the general endpoint', () => {
    const s = settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://x.example/custom/path', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
    assert.equal(s.enabled, true);
    assert.equal(s.otlp?.url, 'https://x.example/custom/path');
  });

  it('turns on when OTEL_TRACES_EXPORTER names an exporter; otlp without an endpoint goes to localhost:4318', () => {
    const otlp = settings({ OTEL_TRACES_EXPORTER: 'otlp' });
    assert.equal(otlp.enabled, true);
    assert.equal(otlp.otlp?.url, 'http://localhost:4318/v1/traces');
    const console = settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
    assert.deepEqual(console.exporters, ['console']);
    assert.equal(console.otlp, undefined);
    assert.deepEqual(settings({ OTEL_TRACES_EXPORTER: ' otlp , console ' }).exporters, ['otlp', 'console']);
  });

  it('is off with OTEL_TRACES_EXPORTER=none even when an endpoint is set', () => {
    assert.equal(settings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).enabled, false);
    assert.equal(createTracing({ env: { OTEL_TRACES_EXPORTER: 'NONE' }, ...ids }).enabled, false);
  });

  it('is forced off by OTEL_SDK_DISABLED=true, over endpoints and explicit span processors', () => {
    const env = { OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
    assert.equal(settings(env).enabled, false);
    const t = createTracing({ env, ...ids, spanProcessors: [inMemory().processor] });
    assert.equal(t.enabled, false);
    assert.equal(t.provider, undefined);
    // Any other value is not "true".
    assert.equal(settings({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'console' }).enabled, true);
  });

  it('is on with explicit span processors and no env, and records spans with the resource and scope', async () => {
    const { exporter, processor } = inMemory();
    const t = createTracing({ env: {}, ...ids, spanProcessors: [processor] });
    assert.equal(t.enabled, true);
    assert.ok(t.provider);
    assert.deepEqual(t.settings.exporters, []);
    t.tracer.startSpan('hello', { kind: SpanKind.SERVER, attributes: { a: 1 } }, ROOT_CONTEXT).end();
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.name, 'hello');
    assert.equal(span?.attributes.a, 1);
    assert.equal(span?.instrumentationScope.name, 'switchboard');
    assert.equal(span?.instrumentationScope.version, '9.9.9');
    assert.equal(span?.resource.attributes['service.name'], 'switchboard');
    assert.equal(span?.resource.attributes['service.version'], '9.9.9');
    assert.equal(span?.resource.attributes['service.instance.id'], 'node-abc');
    assert.equal(span?.resource.attributes['telemetry.sdk.language'], 'nodejs');
    await t.shutdown();
    await t.shutdown(); // idempotent
  });

  it('registers nothing globally: the API stays a no-op, and two runtimes do not see each other\'s spans', async () => {
    const a = inMemory();
    const b = inMemory();
    const ta = createTracing({ env: {}, ...ids, spanProcessors: [a.processor] });
    const tb = createTracing({ env: {}, ...ids, nodeId: 'node-b', spanProcessors: [b.processor] });
    assert.equal(trace.getTracer('anyone').startSpan('global').isRecording(), false);
    ta.tracer.startSpan('from-a').end();
    tb.tracer.startSpan('from-b').end();
    assert.deepEqual(a.exporter.getFinishedSpans().map((s) => s.name), ['from-a']);
    assert.deepEqual(b.exporter.getFinishedSpans().map((s) => s.name), ['from-b']);
    assert.equal(b.exporter.getFinishedSpans()[0]?.resource.attributes['service.instance.id'], 'node-b');
    await Promise.all([ta.shutdown(), tb.shutdown()]);
  });

  it('chooses OTLP/HTTP JSON with http/json; the traces-specific protocol wins over the general one', () => {
    assert.equal(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).otlp?.protocol, 'http/json');
    assert.equal(
      settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).otlp?.protocol,
      'http/protobuf',
    );
    assert.equal(
      settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }).otlp?.protocol,
      'http/json',
    );
  });

  it('refuses grpc with an error that names the variable and says to use OTLP/HTTP', () => {
    throwsFor('OTEL_EXPORTER_OTLP_PROTOCOL', () => createTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, ...ids }), /http\/protobuf.*4318/);
    throwsFor('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', () => settings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }));
    throwsFor('OTEL_EXPORTER_OTLP_PROTOCOL', () => settings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml' }));
    // Off is never an error: a fleet-wide grpc setting does not stop a server that does not trace.
    assert.equal(settings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).enabled, false);
    // Console only: the OTLP protocol is irrelevant.
    assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).enabled, true);
  });

  it('refuses unsupported exporters, "none" mixed with others, and endpoints that are not http(s) URLs', () => {
    throwsFor('OTEL_TRACES_EXPORTER', () => settings({ OTEL_TRACES_EXPORTER: 'zipkin' }), /collector/);
    throwsFor('OTEL_TRACES_EXPORTER', () => settings({ OTEL_TRACES_EXPORTER: 'otlp,none' }));
    throwsFor('OTEL_EXPORTER_OTLP_ENDPOINT', () => settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318x' }));
    throwsFor('OTEL_EXPORTER_OTLP_ENDPOINT', () => settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }));
    throwsFor('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', () => settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://c/v1/traces' }));
  });

  it('reads headers from OTEL_EXPORTER_OTLP_HEADERS and _TRACES_HEADERS (percent-decoded, traces-specific wins per key)', () => {
    const s = settings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc, x-tenant = t1,x-shared=general',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-shared=traces,x-eq=a%3Db%2Cc',
    });
    assert.deepEqual(s.otlp?.headers, { authorization: 'Bearer abc', 'x-tenant': 't1', 'x-shared': 'traces', 'x-eq': 'a=b,c' });
    throwsFor('OTEL_EXPORTER_OTLP_HEADERS', () => settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }));
    throwsFor('OTEL_EXPORTER_OTLP_HEADERS', () => settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'k=%E0%A4%A' }));
  });

  it('reads the exporter timeout, compression and the batch processor limits', () => {
    const s = settings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '3000',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BSP_MAX_QUEUE_SIZE: '1000',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100',
      OTEL_BSP_EXPORT_TIMEOUT: '5000',
    });
    assert.equal(s.otlp?.timeoutMillis, 3000);
    assert.equal(s.otlp?.compression, 'gzip');
    assert.deepEqual(s.batch, { scheduledDelayMillis: 100, maxQueueSize: 1000, maxExportBatchSize: 100, exportTimeoutMillis: 5000 });
    assert.deepEqual(settings({ OTEL_TRACES_EXPORTER: 'console' }).batch, {});
    throwsFor('OTEL_BSP_SCHEDULE_DELAY', () => settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_BSP_SCHEDULE_DELAY: '5s' }));
    throwsFor('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', () => settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' }));
    throwsFor('OTEL_EXPORTER_OTLP_COMPRESSION', () => settings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }));
  });

  it('builds the resource: node id as instance id, OTEL_RESOURCE_ATTRIBUTES (percent-decoded) over it, OTEL_SERVICE_NAME first', () => {
    const s = settings({
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=real%20time,service.name=from-attrs',
    });
    assert.deepEqual(s.resource, {
      'service.name': 'from-attrs',
      'deployment.environment.name': 'prod',
      team: 'real time',
      'service.version': '9.9.9',
      'service.instance.id': 'node-abc',
    });
    // Like the metrics resource: the env may name the instance (e.g. the pod), and both signals then agree.
    assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_RESOURCE_ATTRIBUTES: 'service.instance.id=pod-7' }).resource['service.instance.id'], 'pod-7');
    assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_SERVICE_NAME: 'sb-eu', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }).resource['service.name'], 'sb-eu');
    assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console' }).resource['service.name'], 'switchboard');
    // One bad entry rejects the variable (spec: discard the whole value), loudly.
    throwsFor('OTEL_RESOURCE_ATTRIBUTES', () => settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_RESOURCE_ATTRIBUTES: 'a=1,=2' }));
  });

  it('applies the resource to exported spans', async () => {
    const { exporter, processor } = inMemory();
    const t = createTracing({ env: { OTEL_SERVICE_NAME: 'sb-eu', OTEL_RESOURCE_ATTRIBUTES: 'region=eu%2Dwest' }, ...ids, spanProcessors: [processor] });
    t.tracer.startSpan('r').end();
    const attrs = exporter.getFinishedSpans()[0]!.resource.attributes;
    assert.equal(attrs['service.name'], 'sb-eu');
    assert.equal(attrs.region, 'eu-west');
    assert.equal(attrs['service.instance.id'], 'node-abc');
    await t.shutdown();
  });

  describe('sampler', () => {
    /** Whether a root span, a child of a sampled remote parent and a child of an unsampled one are recorded. */
    const decisions = async (env: Record<string, string>) => {
      const { exporter, processor } = inMemory();
      const t = createTracing({ env, ...ids, spanProcessors: [processor] });
      const root = t.tracer.startSpan('root', {}, ROOT_CONTEXT);
      const sampledParent = t.tracer.startSpan('child', {}, extractContext(TP));
      const unsampledParent = t.tracer.startSpan('child', {}, extractContext(TP_UNSAMPLED));
      const out = { root: root.isRecording(), sampledParent: sampledParent.isRecording(), unsampledParent: unsampledParent.isRecording() };
      for (const s of [root, sampledParent, unsampledParent]) s.end();
      assert.equal(exporter.getFinishedSpans().length, Object.values(out).filter(Boolean).length);
      await t.shutdown();
      return out;
    };

    it('defaults to parentbased_always_on: roots sampled, a remote parent\'s decision honoured', async () => {
      assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console' }).sampler, 'parentbased_always_on');
      assert.deepEqual(await decisions({}), { root: true, sampledParent: true, unsampledParent: false });
    });

    it('supports always_on, always_off, parentbased_always_off', async () => {
      assert.deepEqual(await decisions({ OTEL_TRACES_SAMPLER: 'always_on' }), { root: true, sampledParent: true, unsampledParent: true });
      assert.deepEqual(await decisions({ OTEL_TRACES_SAMPLER: 'always_off' }), { root: false, sampledParent: false, unsampledParent: false });
      assert.deepEqual(await decisions({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }), { root: false, sampledParent: true, unsampledParent: false });
    });

    it('supports traceidratio and parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG (default 1)', async () => {
      assert.deepEqual(await decisions({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }), { root: false, sampledParent: false, unsampledParent: false });
      assert.deepEqual(await decisions({ OTEL_TRACES_SAMPLER: 'traceidratio' }), { root: true, sampledParent: true, unsampledParent: true });
      assert.deepEqual(await decisions({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }), { root: false, sampledParent: true, unsampledParent: false });
      assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).sampler, 'parentbased_traceidratio(0.25)');
      // A ratio around one half keeps some roots and drops others.
      const { exporter, processor } = inMemory();
      const t = createTracing({ env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' }, ...ids, spanProcessors: [processor] });
      for (let i = 0; i < 400; i++) t.tracer.startSpan('r', {}, ROOT_CONTEXT).end();
      const kept = exporter.getFinishedSpans().length;
      assert.ok(kept > 100 && kept < 300, `kept ${kept} of 400`);
      await t.shutdown();
    });

    it('refuses unknown samplers and ratios outside 0..1, and ignores the arg for samplers without one', () => {
      throwsFor('OTEL_TRACES_SAMPLER', () => settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'jaeger_remote' }), /parentbased_always_on/);
      throwsFor('OTEL_TRACES_SAMPLER_ARG', () => settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }));
      throwsFor('OTEL_TRACES_SAMPLER_ARG', () => settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }));
      assert.equal(settings({ OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'half' }).sampler, 'always_on');
      assert.equal(settings({ OTEL_TRACES_SAMPLER: 'bogus' }).enabled, false);
    });
  });
});

describe('tracing: W3C trace context helpers', () => {
  let t: ReturnType<typeof createTracing>;
  let exporter: InMemorySpanExporter;
  before(() => {
    const m = inMemory();
    exporter = m.exporter;
    t = createTracing({ env: {}, ...ids, spanProcessors: [m.processor] });
  });
  after(() => t.shutdown());

  it('parents a span on an incoming traceparent and hands out the span\'s own traceparent and tracestate', () => {
    const span: Span = t.tracer.startSpan('child', {}, extractContext(TP, 'vendor=abc,other=1'));
    const sc = span.spanContext();
    assert.equal(sc.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.notEqual(sc.spanId, 'b7ad6b7169203331');
    assert.equal(traceparentOf(span), `00-0af7651916cd43dd8448eb211c80319c-${sc.spanId}-01`);
    assert.equal(tracestateOf(span), 'vendor=abc,other=1');
    assert.deepEqual(traceContextOf(span), { traceparent: traceparentOf(span), tracestate: 'vendor=abc,other=1' });
    span.end();
    const done = exporter.getFinishedSpans().at(-1)!;
    assert.equal(done.parentSpanContext?.spanId, 'b7ad6b7169203331');
    assert.equal(done.parentSpanContext?.isRemote, true);
  });

  it('starts a new trace when the header is absent or not valid W3C trace context', () => {
    for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01']) {
      const ctx = extractContext(bad);
      assert.equal(trace.getSpanContext(ctx), undefined, String(bad));
      const span = t.tracer.startSpan('root', {}, ctx);
      assert.notEqual(span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(tracestateOf(span), undefined);
      span.end();
    }
  });

  it('carries the unsampled flag onward', () => {
    const t2 = createTracing({ env: {}, ...ids, spanProcessors: [inMemory().processor] });
    const span = t2.tracer.startSpan('child', {}, extractContext(TP_UNSAMPLED));
    assert.equal(span.isRecording(), false);
    // Not recorded here, but the trace id and the "not sampled" flag still travel, so clients stay consistent.
    assert.match(traceparentOf(span) ?? '', /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
    span.end();
    return t2.shutdown();
  });

  it('passes a caller\'s context through the off (no-op) tracer without inventing one', () => {
    const off = createTracing({ env: {}, ...ids });
    const span = off.tracer.startSpan('x', {}, extractContext(TP));
    assert.equal(traceparentOf(span), TP);
    span.end();
  });
});

describe('tracing: OTLP/HTTP export reaches a collector', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(() => receiver.close());

  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`exports ${protocol} with headers, resource, kinds, parents and attributes`, async () => {
      const before = receiver.requests.length;
      const t = createTracing({
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
          OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s%3Dcret',
          OTEL_SERVICE_NAME: `sb-${protocol}`,
        },
        ...ids,
      });
      assert.equal(t.settings.otlp?.url, `${receiver.url}/v1/traces`);
      const parent = t.tracer.startSpan(`parent-${protocol}`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.destination.name': 'room:1', 'message.size': 42, ok: true } }, extractContext(TP));
      const child = t.tracer.startSpan(`child-${protocol}`, { kind: SpanKind.CONSUMER }, trace.setSpan(ROOT_CONTEXT, parent));
      child.end();
      parent.end();
      await t.shutdown(); // flushes the batch processor
      const spans = await receiver.waitForSpanNames([`parent-${protocol}`, `child-${protocol}`]);
      const req = receiver.requests.slice(before).find((r) => r.spans.length > 0)!;
      assert.equal(req.path, '/v1/traces');
      assert.equal(req.method, 'POST');
      assert.equal(req.error, undefined);
      assert.match(req.contentType, protocol === 'http/json' ? /application\/json/ : /application\/x-protobuf/);
      assert.equal(req.headers['x-api-key'], 's=cret');
      const p = spans.find((s) => s.name === `parent-${protocol}`)!;
      const c = spans.find((s) => s.name === `child-${protocol}`)!;
      assert.equal(p.traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(p.parentSpanId, 'b7ad6b7169203331');
      assert.equal(p.kind, 4);
      assert.equal(c.kind, 5);
      assert.equal(c.traceId, p.traceId);
      assert.equal(c.parentSpanId, p.spanId);
      assert.deepEqual(p.attributes, { 'messaging.destination.name': 'room:1', 'message.size': 42, ok: true });
      assert.equal(p.resource['service.name'], `sb-${protocol}`);
      assert.equal(p.resource['service.instance.id'], 'node-abc');
      assert.equal(p.scope.name, 'switchboard');
    });
  }

  it('exports gzip-compressed when OTEL_EXPORTER_OTLP_COMPRESSION=gzip', async () => {
    const before = receiver.requests.length;
    const t = createTracing({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }, ...ids });
    t.tracer.startSpan('gzipped').end();
    await t.shutdown();
    await receiver.waitForSpanNames(['gzipped']);
    assert.equal(receiver.requests.slice(before).find((r) => r.spans.length > 0)?.headers['content-encoding'], 'gzip');
  });

  it('exports on its own schedule (OTEL_BSP_SCHEDULE_DELAY) without a flush', async () => {
    const t = createTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '20' }, ...ids });
    t.tracer.startSpan('scheduled').end();
    await receiver.waitForSpanNames(['scheduled'], 3000);
    await t.shutdown();
  });
});

// --- the instrumented server ---------------------------------------------------------------------------------------

interface TracedServer {
  sb: Switchboard;
  url: string;
  wsUrl: string;
  /** In-memory spans (when the server was started with `memory: true`). */
  exporter: InMemorySpanExporter;
  track<T extends Closable>(c: T): T;
  /** `POST /api/publish` with extra headers; returns the position. */
  publish(channel: string, data: unknown, headers?: Record<string, string>): Promise<{ epoch: string; offset: number }>;
  close(): Promise<void>;
}

/** A real server on 127.0.0.1:0 with tracing from `env` plus, unless `memory: false`, an in-memory exporter. */
async function startTraced(opts: { env?: Record<string, string>; writeSampleRate?: number; maxWriteSpans?: number; memory?: boolean } = {}): Promise<TracedServer> {
  const config = loadConfig({
    argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--shutdown.timeout', '1s', '--tracing.writeSampleRate', String(opts.writeSampleRate ?? 1), '--tracing.maxWriteSpans', String(opts.maxWriteSpans ?? 0)],
  });
  const exporter = new InMemorySpanExporter();
  const sb = createSwitchboard({ config, env: opts.env ?? {}, ...(opts.memory === false ? {} : { spanProcessors: [new SimpleSpanProcessor(exporter)] }) });
  const { port } = await sb.listen();
  const url = `http://127.0.0.1:${port}`;
  const cleanup = new Cleanup();
  let closing: Promise<void> | undefined;
  return {
    sb,
    url,
    wsUrl: `ws://127.0.0.1:${port}${config.websocket.path}`,
    exporter,
    track: (c) => cleanup.add(c),
    async publish(channel, data, headers = {}) {
      const res = await withTimeout(
        fetch(`${url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ channel, data }) }),
        5000,
        'POST /api/publish',
      );
      const body = (await res.json()) as { epoch: string; offset: number };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body;
    },
    close: () =>
      (closing ??= (async () => {
        try {
          await cleanup.run();
        } finally {
          await withTimeout(sb.shutdown(), 15_000, 'server shutdown');
        }
      })()),
  };
}

const newTraceparent = () => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });
const tpOf = (t: { traceId: string; spanId: string }) => `00-${t.traceId}-${t.spanId}-01`;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const describeSpans = (spans: ReadableSpan[]) => spans.map((s) => `${s.name}(${s.spanContext().spanId}<-${parentOf(s) ?? ''})`).join(', ');

/** Waits until finished spans satisfy `pick` (returns non-undefined), e.g. one span of a name with an attribute. */
function waitSpans<T>(srv: TracedServer, pick: (spans: ReadableSpan[]) => T | undefined, label: string): Promise<T> {
  return waitFor(() => pick(srv.exporter.getFinishedSpans()), { label, describe: () => describeSpans(srv.exporter.getFinishedSpans()) });
}
const named = (name: string, pred: (s: ReadableSpan) => boolean = () => true) => (spans: ReadableSpan[]) => spans.find((s) => s.name === name && pred(s));

describe('tracing: the instrumented server', () => {
  let srv: TracedServer;
  before(async () => {
    srv = await startTraced({ writeSampleRate: 1 });
  });
  after(() => srv.close());

  it('traces a message\'s journey: connect → subscribe → HTTP publish → fan-out → per-recipient writes', async () => {
    const channel = `journey-${randomUUID().slice(0, 8)}`;
    const marker = `secret-${randomUUID()}`;

    // A WebSocket client that continues its own trace on the upgrade, and subscribes.
    const wsTrace = newTraceparent();
    const { client: ws, connected } = await connectReady(`${srv.wsUrl}?user=alice`, 3000, { headers: { traceparent: tpOf(wsTrace) } });
    srv.track(ws);
    await ws.call('subscribe', { channel });
    const upgrade = await waitSpans(srv, named('websocket.upgrade', (s) => s.attributes['client.id'] === connected.client), 'websocket.upgrade');
    assert.equal(upgrade.kind, SpanKind.SERVER);
    assert.equal(upgrade.spanContext().traceId, wsTrace.traceId);
    assert.equal(parentOf(upgrade), wsTrace.spanId);
    assert.equal(upgrade.attributes['http.request.method'], 'GET');
    assert.equal(upgrade.attributes['http.route'], '/ws');
    assert.equal(upgrade.attributes['client.address'], '127.0.0.1');
    assert.equal(upgrade.attributes['user.id'], 'alice');
    assert.equal(upgrade.attributes['http.response.status_code'], 101);
    const register = await waitSpans(srv, named('websocket.register_client', (s) => s.attributes['client.id'] === connected.client), 'websocket.register_client');
    assert.equal(parentOf(register), upgrade.spanContext().spanId);
    const subscribe = await waitSpans(
      srv,
      named('websocket.handle_message', (s) => s.attributes['client.id'] === connected.client && s.attributes['message.type'] === 'subscribe'),
      'websocket.handle_message (subscribe)',
    );
    assert.equal(subscribe.kind, SpanKind.SERVER);
    assert.equal(subscribe.attributes.outcome, 'ok');
    assert.equal(subscribe.attributes['messaging.destination.name'], channel);
    assert.equal(typeof subscribe.attributes['message.size'], 'number');
    // A command is its own trace, linked to the connection (a long-lived connection is not one endless trace).
    assert.ok(subscribe.links.some((l) => l.context.spanId === upgrade.spanContext().spanId), 'subscribe links to the connection span');

    // An SSE client on the same channel; the stream response carries its connection span's traceparent.
    const sse = srv.track(await rawSse(`${srv.url}/events?channel=${channel}&user=bob`));
    const sseConnected = JSON.parse((await sse.waitEvent((e) => e.event === 'connected')).data!);
    const sseHeader = String(sse.res.headers.traceparent ?? '');
    assert.match(sseHeader, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const sseConnect = await waitSpans(srv, named('sse.connect', (s) => s.attributes['client.id'] === sseConnected.client), 'sse.connect');
    assert.equal(sseConnect.kind, SpanKind.SERVER);
    assert.equal(sseHeader, `00-${sseConnect.spanContext().traceId}-${sseConnect.spanContext().spanId}-01`);
    assert.equal(sseConnect.attributes['http.route'], '/events');
    assert.equal(sseConnect.attributes['user.id'], 'bob');
    const addClient = await waitSpans(srv, named('sse.add_client', (s) => s.attributes['client.id'] === sseConnected.client), 'sse.add_client');
    assert.equal(parentOf(addClient), sseConnect.spanContext().spanId);

    // The publish, continuing the publisher's trace from its traceparent header.
    const pubTrace = newTraceparent();
    const pos = await srv.publish(channel, { text: marker }, { traceparent: tpOf(pubTrace), tracestate: 'pub=1' });
    const api = await waitSpans(srv, named('POST /api/publish', (s) => s.spanContext().traceId === pubTrace.traceId), 'POST /api/publish');
    assert.equal(api.kind, SpanKind.SERVER);
    assert.equal(parentOf(api), pubTrace.spanId);
    assert.equal(api.attributes['http.route'], '/api/publish');
    assert.equal(api.attributes['http.request.method'], 'POST');
    assert.equal(api.attributes['http.response.status_code'], 200);
    const publish = await waitSpans(srv, named('event_stream.publish', (s) => s.spanContext().traceId === pubTrace.traceId), 'event_stream.publish');
    assert.equal(publish.kind, SpanKind.PRODUCER);
    assert.equal(parentOf(publish), api.spanContext().spanId);
    assert.equal(publish.attributes['messaging.system'], 'switchboard');
    assert.equal(publish.attributes['messaging.destination.name'], channel);
    assert.equal(publish.attributes['messaging.operation.type'], 'publish');
    assert.equal(publish.attributes['messaging.message.id'], `${pos.epoch}:${pos.offset}`);
    assert.equal(publish.attributes['messaging.message.body.size'], Buffer.byteLength(JSON.stringify({ text: marker })));
    const broadcast = await waitSpans(srv, named('hub.broadcast', (s) => s.spanContext().traceId === pubTrace.traceId), 'hub.broadcast');
    assert.ok(broadcast.kind === SpanKind.CONSUMER || broadcast.kind === SpanKind.INTERNAL, `kind ${broadcast.kind}`);
    assert.equal(parentOf(broadcast), publish.spanContext().spanId);
    assert.equal(broadcast.attributes['clients.count'], 2);
    assert.equal(broadcast.attributes.delivered, 2);
    assert.equal(broadcast.attributes.dropped, 0);
    assert.equal(broadcast.attributes['messaging.message.id'], `${pos.epoch}:${pos.offset}`);
    assert.equal(typeof broadcast.attributes['message.size'], 'number');
    const wsWrite = await waitSpans(srv, named('websocket.write_message', (s) => s.spanContext().traceId === pubTrace.traceId), 'websocket.write_message');
    assert.equal(parentOf(wsWrite), broadcast.spanContext().spanId);
    assert.equal(wsWrite.attributes['client.id'], connected.client);
    assert.equal(typeof wsWrite.attributes['message.size'], 'number');
    const sseWrite = await waitSpans(srv, named('sse.send_message', (s) => s.spanContext().traceId === pubTrace.traceId), 'sse.send_message');
    assert.equal(parentOf(sseWrite), broadcast.spanContext().spanId);
    assert.equal(sseWrite.attributes['client.id'], sseConnected.client);

    // Both clients receive the publish span's context: the publisher's trace id, the publish span as parent.
    const expected = `00-${pubTrace.traceId}-${publish.spanContext().spanId}-01`;
    const wsPush = await ws.nextPush((m: Frame) => m.push === 'publication' && m.channel === channel);
    assert.equal(wsPush.traceparent, expected);
    assert.equal(wsPush.trace_id, pubTrace.traceId);
    assert.equal(wsPush.span_id, publish.spanContext().spanId);
    assert.equal(wsPush.tracestate, 'pub=1');
    const ssePush = JSON.parse((await sse.waitEvent((e) => e.id === `${pos.epoch}:${pos.offset}`)).data!);
    assert.equal(ssePush.traceparent, expected);
    assert.equal(ssePush.trace_id, pubTrace.traceId);
    assert.equal(ssePush.span_id, publish.spanContext().spanId);

    // A client continuing the trace from what it received parents its span on the publish span.
    const clientTracing = createTracing({ env: {}, ...ids, spanProcessors: [inMemory().processor] });
    const clientSpan = clientTracing.tracer.startSpan('client.render', {}, extractContext(wsPush.traceparent, wsPush.tracestate));
    assert.equal(clientSpan.spanContext().traceId, pubTrace.traceId);
    clientSpan.end();
    await clientTracing.shutdown();

    // Closing: the unregister span records a normal close, not an error.
    await ws.close(1000);
    const unregister = await waitSpans(srv, named('websocket.unregister_client', (s) => s.attributes['client.id'] === connected.client), 'websocket.unregister_client');
    assert.equal(unregister.attributes['websocket.close.code'], 1000);
    assert.equal(typeof unregister.attributes['connection.duration_s'], 'number');
    assert.equal(unregister.status.code, SpanStatusCode.UNSET);
    assert.equal(unregister.attributes['error.type'], undefined);
    sse.close();
    await waitSpans(srv, named('sse.remove_client', (s) => s.attributes['client.id'] === sseConnected.client), 'sse.remove_client');

    // No message contents anywhere: names, attributes, events, links, status messages.
    assertNowhere(srv.exporter.getFinishedSpans(), marker);
  });

  it('records an abrupt close as a connection error with the close code', async () => {
    const { client: ws, connected } = await connectReady(`${srv.wsUrl}?user=carol`);
    srv.track(ws);
    await ws.terminate();
    const span = await waitSpans(srv, named('websocket.unregister_client', (s) => s.attributes['client.id'] === connected.client), 'websocket.unregister_client');
    assert.equal(span.attributes['websocket.close.code'], 1006);
    assert.equal(span.attributes['error.type'], 'connection');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
  });

  it('marks bad frames and refused commands with error.type and a stable code, without contents', async () => {
    const marker = `secret-${randomUUID()}`;
    const { client: ws, connected } = await connectReady(`${srv.wsUrl}?user=dave`);
    srv.track(ws);
    ws.send(`{"not json ${marker}`);
    const bad = await waitSpans(srv, named('websocket.handle_message', (s) => s.attributes['client.id'] === connected.client && s.status.code === SpanStatusCode.ERROR), 'bad frame span');
    assert.equal(bad.attributes['error.type'], 'protocol');
    assert.equal(bad.attributes.outcome, 'invalid_json');
    assert.equal(bad.attributes['switchboard.error.code'], 'invalid_json');
    const r = await ws.request('unsubscribe', { channel: 'never-subscribed' });
    assert.ok(r.error);
    const refused = await waitSpans(
      srv,
      named('websocket.handle_message', (s) => s.attributes['client.id'] === connected.client && s.attributes['message.type'] === 'unsubscribe'),
      'refused command span',
    );
    assert.equal(refused.attributes.outcome, r.error!.code);
    assert.equal(refused.attributes['switchboard.error.code'], r.error!.code);
    assert.equal(refused.attributes['error.type'], 'business');
    assert.equal(refused.status.code, SpanStatusCode.ERROR);
    assertNowhere(srv.exporter.getFinishedSpans(), marker);
  });

  it('marks a failed API request with its status code and error class', async () => {
    const res = await fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"channel":' });
    assert.equal(res.status, 400);
    await res.text();
    const span = await waitSpans(srv, named('POST /api/publish', (s) => s.attributes['http.response.status_code'] === 400), 'failed POST /api/publish');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], 'protocol');
    assert.equal(typeof span.attributes['switchboard.error.code'], 'string');
  });

  it('a WebSocket publish continues the trace the client sends with it', async () => {
    const channel = `wspub-${randomUUID().slice(0, 8)}`;
    const { client: ws } = await connectReady(`${srv.wsUrl}?user=erin`);
    srv.track(ws);
    await ws.call('subscribe', { channel });
    const t = newTraceparent();
    await ws.call('publish', { channel, data: { n: 1 }, traceparent: tpOf(t) });
    const push = await ws.nextPush((m: Frame) => m.push === 'publication' && m.channel === channel);
    const publish = await waitSpans(srv, named('event_stream.publish', (s) => s.spanContext().traceId === t.traceId), 'event_stream.publish');
    const handle = await waitSpans(srv, named('websocket.handle_message', (s) => s.spanContext().traceId === t.traceId), 'websocket.handle_message (publish)');
    assert.equal(parentOf(handle), t.spanId);
    assert.equal(parentOf(publish), handle.spanContext().spanId);
    assert.equal(push.traceparent, `00-${t.traceId}-${publish.spanContext().spanId}-01`);
  });

  // docs/operations.md: event_stream.publish is a child of the frame's command span, the seeds' frames included; a
  // seed chat frame's command span has the seed's name (chat_room.send) instead of websocket.handle_message.
  it('a seed-format publish (seed 002 send_to_room) is traced like a native one: event_stream.publish under its command span (chat_room.send)', async () => {
    const room = `seedroom-${randomUUID().slice(0, 8)}`;
    const { client: ws } = await connectReady(`${srv.wsUrl}?user=fay`);
    srv.track(ws);
    ws.send({ type: 'join_room', payload: { room_id: room } });
    ws.send({ type: 'send_to_room', payload: { room_id: room, content: 'hi' } });
    const push = await ws.next((m: Frame) => m.channel === room && m.push === 'publication');
    const publish = await waitSpans(srv, named('event_stream.publish', (s) => s.attributes['messaging.destination.name'] === room), 'event_stream.publish (seed 002)');
    const handle = await waitSpans(srv, named('chat_room.send', (s) => s.spanContext().spanId === parentOf(publish)), 'its chat_room.send');
    assert.equal(handle.attributes['message.dialect'], 'seed002');
    assert.equal(handle.spanContext().traceId, publish.spanContext().traceId);
    assert.match(String(push.traceparent), new RegExp(`^00-${publish.spanContext().traceId}-`));
  });
});

/** Fails if `needle` appears in any span's name, attributes, events, links, status or resource. */
function assertNowhere(spans: ReadableSpan[], needle: string): void {
  assert.ok(spans.length > 0);
  for (const s of spans) {
    const text = JSON.stringify({
      name: s.name,
      attributes: s.attributes,
      events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
      links: s.links.map((l) => l.attributes),
      status: s.status,
      resource: s.resource.attributes,
    });
    assert.ok(!text.includes(needle), `span ${s.name} contains message contents: ${text}`);
  }
}

describe('tracing: per-recipient write sampling (tracing.writeSampleRate)', () => {
  const fanOut = async (rate: number, maxWriteSpans = 0) => {
    const srv = await startTraced({ writeSampleRate: rate, maxWriteSpans });
    try {
      const channel = 'sampled';
      const clients: WsClient[] = [];
      for (let i = 0; i < 3; i++) {
        const { client } = await connectReady(`${srv.wsUrl}?user=u${i}`);
        clients.push(srv.track(client));
        await client.call('subscribe', { channel });
      }
      const sse = srv.track(await rawSse(`${srv.url}/events?channel=${channel}`));
      await sse.waitEvent((e) => e.event === 'connected');
      const t = newTraceparent();
      const rounds = nodeOf(srv.sb).scheduler.rounds;
      await srv.publish(channel, { n: 1 }, { traceparent: tpOf(t) });
      for (const c of clients) await c.nextPush((m: Frame) => m.push === 'publication');
      await sse.waitEvent((e) => e.event === 'message');
      const broadcast = await waitSpans(srv, named('hub.broadcast', (s) => s.spanContext().traceId === t.traceId), 'hub.broadcast');
      assert.equal(broadcast.attributes.delivered, 4);
      // Write spans end in the flush round that hands the bytes to the sockets: wait for that round to be over.
      await waitFor(() => nodeOf(srv.sb).scheduler.rounds > rounds, { label: 'the flush round of the publication' });
      return srv.exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === t.traceId && (s.name === 'websocket.write_message' || s.name === 'sse.send_message'));
    } finally {
      await srv.close();
    }
  };

  it('tracing.maxWriteSpans caps the write spans of one publication', async () => {
    assert.equal((await fanOut(1, 2)).length, 2);
  });

  it('0: no write spans', async () => {
    assert.deepEqual(await fanOut(0), []);
  });

  it('0.5: every second recipient (from a random first one)', async () => {
    assert.equal((await fanOut(0.5)).length, 2);
  });

  it('1: one write span per recipient, per transport', async () => {
    const writes = await fanOut(1);
    assert.equal(writes.filter((s) => s.name === 'websocket.write_message').length, 3);
    assert.equal(writes.filter((s) => s.name === 'sse.send_message').length, 1);
    assert.equal(new Set(writes.map((s) => s.attributes['client.id'])).size, 4);
  });
});

describe('tracing: off', () => {
  it('creates no spans, and passes a publisher\'s traceparent to clients unchanged', async () => {
    const srv = await startTraced({ memory: false });
    try {
      assert.equal(nodeOf(srv.sb).telemetry.tracing, false);
      const { client: ws } = await connectReady(`${srv.wsUrl}?user=off`);
      srv.track(ws);
      await ws.call('subscribe', { channel: 'off' });
      const tp = tpOf(newTraceparent());
      await srv.publish('off', { n: 1 }, { traceparent: tp });
      const push = await ws.nextPush((m: Frame) => m.push === 'publication');
      assert.equal(push.traceparent, tp);
      await srv.publish('off', { n: 2 });
      const plain = await ws.nextPush((m: Frame) => m.push === 'publication');
      assert.equal(plain.traceparent, undefined);
      const sse = srv.track(await rawSse(`${srv.url}/events?channel=off`));
      await sse.waitEvent((e) => e.event === 'connected');
      assert.equal(sse.res.headers.traceparent, undefined);
    } finally {
      await srv.close();
    }
  });
});

describe('tracing: a server exports to an OTLP/HTTP collector', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(() => receiver.close());

  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`over ${protocol}`, async () => {
      const srv = await startTraced({
        memory: false,
        writeSampleRate: 1,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: `sb-${protocol}` },
      });
      const channel = `otlp-${protocol.slice(5)}`;
      const t = newTraceparent();
      try {
        const { client: ws } = await connectReady(`${srv.wsUrl}?user=otlp`);
        srv.track(ws);
        await ws.call('subscribe', { channel });
        await srv.publish(channel, { n: 1 }, { traceparent: tpOf(t) });
        await ws.nextPush((m: Frame) => m.push === 'publication');
      } finally {
        await srv.close(); // flushes the batch processor
      }
      const names = ['websocket.upgrade', 'websocket.register_client', 'websocket.handle_message', 'POST /api/publish', 'event_stream.publish', 'hub.broadcast', 'websocket.write_message', 'websocket.unregister_client'];
      await receiver.waitForSpanNames(names);
      const mine = receiver.spans().filter((s) => s.resource['service.name'] === `sb-${protocol}`);
      for (const n of names) assert.ok(mine.some((s) => s.name === n), `${n} arrived over ${protocol}`);
      const bad = receiver.requests.filter((r) => r.error !== undefined);
      assert.deepEqual(bad.map((r) => r.error), []);
      const inTrace = mine.filter((s) => s.traceId === t.traceId);
      const byName = (n: string) => inTrace.find((s) => s.name === n)!;
      assert.equal(byName('POST /api/publish').parentSpanId, t.spanId);
      assert.equal(byName('event_stream.publish').parentSpanId, byName('POST /api/publish').spanId);
      assert.equal(byName('event_stream.publish').kind, 4);
      assert.equal(byName('hub.broadcast').parentSpanId, byName('event_stream.publish').spanId);
      assert.equal(byName('websocket.write_message').parentSpanId, byName('hub.broadcast').spanId);
      assert.equal(byName('event_stream.publish').attributes['messaging.destination.name'], channel);
      assert.equal(mine[0]!.resource['service.version'], VERSION);
      assert.equal(mine[0]!.resource['service.instance.id'], nodeOf(srv.sb).id);
    });
  }
});
