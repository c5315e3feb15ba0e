import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SwitchboardNode } from '../node.js';
import { Disconnects, encodeSseEvent, isValidChannel, parseStreamToken, type StreamPosition } from '../protocol/index.js';
import { SseSession, type ResumeProblem } from '../session/sse-session.js';
import { corsHeaders, sendError, waitDrain } from './http-util.js';

/**
 * The SSE endpoint: `GET /events?channel=a&channel=b`. Resume with the `Last-Event-ID` header, or the
 * `lastEventId` query parameter for clients that cannot set headers.
 */
export class SseTransport {
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly node: SwitchboardNode) {}

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const node = this.node;
    const cfg = node.config;
    const cors = corsHeaders(req, cfg.cors.origins);
    if (req.method !== 'GET') return sendError(res, 405, 'method_not_allowed', 'use GET', { ...cors, allow: 'GET' });
    const channels = url.searchParams.getAll('channel');
    if (channels.length === 0) return sendError(res, 400, 'bad_request', 'give at least one channel: /events?channel=news', cors);
    if (channels.length > cfg.sse.maxChannels) {
      return sendError(res, 400, 'limit_exceeded', `at most ${cfg.sse.maxChannels} channels per stream (sse.maxChannels)`, cors);
    }
    for (const c of channels) {
      if (!isValidChannel(c, cfg.channel.maxLength)) {
        return sendError(res, 400, 'invalid_channel', `channel ${JSON.stringify(String(c).slice(0, 64))} must be 1-${cfg.channel.maxLength} characters of letters, digits and _-.:#@/=,`, cors);
      }
    }
    if (new Set(channels).size !== channels.length) return sendError(res, 400, 'bad_request', 'a channel is listed twice', cors);
    const auth = node.authenticator.authenticate(req, url);
    if (!auth.ok) return sendError(res, auth.status, auth.code, auth.message, cors);

    const token = headerValue(req.headers['last-event-id']) ?? url.searchParams.get('lastEventId') ?? undefined;
    let since: StreamPosition[] | undefined;
    let problem: ResumeProblem | undefined;
    if (token !== undefined && token !== '') {
      since = parseStreamToken(token, channels.length);
      if (!since) problem = { code: 'bad_last_event_id', message: 'Last-Event-ID is not a position of this stream; starting from now' };
    }

    res.writeHead(200, {
      ...cors,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    if (!node.isReady()) {
      // Not 503: EventSource gives up for good on any non-200 answer. A stream that says "reconnect" and ends
      // makes it retry after `retry` ms, by which time a load balancer routes it to a ready node.
      res.end(encodeSseEvent({ retry: cfg.sse.retry, event: 'disconnect', data: JSON.stringify(Disconnects.Shutdown) }));
      return;
    }
    res.flushHeaders();
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);

    const write = rawBodyWriter(res);
    const session = new SseSession(node, auth.identity, {
      write,
      get writableLength() {
        return res.writableLength;
      },
      waitDrain: () => waitDrain(res),
      end: () => res.end(),
      destroy: () => res.destroy(),
    });
    node.hub.register(session);
    this.open.add(res);
    res.on('close', () => {
      this.open.delete(res);
      session.cleanup();
    });
    session.open(channels, since, problem).catch((err: unknown) => {
      node.logger.error({ err, client: session.id }, 'sse stream failed');
      res.destroy();
    });
  }

  connections(): number {
    return this.open.size;
  }

  close(): void {
    for (const res of this.open) res.destroy();
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The stream's body writer. Once the headers are on the socket, events go straight to it as HTTP/1.1 chunks
 * (size line, data, CRLF in one buffer): one socket write per flush, without `res.write`'s per-call work.
 * `res.end()` still writes the closing chunk. If the headers are not on the socket yet (a pipelined request
 * waiting behind another response), `res.write` keeps the order.
 */
function rawBodyWriter(res: ServerResponse): (buf: Buffer) => void {
  const internals = res as unknown as { chunkedEncoding?: boolean; outputData?: unknown[] };
  const socket = res.socket;
  if (!socket || !res.headersSent || (internals.outputData?.length ?? 0) > 0) {
    return (buf) => {
      if (!res.destroyed) res.write(buf);
    };
  }
  const chunked = internals.chunkedEncoding === true;
  return (buf) => {
    if (socket.destroyed || res.writableEnded) return;
    if (!chunked) {
      socket.write(buf);
      return;
    }
    const size = buf.length.toString(16);
    const out = Buffer.allocUnsafe(size.length + 2 + buf.length + 2);
    out.write(size, 0, 'latin1');
    out.write('\r\n', size.length, 'latin1');
    buf.copy(out, size.length + 2);
    out.write('\r\n', size.length + 2 + buf.length, 'latin1');
    socket.write(out);
  };
}
