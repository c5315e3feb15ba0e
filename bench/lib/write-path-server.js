// `switchboard serve` with the WebSocket write path chosen for bench/write-path.js:
//   node bench/lib/write-path-server.js direct|public serve --port P ...
// direct: the shipped paths (pre-built frames written straight to the upgrade socket, transport/ws-socket-writer.ts;
//   HTTP/1.1 SSE chunks built once per publication written straight to the response's socket,
//   transport/sse-body-writer.ts).
// public: ws.send(payload), one call per message, the public-API alternative to writing pre-built frames (the frames
//   a flush holds are split back into payloads here, a few header reads per message); SSE bodies through res.write
//   inside a cork of the socket (forcePublicBodyWrites: the sink's fallback, and the path before issue #15's change).
import { WebSocketServer } from 'ws';
import { WsSocketWriter } from '../../dist/transport/ws-socket-writer.js';
import { forcePublicBodyWrites } from '../../dist/transport/sse-body-writer.js';

const variant = process.argv.splice(2, 1)[0];
if (variant !== 'direct' && variant !== 'public') {
  console.error('usage: node bench/lib/write-path-server.js direct|public serve [flags]');
  process.exit(2);
}

if (variant === 'public') {
  forcePublicBodyWrites(true);
  const wsOfSocket = new WeakMap();
  const handleUpgrade = WebSocketServer.prototype.handleUpgrade;
  WebSocketServer.prototype.handleUpgrade = function (req, socket, head, cb) {
    return handleUpgrade.call(this, req, socket, head, (ws, r) => {
      wsOfSocket.set(socket, ws);
      cb(ws, r);
    });
  };
  WsSocketWriter.prototype.write = function (buf) {
    const socket = this.socket;
    if (socket.destroyed) return true;
    const ws = wsOfSocket.get(socket);
    for (let at = 0; at < buf.length; ) {
      const b1 = buf[at + 1];
      const len = b1 < 126 ? b1 : b1 === 126 ? buf.readUInt16BE(at + 2) : buf.readUInt32BE(at + 6);
      const head = b1 < 126 ? 2 : b1 === 126 ? 4 : 10;
      ws.send(buf.subarray(at + head, at + head + len), { binary: false, compress: false, fin: true });
      at += head + len;
    }
    return ws.bufferedAmount < socket.writableHighWaterMark;
  };
}

await import('../../dist/cli/main.js');
