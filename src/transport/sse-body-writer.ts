import type { ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { waitDrain } from '../http/drain.js';

/** Where an SSE stream's body goes: each `write` takes a flush's body bytes (one or more SSE events). */
export interface BodySink {
  /** Whether writes go straight to the socket (false: through `res.write`, or an HTTP/2 stream). */
  readonly direct: boolean;
  /** Writes; false when the sink now buffers past its high-water mark. */
  write(buf: Buffer): boolean;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly writableLength: number;
  /** Resolves once the unsent bytes were handed to the kernel, or the stream closed. */
  waitDrain(): Promise<void>;
}

/** Why an HTTP/1.x stream writes through `res.write` instead of straight to its socket. */
export type PublicWhy = 'http/1.0' | 'not-on-socket' | 'forced';

let forcedPublic = false;

/** Test and benchmark hook: true sends every later HTTP/1.x body through `res.write` (default false). */
export function forcePublicBodyWrites(on: boolean): void {
  forcedPublic = on;
}

/**
 * Whether `res`'s body can go straight to its socket, public API only: an HTTP/1.1 response (whose head says
 * `Transfer-Encoding: chunked`, `http1FramingHeaders`) that owns a socket (it is not waiting behind a pipelined
 * one) and has nothing buffered of its own, i.e. its head is already on the socket (`writableLength` is the
 * response's unsent bytes plus its socket's). Call after `flushHeaders()`. HTTP/1.0 takes the public path: Node
 * chunks a 1.0 response too when the request asked for it (`TE: chunked`), which only it knows.
 */
export function socketOf(res: ServerResponse): Socket | PublicWhy {
  if (forcedPublic) return 'forced';
  if (!isHttp11(res.req)) return 'http/1.0';
  const socket = res.socket;
  if (!socket || socket.destroyed || !res.headersSent || res.writableLength !== socket.writableLength) return 'not-on-socket';
  return socket;
}

/**
 * The headers that fix an HTTP/1.x stream's body framing: HTTP/1.1 says `Transfer-Encoding: chunked` itself
 * (Node then frames `res.write`s and ends with the last chunk, as it would on its own), so the framing a direct
 * writer must produce is known without reading ServerResponse's private state. HTTP/1.0 bodies are bare and end
 * with the connection.
 */
export function http1FramingHeaders(req: HttpVersion): Record<string, string> {
  return isHttp11(req) ? { 'transfer-encoding': 'chunked' } : {};
}

interface HttpVersion {
  httpVersionMajor: number;
  httpVersionMinor: number;
}

function isHttp11(req: HttpVersion): boolean {
  return req.httpVersionMajor === 1 && req.httpVersionMinor >= 1;
}

/**
 * The body sink of an HTTP/1.x stream whose head was sent with `http1FramingHeaders(req)`.
 *
 * Direct (HTTP/1.1, the response owns its socket, see `socketOf`): every write is one `socket.write` of one
 * HTTP/1.1 chunk (size line, the flush's bytes, CRLF in one buffer). `res.write` would instead make four socket
 * writes per call through OutgoingMessage's bookkeeping and need a cork around them (1.2x the server CPU per
 * delivery at moderate SSE load with the write window off); `res.end()` still writes the last chunk after ours.
 * One chunk per flush, not one per event: a client's HTTP parser hands each chunk to its reader separately.
 *
 * Public (HTTP/1.0, a response waiting behind a pipelined one, or `forcePublicBodyWrites`): `res.write` inside a cork of the
 * socket, so Node frames the chunk and hands it over as one writev within the call (without the cork Node uncorks
 * on its own nextTick, after the flush round, and the write window of delivery/flush.ts stays shut); a response
 * without a socket yet queues in order. Same bytes on the wire, chunk boundaries aside.
 */
export function http1BodySink(res: ServerResponse, path: Socket | PublicWhy = socketOf(res)): BodySink {
  return typeof path === 'string' ? new PublicHttp1Sink(res) : new DirectHttp1Sink(res, path);
}

// The sinks are classes with their methods on the prototype: an object literal with a getter and arrow functions
// cost every stream ~0.6 KB (V8 kept its properties in dictionary mode, plus three closures and their context).

/** HTTP/1.1 straight to the socket: one `socket.write` of one chunk per flush (see http1BodySink). */
class DirectHttp1Sink implements BodySink {
  constructor(
    private readonly res: ServerResponse,
    private readonly socket: Socket,
  ) {}

  get direct(): boolean {
    return true;
  }

  write(buf: Buffer): boolean {
    return this.socket.destroyed || this.res.writableEnded || this.socket.write(httpChunkOf(buf));
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** The socket's own drain: `res` emits one only after a `res.write` that returned false. */
  waitDrain(): Promise<void> {
    return waitDrain(this.socket);
  }
}

/** HTTP/1.x through `res.write`, corked so Node hands the framed chunk over as one writev (see http1BodySink). */
class PublicHttp1Sink implements BodySink {
  constructor(private readonly res: ServerResponse) {}

  get direct(): boolean {
    return false;
  }

  write(buf: Buffer): boolean {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return true;
    const socket = res.socket;
    if (!socket) return res.write(buf);
    socket.cork();
    const ok = res.write(buf);
    socket.uncork();
    return ok;
  }

  get writableLength(): number {
    return this.res.writableLength;
  }

  waitDrain(): Promise<void> {
    return waitDrain(this.res);
  }
}

/**
 * The body sink of a stream served over HTTP/2: each flush is one write on the HTTP/2 stream (Node frames it as
 * DATA; there is no chunked encoding and no socket of its own to write to). Public API only.
 */
export function http2BodySink(stream: ServerHttp2Stream): BodySink {
  return new Http2Sink(stream);
}

class Http2Sink implements BodySink {
  constructor(private readonly stream: ServerHttp2Stream) {}

  get direct(): boolean {
    return false;
  }

  write(buf: Buffer): boolean {
    const stream = this.stream;
    return stream.destroyed || stream.writableEnded || stream.write(buf);
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  waitDrain(): Promise<void> {
    return waitDrain(this.stream);
  }
}

/**
 * `body` as one HTTP/1.1 chunk (RFC 9112 §7.1): its size in hex, CRLF, the bytes, CRLF, in one buffer. Chunks
 * written one after another are a valid chunked body; the response's end adds the last (zero-size) chunk, so an
 * empty body is never framed (flushes never are empty).
 */
export function httpChunkOf(body: Buffer): Buffer {
  const size = body.length.toString(16);
  const out = Buffer.allocUnsafe(size.length + body.length + 4);
  out.write(size, 0, 'latin1');
  out[size.length] = 13;
  out[size.length + 1] = 10;
  body.copy(out, size.length + 2);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}
