// Baseline: the least a single Node process can do to serve the Switchboard wire protocol used by the benchmark.
// One pre-encoded frame per publication, one socket write per subscriber, no queues, no history, no validation
// beyond what the benchmark needs. It is the floor the real server is compared with.
//
//   node bench/baseline-server.js [serve] --port <P> [--host 127.0.0.1]
import http from 'node:http';
import { WebSocketServer, Sender } from 'ws';

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const port = Number(arg('--port', '8080'));
const host = arg('--host', '127.0.0.1');
const EPOCH = 'base';

/** channel -> { offset, ws: Set<net.Socket>, sse: Set<http.ServerResponse> } */
const channels = new Map();
function channelOf(name) {
  let c = channels.get(name);
  if (c === undefined) {
    c = { offset: 0, ws: new Set(), sse: new Set() };
    channels.set(name, c);
  }
  return c;
}

let clientSeq = 0;
const FRAME_OPTS = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

function publish(channel, event, dataJson) {
  const c = channelOf(channel);
  const offset = ++c.offset;
  const push =
    '{"push":"publication","channel":' + JSON.stringify(channel) +
    ',"type":' + JSON.stringify(event) +
    ',"payload":' + dataJson +
    ',"epoch":"' + EPOCH + '","offset":' + offset +
    ',"timestamp":"' + new Date().toISOString() + '"}';
  if (c.ws.size > 0) {
    const frame = Buffer.concat(Sender.frame(Buffer.from(push), FRAME_OPTS));
    for (const sock of c.ws) sock.write(frame);
  }
  if (c.sse.size > 0) {
    const ev = Buffer.from('event: ' + event + '\ndata: ' + push + '\nid: ' + EPOCH + ':' + offset + '\n\n');
    for (const res of c.sse) res.write(ev);
  }
  return offset;
}

function sendJson(res, status, body) {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (req.method === 'POST' && path === '/api/publish') {
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
      const offset = publish(body.channel, typeof body.event === 'string' ? body.event : 'message', JSON.stringify(body.data ?? null));
      sendJson(res, 200, { channel: body.channel, epoch: EPOCH, offset });
    });
    return;
  }
  if (req.method === 'GET' && path === '/events') {
    const params = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
    const name = params.get('channel');
    if (!name) return sendJson(res, 400, { error: { code: 'bad_request', message: 'channel' } });
    const c = channelOf(name);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const info = {
      client: 'b' + ++clientSeq, user: params.get('user') ?? '', version: 'baseline', ping: 0,
      channels: [{ channel: name, epoch: EPOCH, offset: c.offset, recovered: false, missed: 0 }],
    };
    res.write('event: connected\ndata: ' + JSON.stringify(info) + '\n\n');
    c.sse.add(res);
    res.on('close', () => c.sse.delete(res));
    return;
  }
  if (req.method === 'GET' && (path === '/readyz' || path === '/healthz')) return sendJson(res, 200, { status: 'ok' });
  sendJson(res, 404, { error: { code: 'not_found', message: 'not found' } });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
server.on('upgrade', (req, socket, head) => {
  if (!req.url.startsWith('/ws')) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const user = new URL(req.url, 'http://x').searchParams.get('user') ?? '';
    const subs = [];
    ws.send(JSON.stringify({ push: 'connected', client: 'b' + ++clientSeq, user, version: 'baseline', ping: 0 }));
    ws.on('message', (data) => {
      let cmd;
      try {
        cmd = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (cmd?.method === 'subscribe' && typeof cmd.params?.channel === 'string') {
        const c = channelOf(cmd.params.channel);
        c.ws.add(ws._socket);
        subs.push(c);
        ws.send(JSON.stringify({ id: cmd.id, result: { channel: cmd.params.channel, epoch: EPOCH, offset: c.offset, recovered: false, missed: 0 } }));
      } else if (cmd?.type === 'join_room' && typeof cmd.payload?.room_id === 'string') {
        // Seed 002's join (issue #15's harness, bench/issue-loadgen.js): no reply, as Switchboard sends none.
        const c = channelOf(cmd.payload.room_id);
        c.ws.add(ws._socket);
        subs.push(c);
      } else if (cmd?.id !== undefined) {
        ws.send(JSON.stringify({ id: cmd.id, result: {} }));
      }
    });
    const sock = ws._socket;
    ws.on('close', () => {
      for (const c of subs) c.ws.delete(sock);
    });
  });
});

server.listen(port, host, () => {
  process.stderr.write(`baseline listening on ${host}:${port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
