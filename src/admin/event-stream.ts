/**
 * One Server-Sent Events response of the admin console (stats stream, channel tail): headers, a comment every 15 s
 * so proxies keep it open, and a byte bound: a browser that stops reading while more than 1 MiB is queued is cut
 * off (it reconnects; the console is an observer, never a reason to buffer without limit).
 */
import type { ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from '../http/static.js';

/** Bytes queued on a response beyond which the stream is ended. */
const MAX_QUEUED_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export class AdminEventStream {
  private readonly heartbeat: NodeJS.Timeout;
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly onEnd: () => void,
  ) {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write('retry: 3000\n\n');
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
    res.on('close', () => this.end());
  }

  /** Sends one event; `data` is one line of JSON. */
  send(event: string, data: string): void {
    this.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.res.end();
    this.onEnd();
  }

  private write(text: string): void {
    if (this.ended) return;
    if (this.res.writableLength > MAX_QUEUED_BYTES) return this.end();
    this.res.write(text);
  }
}
