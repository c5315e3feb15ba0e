import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ByteSink } from '../delivery/outbound.js';
import type { WsTransport } from '../session/ws-session.js';
import { waitDrain } from '../http/drain.js';

/**
 * Where a WebSocket connection's outbound queue writes: pre-built frames (delivery/encoded.ts) go straight to the
 * connection's socket, so one publication's frame, built once, serves every recipient and a flush is one socket write.
 *
 * The socket is the one the server handed to `WebSocketServer.handleUpgrade` (its documented argument), not read
 * back from the `WebSocket` object: no private field is involved, whatever `ws` version the caret range brings.
 * `ws` writes its own frames (ping, pong, close) to that same socket, a whole frame per write, so they interleave
 * with ours only at frame boundaries; this is safe because the server never calls `ws.send` (which could hold data
 * frames back while compressing). test/unit/ws-socket-writer.test.ts holds `ws` to this on a real connection.
 *
 * A public-only path through `ws.send(payload)` would need the payloads instead of frames, and cost one frame build
 * and one syscall per message (no coalescing): measured in bench/write-path.js, see the commit that added this file.
 */
export class WsSocketWriter implements ByteSink {
  constructor(private readonly socket: Duplex) {}

  /**
   * True when the socket no longer takes writes (destroyed, ended or errored): the bytes are dropped and the
   * session learns of the close from `ws`. `writable` reads only the socket's writable state, which the write
   * touches anyway; `destroyed` would also read its readable state, one more object per delivery (issue #15).
   */
  write(buf: Buffer): boolean {
    const s = this.socket;
    return !s.writable || s.write(buf);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  waitDrain(): Promise<void> {
    return waitDrain(this.socket);
  }
}

/**
 * A WebSocket session's transport: frames to the socket (above), close and flow control through `ws`. One object
 * with its methods on the prototype, where an object literal of arrow functions cost each connection seven closures.
 */
export class WsConnectionSink extends WsSocketWriter implements WsTransport {
  constructor(
    socket: Duplex,
    private readonly ws: WebSocket,
  ) {
    super(socket);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}
