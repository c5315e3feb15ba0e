/**
 * JSON answers of our HTTP endpoints (server API, SSE and WebSocket refusals, the demo): the body `{"error": {"code",
 * "message"}}` for errors (docs/protocol.md, "Error replies"). A layer of its own below the API, the transports and
 * the demo, which all answer this way; it imports nothing of ours.
 */
import type { ServerResponse } from 'node:http';
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
