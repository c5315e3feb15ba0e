// Socket.IO 4.8 peer for the benchmark: the same publish API as Switchboard's (`POST /api/publish` with
// `{channel, event, data}`), fanned out with `io.to(channel).emit(event, data)` through the in-process adapter
// (which encodes the packet once per broadcast). Clients connect over WebSocket only (Socket.IO has no SSE) and
// join a room with `socket.emit('subscribe', channel, ack)`. The reply's `offset` is the data's `seq`, which the
// load generator counts as the offset (Socket.IO has no stream positions).
//
//   node bench/peers/socketio-server.js --port <P> [--host 127.0.0.1]
import http from 'node:http';
import { Server } from 'socket.io';

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const port = Number(arg('--port', '8080'));
const host = arg('--host', '127.0.0.1');

function sendJson(res, status, body) {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/api/publish') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendJson(res, 400, { error: { code: 'bad_request', message: 'invalid JSON' } });
      }
      if (typeof body?.channel !== 'string') return sendJson(res, 400, { error: { code: 'bad_request', message: 'channel' } });
      io.to(body.channel).emit(typeof body.event === 'string' ? body.event : 'message', body.data ?? null);
      sendJson(res, 200, { channel: body.channel, offset: body.data?.seq ?? 0 });
    });
    return;
  }
  if (req.method === 'GET' && (req.url === '/readyz' || req.url === '/healthz')) return sendJson(res, 200, { status: 'ok' });
  // Socket.IO's own handler answers /socket.io/; anything else is ours to refuse.
  if (!req.url.startsWith('/socket.io/')) sendJson(res, 404, { error: { code: 'not_found', message: 'not found' } });
});

const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
io.on('connection', (socket) => {
  socket.on('subscribe', (channel, ack) => {
    if (typeof channel === 'string') socket.join(channel);
    if (typeof ack === 'function') ack({ ok: typeof channel === 'string' });
  });
});

server.listen(port, host, () => process.stderr.write(`socket.io ${host}:${port}\n`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
