import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { PublishRequest } from '../broker/broker.js';
import type { TraceContext } from '../core/trace-context.js';
import type { ServerPublication } from '../protocol/index.js';
import { WriteSpanSampler } from './delivery-tracing.js';
import type { BroadcastHub, PublishTracing } from './publish-tracing.js';
import { markError } from './spans.js';
import type { Telemetry } from './telemetry.js';
import { otelContextOf } from './trace-context.js';
import { extractContext, traceContextOf } from './tracing.js';

/** PublishTracing with OpenTelemetry spans (tracing on). */
export class PublishSpans implements PublishTracing {
  /** Every k-th recipient of a publication gets a write span (k = 1 / tracing.writeSampleRate); 0: none. */
  private readonly writeSampleStride: number;

  constructor(private readonly tel: Telemetry) {
    const rate = tel.writeSampleRate;
    this.writeSampleStride = rate > 0 ? Math.max(1, Math.round(1 / rate)) : 0;
  }

  async publish(req: PublishRequest, data: string, parent: TraceContext | undefined, send: (req: PublishRequest) => Promise<ServerPublication>): Promise<ServerPublication> {
    const { channel, event, meta } = req;
    const span = this.tel.tracer.startSpan(
      'event_stream.publish',
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'switchboard',
          'messaging.operation.type': 'publish',
          'messaging.operation.name': 'publish',
          'messaging.destination.name': channel,
          'messaging.message.body.size': Buffer.byteLength(data),
          'message.type': event,
          'message.size': Buffer.byteLength(data),
        },
      },
      parent ? otelContextOf(parent) : meta?.traceparent ? extractContext(meta.traceparent, meta.tracestate) : ROOT_CONTEXT,
    );
    try {
      const pub = await send({ ...req, meta: { ...meta, ...traceContextOf(span) } });
      span.setAttribute('messaging.message.id', `${pub.epoch}:${pub.offset}`);
      return pub;
    } catch (err) {
      markError(span, 'connection', 'broker_publish_failed');
      throw err;
    } finally {
      span.end();
    }
  }

  async read<T>(name: string, channel: string, parent: TraceContext | undefined, run: () => Promise<T>, count: (v: T) => number): Promise<T> {
    if (!parent) return run();
    const span = this.tel.tracer.startSpan(name, { attributes: { 'messaging.destination.name': channel } }, otelContextOf(parent));
    try {
      const v = await run();
      span.setAttribute('result.count', count(v));
      return v;
    } catch (err) {
      markError(span, 'connection', 'broker_failed');
      throw err;
    } finally {
      span.end();
    }
  }

  broadcast(pub: ServerPublication, hub: BroadcastHub): number {
    // A publication that carries no trace context (published with tracing off elsewhere) is fanned out untraced.
    if (pub.meta?.traceparent === undefined) return hub.publish(pub);
    const tel = this.tel;
    const span = tel.tracer.startSpan(
      'hub.broadcast',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'switchboard',
          'messaging.operation.type': 'process',
          'messaging.destination.name': pub.channel,
          'messaging.message.id': `${pub.epoch}:${pub.offset}`,
          'message.type': pub.event,
          'message.size': Buffer.byteLength(pub.data),
          'clients.count': hub.subscriberCount(pub.channel),
        },
      },
      extractContext(pub.meta.traceparent, pub.meta.tracestate),
    );
    const dropsBefore = tel.counters.drops;
    const sampler = new WriteSpanSampler(tel.tracer, trace.setSpan(ROOT_CONTEXT, span), this.writeSampleStride, tel.maxWriteSpans);
    const n = hub.publish(pub, sampler);
    const dropped = tel.counters.drops - dropsBefore;
    span.setAttributes({ delivered: n - dropped, dropped });
    span.end();
    return n;
  }
}
