import type { Identity } from '../auth/identity.js';
import type { EncodedPublication } from '../delivery/encoded.js';
import {
  Disconnects,
  encodeSseComment,
  encodeSseEvent,
  ErrorCode,
  formatPosition,
  skipJson,
  ReplyError,
  type Disconnect,
  type StreamPosition,
} from '../protocol/index.js';
import type { ByteSink } from '../delivery/outbound.js';
import type { NodeServices } from './services.js';
import type { ChannelTrace } from './connection-telemetry.js';
import { Session, type ConnectionInfo, type PreparedSubscription } from './session.js';
import type { Subscription } from './subscription.js';
import { publicationShape } from './dialects/index.js';

export interface SseTransport extends ByteSink {
  /** Ends the response after the queued bytes. */
  end(): void;
  /** Drops the connection at once (a slow reader would otherwise hold it open with unsent bytes). */
  destroy(): void;
}

/** The heartbeat's bytes, shared by every stream (made on first use). */
let PING_EVENT: Buffer | undefined;
let PING_COMMENT: Buffer | undefined;

/** Why a Last-Event-ID could not be used; sent in the `connected` event. */
export interface ResumeProblem {
  code: string;
  message: string;
}

/**
 * A Server-Sent Events stream: receive-only, subscribed to the channels of its URL. Every publication's `id:` is
 * a token holding the position of every channel of the stream, so `Last-Event-ID` resumes all of them.
 */
export class SseSession extends Session {
  private channels: readonly string[] = [];

  constructor(
    node: NodeServices,
    identity: Identity,
    private readonly res: SseTransport,
    conn: ConnectionInfo,
  ) {
    super(node, identity, res, 'sse', conn);
    // The stream ends when the token expires; the client reconnects with a fresh token and its Last-Event-ID.
    node.watchExpiry(this);
  }

  /**
   * Subscribes every channel (resuming from `since` when given, one position per channel), sends the `connected`
   * event saying whether each channel resumed gap-free, then the missed publications, then live ones.
   * The `connected` event's id is the position the client now holds, so a reconnect during the replay loses nothing.
   * Each channel's catch-up ends with a `caught_up` event. `snapshot` false: keyed channels without a position
   * start live, without their state (the WebSocket subscribe option, for every channel of the stream).
   */
  async open(channels: readonly string[], since: StreamPosition[] | undefined, problem: ResumeProblem | undefined, snapshot?: boolean): Promise<void> {
    const cfg = this.node.config.sse;
    this.channels = channels;
    this.send(Buffer.from('retry: ' + cfg.retry + '\n' + encodeSseComment('switchboard'), 'utf8'));
    const prepared: PreparedSubscription[] = [];
    // One `event_stream.subscribe` span per channel under the stream's `sse.connect` (when traced), ended once the
    // channel is live.
    const traces: (ChannelTrace | undefined)[] = [];
    const telemetry = this.node.connectionTelemetry;
    for (let i = 0; i < channels.length; i++) {
      const traced = telemetry.channel(this, 'subscribe', channels[i]!, this.traceContext);
      traces.push(traced);
      try {
        prepared.push(await this.prepareSubscription(channels[i]!, since?.[i], undefined, snapshot));
      } catch (err) {
        const e = err instanceof ReplyError ? err : new ReplyError(ErrorCode.Internal, 'internal error');
        traced?.failed(e.code);
        for (let j = 0; j < i; j++) traces[j]?.end(this.node.subscriberCount(channels[j]!));
        if (!(err instanceof ReplyError)) this.log.error({ err }, 'sse subscribe failed');
        this.send(this.framePush('stream_error', JSON.stringify({ code: e.code, message: e.message, channel: channels[i] })));
        this.disconnect(Disconnects.Normal);
        return;
      }
      if (this.closed) {
        for (let j = 0; j <= i; j++) traces[j]?.end(this.node.subscriberCount(channels[j]!));
        return;
      }
    }
    const results = prepared.map((p) => p.result);
    const connected = {
      client: this.id,
      user: this.userId,
      recovered: since !== undefined && results.every((r) => r.recovered),
      ...(problem ? { error: problem } : {}),
      channels: results,
    };
    this.send(Buffer.from(encodeSseEvent({ event: 'connected', data: JSON.stringify(connected), id: this.streamToken() }), 'utf8'));
    for (let i = 0; i < prepared.length; i++) {
      await this.activateSubscription(prepared[i]!);
      traces[i]?.end(this.node.subscriberCount(channels[i]!));
    }
  }

  /** The positions the client holds for every channel, in URL order. */
  private streamToken(): string {
    let id = '';
    for (let i = 0; i < this.channels.length; i++) {
      const s = this.subscriptions.get(this.channels[i]!);
      if (i > 0) id += ',';
      if (s) id += s.epoch + ':' + s.offset;
    }
    return id;
  }

  protected framePublication(enc: EncodedPublication, _sub: Subscription): Buffer {
    enc = publicationShape(enc, this.node.config.compat.seed000Channel);
    // One channel: the id is the publication's own position, and the whole event is shared by all recipients.
    if (this.channels.length === 1) return enc.sseEvent();
    return Buffer.from(enc.sseHead() + 'id: ' + this.streamToken() + '\n\n', 'utf8');
  }

  /** `event: skip` with the position as `id:`, so an EventSource's Last-Event-ID moves past the skipped publication. */
  protected override frameSkip(enc: EncodedPublication, _sub: Subscription): Buffer {
    const id = this.channels.length === 1 ? formatPosition(enc.pub) : this.streamToken();
    return Buffer.from(encodeSseEvent({ event: 'skip', data: skipJson(enc.pub), id }), 'utf8');
  }

  protected framePush(event: string, json: string): Buffer {
    return Buffer.from(encodeSseEvent({ event, data: json }), 'utf8');
  }

  protected closeTransport(d: Disconnect): void {
    if (d === Disconnects.Slow) return this.res.destroy();
    this.send(this.framePush('disconnect', JSON.stringify(d)));
    this.queue.flush();
    this.res.end();
  }

  /**
   * One heartbeat (the transport's heartbeat wheel calls it every `sse.heartbeatInterval` once the stream is open):
   * the comment `: ping`, or `event: ping` with `sse.heartbeatEvent`. The bytes are the same for every stream: made
   * once (the queue only reads them).
   */
  heartbeat(): void {
    if (this.closed) return;
    const beat = this.node.config.sse.heartbeatEvent
      ? (PING_EVENT ??= Buffer.from(encodeSseEvent({ event: 'ping', data: '{}' }), 'utf8'))
      : (PING_COMMENT ??= Buffer.from(encodeSseComment('ping'), 'utf8'));
    this.send(beat);
  }
}
