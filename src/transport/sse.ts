import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { Disconnects, encodeSseEvent, isValidChannel, parseStreamToken, type StreamPosition } from '../protocol/index.js';
import type { ErrorType } from '../observability/error-type.js';
import type { AuthResult } from '../auth/identity.js';
import type { Admission, Reservation } from './admission.js';
import { SseSession, type ResumeProblem, type SseTransport as SseSessionTransport } from '../session/sse-session.js';
import { answerPreflight, corsHeaders } from '../http/cors.js';
import { sendError } from '../http/responses.js';
import type { TransportHost } from './host.js';
import type { HandshakeTrace } from './telemetry.js';
import { http1BodySink, http1FramingHeaders, http2BodySink, type BodySink } from './sse-body-writer.js';
import { noteRequestTrace } from '../http/request-trace.js';
import { SseHeartbeat } from './sse-heartbeat.js';

/**
 * The SSE endpoint: `GET /events?channel=a&channel=b`. Resume with the `Last-Event-ID` header, or the
 * `lastEventId` query parameter for clients that cannot set headers; `snapshot=false` skips keyed channels' state.
 */
export class SseTransport {
  private readonly open = new Set<ServerResponse>();
  /** Every open stream's heartbeat, on one timer (`sse.heartbeatInterval`). */
  private readonly heartbeat: SseHeartbeat<SseSession>;

  constructor(
    private readonly node: TransportHost,
    private readonly admission: Admission,
  ) {
    this.heartbeat = new SseHeartbeat(node.config.sse.heartbeatInterval);
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const node = this.node;
    const cfg = node.config;
    const cors = corsHeaders(req, cfg.cors.origins);
    if (req.method === 'OPTIONS') {
      // A page on another origin reading the stream with fetch sends Authorization / Last-Event-ID: a preflight first.
      return answerPreflight(res, cors, 'GET, OPTIONS', 'authorization, last-event-id, traceparent, tracestate, cache-control');
    }
    const ip = node.clientAddress.of(req);
    const route = url.pathname;
    const span = node.transportTelemetry.streamConnect(req, ip, route);
    if (span) noteRequestTrace(req, span.context);
    const fail = (status: number, code: string, message: string, type: ErrorType, extra: Record<string, string> = {}) => {
      span?.refused(status, type, code);
      sendError(res, status, code, message, { ...cors, ...extra });
    };
    if (req.method !== 'GET') return fail(405, 'method_not_allowed', 'use GET', 'protocol', { allow: 'GET, OPTIONS' });
    const channels = url.searchParams.getAll('channel');
    if (channels.length === 0) return fail(400, 'bad_request', 'give at least one channel: /events?channel=news', 'protocol');
    if (channels.length > cfg.sse.maxChannels) {
      return fail(400, 'limit_exceeded', `at most ${cfg.sse.maxChannels} channels per stream (sse.maxChannels)`, 'business');
    }
    for (const c of channels) {
      if (!isValidChannel(c, cfg.channel.maxLength)) {
        return fail(400, 'invalid_channel', `channel ${JSON.stringify(String(c).slice(0, 64))} must be 1-${cfg.channel.maxLength} characters of letters, digits and _-.:#@/=,`, 'protocol');
      }
    }
    if (new Set(channels).size !== channels.length) return fail(400, 'bad_request', 'a channel is listed twice', 'protocol');
    // `snapshot=false`: keyed channels of the stream start live, without their state (like the WebSocket option).
    const snapshotParam = url.searchParams.get('snapshot');
    if (snapshotParam !== null && snapshotParam !== 'true' && snapshotParam !== 'false') {
      return fail(400, 'bad_request', 'snapshot must be true or false', 'protocol');
    }
    const snapshot = snapshotParam === null ? undefined : snapshotParam === 'true';
    const slot = this.admission.reserve(ip, 'sse');
    if (typeof slot === 'string') {
      node.limitHit(slot, undefined, { client_ip: ip, transport: 'sse' });
      return fail(slot === 'connections' ? 503 : 429, 'limit_exceeded', this.admission.message(slot), 'business');
    }
    // The slot is held until the response ends, whatever happens in between (refusal, failure or a closed stream).
    res.on('close', slot.release); // 'close' comes once; `on` spares the wrapper `once` makes per stream
    node.authenticator.authenticate(req, url, { transport: 'sse', ip, ...(span ? { trace: span.context } : {}) }).then(
      (auth) => this.afterAuth(req, res, url, channels, auth, { cors, ip, route, span, fail, slot, snapshot }),
      (err: unknown) => {
        node.logger.error({ err }, 'authentication failed unexpectedly');
        fail(500, 'internal', 'internal error', 'connection');
      },
    );
  }

  private afterAuth(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    channels: string[],
    auth: AuthResult,
    c: {
      cors: Record<string, string>;
      ip: string;
      route: string;
      span: HandshakeTrace | undefined;
      fail: (status: number, code: string, message: string, type: ErrorType, extra?: Record<string, string>) => void;
      slot: Reservation;
      snapshot: boolean | undefined;
    },
  ): void {
    const node = this.node;
    const cfg = node.config;
    const { cors, ip, route, span, fail, slot, snapshot } = c;
    if (res.destroyed) {
      span?.end();
      return;
    }
    if (!auth.ok) {
      node.logger.warn({ event: 'auth_failed', transport: 'sse', client_ip: ip, route, code: auth.code, reason: auth.message }, 'connection refused');
      return fail(auth.status, auth.code, auth.message, 'auth');
    }
    const byUser = slot.claimUser(auth.identity.userId);
    if (byUser) {
      node.limitHit(byUser, undefined, { client_ip: ip, user_id: auth.identity.userId, transport: 'sse' });
      return fail(429, 'limit_exceeded', this.admission.message(byUser), 'business');
    }

    const token = headerValue(req.headers['last-event-id']) ?? url.searchParams.get('lastEventId') ?? undefined;
    let since: StreamPosition[] | undefined;
    let problem: ResumeProblem | undefined;
    if (token !== undefined && token !== '') {
      since = parseStreamToken(token, channels.length);
      if (!since) problem = { code: 'bad_last_event_id', message: 'Last-Event-ID is not a position of this stream; starting from now' };
    }

    const ready = node.isReady();
    res.writeHead(200, {
      ...cors,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Connection-specific headers are forbidden in HTTP/2 (RFC 9113 §8.2.2).
      // A live stream's HTTP/1.1 framing is named here, so its body can be written past ServerResponse
      // (sse-body-writer.ts); the not-ready answer below is one res.end() that Node frames itself.
      ...(req.httpVersionMajor < 2 ? { connection: 'keep-alive', ...(ready ? http1FramingHeaders(req) : {}) } : {}),
      'x-accel-buffering': 'no',
      // The connection span's context, so a client can tie its own spans to this stream (seed 004).
      ...(span ? { traceparent: span.context.traceparent ?? '' } : {}),
    });
    if (!ready) {
      // Not 503: EventSource gives up for good on any non-200 answer. A stream that says "reconnect" and ends
      // makes it retry after `retry` ms, by which time a load balancer routes it to a ready node.
      res.end(encodeSseEvent({ retry: cfg.sse.retry, event: 'disconnect', data: JSON.stringify(Disconnects.Shutdown) }));
      span?.refused(200, 'connection', 'unavailable');
      return;
    }
    res.flushHeaders();
    const stream = http2StreamOf(req, res);
    if (stream) {
      // One stream of a shared connection: the connection's socket is not this stream's to configure.
      stream.setTimeout(0);
    } else {
      req.socket.setNoDelay(true);
      req.socket.setTimeout(0);
    }

    const body = stream ? http2BodySink(stream) : http1BodySink(res);
    const session = new SseSession(node.services, auth.identity, new ResponseSink(res, body), { ip, route, traceContext: span?.context });
    node.attach(session);
    this.open.add(res);
    // One 'close' listener from here on, releasing the slot too (two would cost the stream a listener array).
    res.off('close', slot.release);
    res.on('close', () => {
      slot.release();
      this.open.delete(res);
      this.heartbeat.delete(session);
      session.cleanup();
    });
    session.logInfo({ event: 'connect', channels: channels.length, resumed: since !== undefined }, 'connected');
    span?.accepted({ 'http.response.status_code': 200, 'client.id': session.id, 'user.id': session.userId, 'sse.channels': channels.length });
    session.open(channels, since, problem, snapshot).then(
      () => {
        // Heartbeats start once the stream is live (after `connected` and the catch-up), as long as it is open.
        if (!session.closed) this.heartbeat.add(session);
        span?.end();
      },
      (err: unknown) => {
        session.log.error({ err }, 'sse stream failed');
        span?.failed('connection', 'internal');
        res.destroy();
      },
    );
  }

  connections(): number {
    return this.open.size;
  }

  close(): void {
    this.heartbeat.stop();
    for (const res of this.open) res.destroy();
  }
}

/**
 * An SSE session's transport: the flush's bytes through `write` (sse-body-writer.ts), end and destroy on the
 * response. One object with its methods on the prototype, where an object literal of arrow functions cost every
 * stream five closures.
 */
class ResponseSink implements SseSessionTransport {
  constructor(
    private readonly res: ServerResponse,
    /** Where the body bytes go: straight to the socket, through `res.write`, or the HTTP/2 stream. */
    private readonly body: BodySink,
  ) {}

  write(buf: Buffer): boolean {
    return this.body.write(buf);
  }

  get writableLength(): number {
    return this.body.writableLength;
  }

  waitDrain(): Promise<void> {
    return this.body.waitDrain();
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The HTTP/2 stream under a compatibility-API response (`Http2ServerResponse.stream`), or undefined on HTTP/1.1. */
function http2StreamOf(req: IncomingMessage, res: ServerResponse): ServerHttp2Stream | undefined {
  return req.httpVersionMajor >= 2 ? (res as unknown as { stream?: ServerHttp2Stream }).stream : undefined;
}
