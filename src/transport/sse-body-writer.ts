import type { ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';

/** Writes a flush's bytes to an SSE response body; false when the sink now buffers past its high-water mark. */
export type BodyWriter = (buf: Buffer) => boolean;

/**
 * The two private fields of Node's `ServerResponse` (from `OutgoingMessage`) that the direct path reads: whether the
 * body is sent in HTTP/1.1 chunks, and the bytes still waiting for the socket. Node documents neither.
 */
interface ResponseInternals {
  chunkedEncoding?: unknown;
  outputData?: unknown;
}

/** How an HTTP/1.1 body can be written: straight to the socket (chunked or not), or through `res.write`. */
export type BodyPath = { direct: true; chunked: boolean } | { direct: false; why: 'fields-missing' | 'not-on-socket' | 'forced' };

let forcedPublic = false;
let warned = false;

/** Test and benchmark hook: true sends every later HTTP/1.1 body through `res.write` (default false). */
export function forcePublicBodyWrites(on: boolean): void {
  forcedPublic = on;
}

/**
 * Chooses the path for `res`, whose headers were flushed. Direct needs both private fields with the types Node has
 * given them since v0.x (a boolean, an array); a Node release that renames or retypes them selects `res.write`, which
 * sends the same bytes at a higher CPU cost (bench/write-path.js), with a one-time process warning.
 * If the headers are not on the socket yet (a pipelined request waiting behind another response), `res.write` keeps
 * the order.
 */
export function bodyPathOf(res: Pick<ServerResponse, 'socket' | 'headersSent'>): BodyPath {
  if (forcedPublic) return { direct: false, why: 'forced' };
  const { chunkedEncoding, outputData } = res as ResponseInternals;
  if (typeof chunkedEncoding !== 'boolean' || !Array.isArray(outputData)) {
    if (!warned) {
      warned = true;
      process.emitWarning(
        'ServerResponse has no boolean chunkedEncoding / array outputData in this Node version: SSE bodies go through res.write (same bytes, more CPU per event)',
        { code: 'SWITCHBOARD_SSE_PUBLIC_WRITES' },
      );
    }
    return { direct: false, why: 'fields-missing' };
  }
  if (!res.socket || !res.headersSent || outputData.length > 0) return { direct: false, why: 'not-on-socket' };
  return { direct: true, chunked: chunkedEncoding };
}

/**
 * The body writer of an HTTP/1.1 stream. Direct: events go straight to the socket as HTTP/1.1 chunks (size line, data,
 * CRLF in one buffer), one socket write per flush without `res.write`'s per-call work (four internal sends, a cork
 * and a nextTick uncork); `res.end()` still writes the closing chunk.
 */
export function http1BodyWriter(res: ServerResponse, path: BodyPath = bodyPathOf(res)): BodyWriter {
  const socket = res.socket;
  if (!path.direct || !socket) return publicBodyWriter(res);
  if (!path.chunked) return (buf) => socket.destroyed || res.writableEnded || socket.write(buf);
  return (buf) => {
    if (socket.destroyed || res.writableEnded) return true;
    const size = buf.length.toString(16);
    const out = Buffer.allocUnsafe(size.length + 2 + buf.length + 2);
    out.write(size, 0, 'latin1');
    out.write('\r\n', size.length, 'latin1');
    buf.copy(out, size.length + 2);
    out.write('\r\n', size.length + 2 + buf.length, 'latin1');
    return socket.write(out);
  };
}

/**
 * `res.write` inside a cork of the response's socket: Node writes the chunk (size line, data, CRLF: four socket
 * writes) as one writev when uncorked here, within the flush round, instead of on its own nextTick uncork after the
 * round (which hid the syscalls from the round's duration, so the write window of delivery/flush.ts never opened).
 */
function publicBodyWriter(res: ServerResponse): BodyWriter {
  return (buf) => {
    if (res.destroyed || res.writableEnded) return true;
    const socket = res.socket;
    if (!socket) return res.write(buf); // waiting behind a pipelined response: Node queues it in order
    socket.cork();
    const ok = res.write(buf);
    socket.uncork();
    return ok;
  };
}

/**
 * The body writer of a stream served over HTTP/2: each flush is one write on the HTTP/2 stream (Node frames it as
 * DATA; there is no chunked encoding and no socket of its own to write to). Public API only.
 */
export function http2BodyWriter(stream: ServerHttp2Stream): BodyWriter {
  return (buf) => stream.destroyed || stream.writableEnded || stream.write(buf);
}
