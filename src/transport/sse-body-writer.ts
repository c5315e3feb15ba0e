import type { ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';

/** Writes a flush's bytes to an SSE response body; false when the sink now buffers past its high-water mark. */
export type BodyWriter = (buf: Buffer) => boolean;

/**
 * The body writer of an HTTP/1.1 (or 1.0) stream: `res.write` inside a cork of the response's socket, public API only.
 * Node frames the bytes as one HTTP/1.1 chunk (size line, data, CRLF: four socket writes, which the cork turns into
 * one writev) and the uncork here sends them within the flush round. Without the cork Node uncorks on its own
 * nextTick, after the round: the round's measured duration then misses the syscalls and the write window of
 * delivery/flush.ts stays shut under load (1.5x the CPU per delivery at moderate SSE load). With it, this costs the
 * same as writing hand-built chunks to the socket through ServerResponse's private fields, which it replaces
 * (bench/write-path.js; figures in the commit that made this change).
 * A response still waiting behind a pipelined one has no socket yet: `res.write` queues its bytes in order.
 */
export function http1BodyWriter(res: ServerResponse): BodyWriter {
  return (buf) => {
    if (res.destroyed || res.writableEnded) return true;
    const socket = res.socket;
    if (!socket) return res.write(buf);
    socket.cork();
    const ok = res.write(buf);
    socket.uncork();
    return ok;
  };
}

/**
 * The body writer of a stream served over HTTP/2: each flush is one write on the HTTP/2 stream (Node frames it as
 * DATA; there is no chunked encoding and no socket of its own to write to).
 */
export function http2BodyWriter(stream: ServerHttp2Stream): BodyWriter {
  return (buf) => stream.destroyed || stream.writableEnded || stream.write(buf);
}
