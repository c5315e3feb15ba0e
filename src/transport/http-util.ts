import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

/** Writes a JSON error body `{"error": {"code", "message"}}` with the given status. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

/** A response body that is already JSON text (large replies are built as text, not parsed and stringified again). */
export class JsonText {
  constructor(readonly text: string) {}
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body instanceof JsonText ? body.text : JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Refuses an upgrade request on the raw socket with a JSON error body (no WebSocket was created). */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Origin check for CORS: the allowed origin to echo, or undefined. */
export function allowedOrigin(req: IncomingMessage, origins: readonly string[]): string | undefined {
  const origin = req.headers.origin;
  if (!origin || origins.length === 0) return undefined;
  if (origins.includes('*')) return origin;
  return origins.includes(origin) ? origin : undefined;
}

export function corsHeaders(req: IncomingMessage, origins: readonly string[]): Record<string, string> {
  const origin = allowedOrigin(req, origins);
  if (!origin) return {};
  // `*` lets any site read responses, but never with credentials: a cookie-borne token must not open a user's
  // streams to every page on the web. Listed origins get credentials.
  if (origins.includes('*') && !origins.includes(origin)) {
    return { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'traceparent' };
  }
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'traceparent',
    vary: 'Origin',
  };
}

/**
 * Answers a CORS preflight (OPTIONS) with 204: the CORS headers when the origin is allowed, and always the methods and
 * request headers the route accepts. Browsers cache the answer for 10 minutes.
 */
export function answerPreflight(res: ServerResponse, cors: Record<string, string>, methods: string, headers: string): void {
  res.writeHead(204, {
    ...cors,
    'access-control-allow-methods': methods,
    'access-control-allow-headers': headers,
    'access-control-max-age': '600',
  });
  res.end();
}

/** Resolves when a writable has flushed its buffer to the kernel, or has closed. */
export function waitDrain(w: NodeJS.WritableStream & { writableLength: number; destroyed: boolean; once(e: string, l: () => void): unknown; off(e: string, l: () => void): unknown }): Promise<void> {
  if (w.writableLength === 0 || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.once('drain', done);
    w.once('close', done);
  });
}
