import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { DeliverySampler, Subscriber, WriteWatch } from '../hub/hub.js';

/** A sampled delivery's write span: ended when the subscriber's queued bytes are written, or marked dropped. */
class WriteSpanWatch implements WriteWatch {
  constructor(private readonly span: Span) {}

  written(): void {
    this.span.end();
  }

  dropped(): void {
    this.span.setAttribute('dropped', true);
    this.span.end();
  }
}

/**
 * One publication's sampled deliveries as `websocket.write_message` / `sse.send_message` spans, children of its
 * `hub.broadcast` span (`parent`). Made only for a traced publication; `stride` is 1 / tracing.writeSampleRate.
 */
export class WriteSpanSampler implements DeliverySampler {
  constructor(
    private readonly tracer: Tracer,
    private readonly parent: Context,
    readonly stride: number,
    /** tracing.maxWriteSpans (0: no limit). */
    readonly max: number,
  ) {}

  sampled(subscriber: Subscriber, size: number): void {
    const span = this.tracer.startSpan(
      subscriber.transport === 'sse' ? 'sse.send_message' : 'websocket.write_message',
      // Two attributes only: a write span is the one span whose count scales with recipients.
      { attributes: { 'client.id': subscriber.id, 'message.size': size } },
      this.parent,
    );
    subscriber.watchWrite(new WriteSpanWatch(span));
  }
}
