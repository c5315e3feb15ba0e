/**
 * HTTP access log: one structured line per request a route answers (config `accessLog`), written when the response
 * finishes or the connection closes, whichever comes first — for an SSE stream, when the stream ends. WebSocket
 * upgrades are not HTTP responses and are logged by their connection lines (`connect`, `disconnect`); nothing here
 * runs per WebSocket frame or per SSE event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { requestTrace } from './request-trace.js';

/** The two pino levels an access line may be written at, or `off`. */
export type AccessLogLevel = 'off' | 'info' | 'debug';

/** What the access log needs of a logger (pino's `info` / `debug`). */
export interface AccessLogger {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  /** Whether lines at `level` are written (pino's). */
  isLevelEnabled(level: string): boolean;
}

/** Sees each request the route table answers, before its handler runs. */
export type RouteObserver = (req: IncomingMessage, res: ServerResponse, route: string) => void;

/**
 * The access log as a route observer; undefined when `level` is `off` or below the logger's level (the router then
 * does no work for it).
 * `clientIp` reads the client's address through trusted proxies (proxy.trusted), as every other log line does.
 */
export function accessLog(logger: AccessLogger, level: AccessLogLevel, clientIp: (req: IncomingMessage) => string): RouteObserver | undefined {
  // Below the log level no line would be written: no observer either (it holds two listeners and a closure for the
  // life of every SSE stream). The level is fixed for the process's life.
  if (level === 'off' || !logger.isLevelEnabled(level)) return undefined;
  const write = level === 'info' ? logger.info.bind(logger) : logger.debug.bind(logger);
  return (req, res, route) => {
    const started = performance.now();
    // HTTP/1.1: the socket's byte count before and after is this response's (requests on one socket are answered
    // in turn). HTTP/2 multiplexes a socket, so there only a declared content-length is reported.
    const socket = req.httpVersionMajor === 1 ? (req.socket as Socket | null) : null;
    const bytesBefore = socket?.bytesWritten ?? 0;
    let done = false;
    const line = (): void => {
      if (done) return;
      done = true;
      const length = Number(res.getHeader('content-length'));
      const bytes = socket ? socket.bytesWritten - bytesBefore : Number.isFinite(length) ? length : undefined;
      const traceId = traceIdOf(req);
      write(
        {
          event: 'http_request',
          method: req.method,
          route,
          path: pathOf(req),
          status: res.statusCode,
          duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
          ...(bytes !== undefined ? { bytes } : {}),
          client_ip: clientIp(req),
          ...(traceId ? { trace_id: traceId } : {}),
        },
        'http request',
      );
    };
    res.once('finish', line);
    res.once('close', line);
  };
}

/** W3C `traceparent` (version-traceid-parentid-flags); the same rule as protocol/'s, which http/ does not import. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The request's own span's trace (tracing on), else the trace its caller's `traceparent` header names. */
function traceIdOf(req: IncomingMessage): string | undefined {
  const own = requestTrace(req)?.traceparent;
  const header = req.headers.traceparent;
  const tp = own ?? (typeof header === 'string' && TRACEPARENT.test(header) ? header : undefined);
  return tp?.slice(3, 35);
}

/** The path without the query string, which may hold a token (`?token=` on SSE). */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
