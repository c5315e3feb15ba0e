/**
 * HTTPS and HTTP/2 on Switchboard's own port (`tls.cert`, `tls.key`, `http2.*`): SSE and the API over HTTP/2 with
 * node:http2 and `curl --http2`, HTTP/1.1 and WebSocket (wss) on the same port, the certificate reloaded without
 * dropping connections, and the start-up errors. The browser side (10 EventSources) is test/e2e/http2-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createServer as createHttpServer } from 'node:http';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, nodeOf } from '../../src/server.js';
import { captureLogs } from '../helpers/log-capture.js';
import { makeCertificate, peerCertificate, startTlsServer, tempDir, type CertFiles, type TlsServer } from '../helpers/tls.js';
import { parseSse, type RawEvent } from '../helpers/sse-client.js';
import { sleep, waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady } from '../helpers/ws-client.js';

const execFileP = promisify(execFile);
const hasCurlHttp2 = /\bHTTP2\b/.test(spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout ?? '');

/** One SSE stream on an HTTP/2 session: its response headers and parsed events. */
interface H2Sse {
  headers: Promise<IncomingHttpHeaders>;
  events: RawEvent[];
  close(): void;
}

function h2Sse(session: ClientHttp2Session, path: string): H2Sse {
  const req = session.request({ ':path': path });
  const events: RawEvent[] = [];
  let rest = '';
  req.setEncoding('utf8');
  req.on('data', (s: string) => {
    const parsed = parseSse(rest + s);
    rest = parsed.rest;
    events.push(...parsed.events);
  });
  req.on('error', () => {});
  return { headers: withTimeout(new Promise((r) => req.once('response', r)), 3000, `response ${path}`), events, close: () => req.close() };
}

async function h2Json(session: ClientHttp2Session, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: IncomingHttpHeaders }> {
  const req = session.request({ ':method': method, ':path': path, ...(body === undefined ? {} : { 'content-type': 'application/json' }) });
  req.end(body === undefined ? undefined : JSON.stringify(body));
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (s: string) => (text += s));
  const headers = await withTimeout(new Promise<IncomingHttpHeaders>((r) => req.once('response', r)), 3000, `${method} ${path}`);
  await withTimeout(new Promise((r) => req.once('end', r)), 3000, `${method} ${path} body`);
  const json = String(headers['content-type'] ?? '').includes('json');
  return { status: Number(headers[':status']), body: json ? JSON.parse(text) : text, headers };
}

const publications = (s: H2Sse) => s.events.filter((e) => e.event === 'message');

describe('tls + http2: SSE, API, curl and WebSocket on one TLS port', () => {
  const tmp = tempDir();
  let cert: CertFiles;
  let srv: TlsServer;
  // Node's compatibility API drops a connection-specific header on HTTP/2 and warns (once per process): the
  // headers check below alone would pass with the header still set.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  before(async () => {
    process.on('warning', onWarning);
    cert = makeCertificate(tmp.dir, 'server', 'localhost');
    srv = await startTlsServer(cert, ['--sse.heartbeatInterval', '1h']);
  });
  after(async () => {
    process.off('warning', onWarning);
    await srv?.sb.shutdown();
    tmp.remove();
  });

  it('serves 10 SSE streams and the API over one HTTP/2 connection, without HTTP/1.1-only headers', async () => {
    const session = h2connect(srv.url, { ca: [cert.pem] });
    try {
      const streams = Array.from({ length: 10 }, (_, i) => h2Sse(session, `/events?channel=h2-ten&user=u${i}`));
      for (const s of streams) {
        const h = await s.headers;
        assert.equal(h[':status'], 200);
        assert.match(String(h['content-type']), /^text\/event-stream/);
        // Connection-specific headers are illegal in HTTP/2 (RFC 9113 §8.2.2).
        for (const name of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(h[name], undefined, name);
      }
      await waitFor(() => streams.every((s) => s.events.some((e) => e.event === 'connected')), { label: '10 connected events' });
      const pub = await h2Json(session, 'POST', '/api/publish', { channel: 'h2-ten', data: { n: 1 } });
      assert.equal(pub.status, 200);
      await waitFor(() => streams.every((s) => publications(s).length === 1), { label: 'the publication on all 10 streams' });
      assert.equal(JSON.parse(publications(streams[0]!)[0]!.data!).payload.n, 1);
      assert.equal((session.socket as unknown as { alpnProtocol: string }).alpnProtocol, 'h2');
      // The other endpoints answer over HTTP/2 too (loopback caller: no API key needed).
      assert.equal((await h2Json(session, 'GET', '/api/openapi.json')).status, 200);
      const metrics = await h2Json(session, 'GET', '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(String(metrics.body), /switchboard_/);
      assert.equal((await h2Json(session, 'GET', '/nope')).status, 404);
      for (const s of streams) s.close();
      // Closing a stream ends its session and frees its admission slot (per-IP and per-user counts).
      await waitFor(() => nodeOf(srv.sb).hub.stats().connections === 0, { label: 'streams closed on the server' });
      await sleep(50); // warnings are emitted on the next tick
      assert.deepEqual(warnings.filter((w) => /header/i.test(w)), []);
    } finally {
      session.close();
    }
  });

  it('writes each flush of an HTTP/2 SSE stream as one stream write of whole events (50 publications: a few writes)', async () => {
    // ServerHttp2Stream is not exported: take its prototype from a throwaway server's stream, and count writes.
    const proto = await serverStreamPrototype();
    const original = proto.write;
    const writes: string[] = [];
    const session = h2connect(srv.url, { ca: [cert.pem] });
    try {
      const s = h2Sse(session, '/events?channel=h2-batch&user=b');
      await waitFor(() => s.events.some((e) => e.event === 'caught_up'), { label: 'caught_up' });
      proto.write = function (this: ServerHttp2Stream, ...args: Parameters<ServerHttp2Stream['write']>) {
        writes.push(Buffer.from(args[0] as Uint8Array).toString('utf8'));
        return original.apply(this, args);
      } as ServerHttp2Stream['write'];
      const sent = Array.from({ length: 50 }, (_, i) => srv.sb.publish('h2-batch', { i }));
      await Promise.all(sent);
      await waitFor(() => publications(s).length === 50, { label: '50 publications', describe: () => String(publications(s).length) });
      proto.write = original;
      // Batched (a flush round carries many events), and never split: each write is whole events, ending "\n\n".
      assert.ok(writes.length >= 1 && writes.length <= 10, `50 publications took ${writes.length} stream writes`);
      for (const w of writes) assert.match(w, /^(event: message\ndata: [^\n]*\nid: [^\n]*\n\n)+$/, 'a write holds whole events only');
      assert.equal(writes.join('').split('event: message').length - 1, 50);
      s.close();
    } finally {
      proto.write = original;
      session.close();
    }
  });

  it('ends an HTTP/2 SSE stream whose reader stops reading once client.queueMaxBytes is passed (flow control is the backpressure)', async () => {
    const session = h2connect(srv.url, { ca: [cert.pem] });
    try {
      const req = session.request({ ':path': '/events?channel=h2-slow&user=slow' });
      req.on('error', () => {});
      await withTimeout(new Promise((r) => req.once('response', r)), 3000, 'response');
      req.pause(); // no more WINDOW_UPDATEs: the server's stream buffers, then its queue fills
      const before = nodeOf(srv.sb).hub.stats().connections;
      assert.ok(before >= 1);
      const payload = 'x'.repeat(4096);
      for (let i = 0; i < 400 && nodeOf(srv.sb).hub.stats().connections >= before; i++) {
        await srv.sb.publish('h2-slow', { i, payload });
        if (i % 20 === 19) await sleep(10);
      }
      await waitFor(() => nodeOf(srv.sb).hub.stats().connections < before, { timeout: 5000, label: 'slow HTTP/2 reader disconnected' });
    } finally {
      session.destroy();
    }
  });

  it('answers curl --http2 (API and an SSE stream) and curl --http1.1 on the same port', { skip: hasCurlHttp2 ? false : 'curl without HTTP2' }, async () => {
    // Asynchronous: the server answering curl runs in this process.
    const curl = async (args: string[]) => (await execFileP('curl', ['-sS', '--cacert', cert.cert, '--max-time', '5', ...args], { encoding: 'utf8' })).stdout;
    assert.deepEqual((await curl(['--http2', '-w', '\n%{http_version}', `${srv.url}/healthz`])).split('\n'), ['{"status":"ok"}', '2']);
    assert.deepEqual((await curl(['--http1.1', '-w', '\n%{http_version}', `${srv.url}/healthz`])).split('\n'), ['{"status":"ok"}', '1.1']);

    const child = spawn('curl', ['-sS', '-N', '-i', '--http2', '--cacert', cert.cert, '--max-time', '10', `${srv.url}/events?channel=curl-h2&user=c`]);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    try {
      await waitFor(() => out.includes('event: caught_up'), { timeout: 5000, label: 'curl stream caught up', describe: () => out });
      await srv.sb.publish('curl-h2', { via: 'curl' });
      await waitFor(() => out.includes('"via":"curl"'), { timeout: 5000, label: 'publication through curl', describe: () => out });
      assert.match(out, /^HTTP\/2 200/);
      assert.doesNotMatch(out.split('\r\n\r\n')[0]!, /^connection:/im);
    } finally {
      child.kill();
    }
  });

  it('upgrades WebSocket (wss) on the same TLS port, and it receives', async () => {
    const { client } = await connectReady(`wss://localhost:${srv.port}/ws?user=w`, 3000, { ca: [cert.pem] });
    try {
      assert.equal((client.ws as unknown as { _socket: { encrypted?: boolean } })._socket.encrypted, true);
      await client.call('subscribe', { channel: 'wss-ch' });
      await srv.sb.publish('wss-ch', { over: 'wss' });
      const p = await client.nextPush((m) => m.push === 'publication', 3000);
      assert.deepEqual(p.payload, { over: 'wss' });
    } finally {
      client.ws.close();
    }
  });
});

describe('tls: certificate reload', () => {
  const tmp = tempDir();
  const logs = captureLogs('info');
  let a: CertFiles;
  let b: CertFiles;
  let c: CertFiles;
  let live: { cert: string; key: string };
  let srv: TlsServer;
  before(async () => {
    a = makeCertificate(tmp.dir, 'a');
    b = makeCertificate(tmp.dir, 'b');
    c = makeCertificate(tmp.dir, 'c');
    live = { cert: `${tmp.dir}/live.crt`, key: `${tmp.dir}/live.key` };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    srv = await startTlsServer(live, ['--tls.reloadInterval', '50ms', '--sse.heartbeatInterval', '1h'], { logger: logs.logger });
  });
  after(async () => {
    await srv?.sb.shutdown();
    tmp.remove();
  });
  const ca = () => [a.pem, b.pem, c.pem];
  const install = (pair: { cert: string; key: string }) => {
    copyFileSync(pair.cert, live.cert);
    copyFileSync(pair.key, live.key);
  };

  it('gives new connections the new certificate while an open HTTP/2 stream keeps going', async () => {
    assert.equal((await peerCertificate(srv.port, ca())).cn, 'a');
    const session = h2connect(srv.url, { ca: ca() });
    try {
      const s = h2Sse(session, '/events?channel=reload&user=r');
      await waitFor(() => s.events.some((e) => e.event === 'caught_up'), { label: 'caught_up' });
      install(b);
      await waitFor(async () => (await peerCertificate(srv.port, ca())).cn === 'b', { timeout: 3000, interval: 50, label: 'new connections see certificate b' });
      assert.ok(logs.lines.some((l) => l.event === 'tls_reloaded' && l.subject === 'CN=b'), 'reload logged');
      // The connection opened before the reload: same TLS session (certificate a), stream still delivering.
      assert.equal((session.socket as unknown as { getPeerCertificate(): { subject: { CN: string } } }).getPeerCertificate().subject.CN, 'a');
      await srv.sb.publish('reload', { after: 'reload' });
      await waitFor(() => publications(s).length === 1, { label: 'publication on the stream opened before the reload' });
      assert.equal(session.closed, false);
      s.close();
    } finally {
      session.close();
    }
  });

  it('keeps the current certificate when the new files are bad, logs it once per change, and takes the next good pair', async () => {
    const failures = () => logs.lines.filter((l) => l.event === 'tls_reload_failed').length;
    writeFileSync(live.key, 'not a key\n');
    await waitFor(() => failures() === 1, { timeout: 3000, label: 'reload failure logged' });
    await sleep(300); // six more polls of unchanged bad files
    assert.equal(failures(), 1, 'logged once, not once per poll');
    assert.equal((await peerCertificate(srv.port, ca())).cn, 'b');
    // A certificate with a key that is not its own (written in two steps, caught half-way).
    copyFileSync(c.cert, live.cert);
    copyFileSync(b.key, live.key);
    await waitFor(() => failures() === 2, { timeout: 3000, label: 'mismatched pair logged' });
    assert.match(logs.lines.filter((l) => l.event === 'tls_reload_failed')[1]!.reason, /mismatch|key/i);
    assert.equal((await peerCertificate(srv.port, ca())).cn, 'b');
    copyFileSync(c.key, live.key);
    await waitFor(async () => (await peerCertificate(srv.port, ca())).cn === 'c', { timeout: 3000, interval: 50, label: 'certificate c after the fix' });
    assert.ok(!logs.raw.some((l) => l.includes('PRIVATE KEY')), 'no key material in logs');
  });
});

describe('tls + http2: options and start-up errors', () => {
  const tmp = tempDir();
  let cert: CertFiles;
  let other: CertFiles;
  before(() => {
    cert = makeCertificate(tmp.dir, 'server', 'localhost');
    other = makeCertificate(tmp.dir, 'other');
  });
  after(() => tmp.remove());

  it('refuses to start with a missing file or a key that is not the certificate\'s, naming the option', () => {
    const build = (certPath: string, keyPath: string) => () =>
      createSwitchboard({ config: loadConfig({ values: { port: 0, tls: { cert: certPath, key: keyPath } } }) });
    assert.throws(build(`${tmp.dir}/nope.crt`, cert.key), (e: Error) => e.name === 'ConfigError' && /"tls\.cert".*cannot be read \(ENOENT\)/.test(e.message));
    assert.throws(build(cert.cert, `${tmp.dir}/nope.key`), (e: Error) => /"tls\.key".*cannot be read/.test(e.message));
    assert.throws(build(cert.cert, other.key), (e: Error) => e.name === 'ConfigError' && /do not load as a certificate and its key/.test(e.message));
    assert.throws(() => loadConfig({ values: { tls: { cert: cert.cert } } }), /tls\.cert and tls\.key are set together/);
    // An embedding app's own server: TLS is the app's to configure.
    const server = createHttpServer();
    assert.throws(() => createSwitchboard({ server, config: loadConfig({ values: { tls: { cert: cert.cert, key: cert.key } } }) }), /"tls\.cert".*options\.server/);
  });

  it('logs the scheme, protocols and certificate when it starts listening', async () => {
    const logs = captureLogs('info');
    const srv = await startTlsServer(cert, ['--log-level', 'info'], { logger: logs.logger });
    try {
      const line = logs.lines.find((l) => l.msg === 'switchboard listening')!;
      assert.equal(line.scheme, 'https');
      assert.deepEqual(line.protocols, ['h2', 'http/1.1']);
      assert.equal(line.certificate.subject, 'CN=localhost');
      assert.match(line.certificate.validTo, /GMT$/);
    } finally {
      await srv.sb.shutdown();
    }
  });

  it('http2.enabled=false: HTTPS stays HTTP/1.1 (ALPN offers no h2)', async () => {
    const srv = await startTlsServer(cert, ['--http2.enabled', 'false']);
    try {
      assert.equal((await peerCertificate(srv.port, [cert.pem], ['h2', 'http/1.1'])).protocol, 'http/1.1');
    } finally {
      await srv.sb.shutdown();
    }
  });

  it('advertises http2.maxConcurrentStreams, closes an idle HTTP/2 connection after http2.idleTimeout, keeps one with a stream', async () => {
    const srv = await startTlsServer(cert, ['--http2.maxConcurrentStreams', '7', '--http2.idleTimeout', '300ms', '--sse.heartbeatInterval', '1h']);
    const idle = h2connect(srv.url, { ca: [cert.pem] });
    const busy = h2connect(srv.url, { ca: [cert.pem] });
    try {
      await h2Json(idle, 'GET', '/healthz');
      assert.equal(idle.remoteSettings.maxConcurrentStreams, 7);
      const s = h2Sse(busy, '/events?channel=idle&user=i');
      await waitFor(() => s.events.some((e) => e.event === 'caught_up'), { label: 'caught_up' });
      await withTimeout(new Promise((r) => idle.once('close', r)), 3000, 'idle session closed');
      await sleep(500);
      await srv.sb.publish('idle', { still: 'open' });
      await waitFor(() => publications(s).length === 1, { label: 'the quiet stream still delivers' });
      assert.equal(busy.closed, false);
    } finally {
      idle.destroy();
      busy.destroy();
      await srv.sb.shutdown();
    }
  });

  it('cuts off slow clients after limits.handshakeTimeout: an unfinished TLS handshake, and unfinished HTTP/1.1 headers over TLS', async () => {
    const srv = await startTlsServer(cert, ['--limits.handshakeTimeout', '500ms']);
    try {
      const closedWithin = (socket: Socket, ms: number, label: string) =>
        withTimeout(new Promise<number>((resolve) => {
          const t0 = Date.now();
          socket.on('error', () => {});
          socket.once('close', () => resolve(Date.now() - t0));
        }), ms, label);
      // TCP connected, no ClientHello ever sent (Node's own default would wait 120 s).
      const raw = netConnect({ host: '127.0.0.1', port: srv.port });
      await closedWithin(raw, 3000, 'silent TLS client closed');
      // Handshake done (HTTP/1.1 by ALPN), request headers never finished: the https.Server's headersTimeout.
      const slow = tlsConnect({ host: '127.0.0.1', port: srv.port, servername: 'localhost', ca: [cert.pem], ALPNProtocols: ['http/1.1'] });
      await withTimeout(new Promise((r) => slow.once('secureConnect', r)), 3000, 'handshake');
      slow.resume(); // read the 400 the server answers, so the end of the stream is seen
      slow.write('GET /events?channel=slow&user=s HTTP/1.1\r\nHost: localhost\r\n');
      await closedWithin(slow, 3000, 'slow-header client closed');
    } finally {
      await srv.sb.shutdown();
    }
  });

  it('shutdown closes open HTTP/2 sessions', async () => {
    const srv = await startTlsServer(cert, ['--sse.heartbeatInterval', '1h']);
    const session = h2connect(srv.url, { ca: [cert.pem] });
    const s = h2Sse(session, '/events?channel=bye&user=s');
    await waitFor(() => s.events.some((e) => e.event === 'caught_up'), { label: 'caught_up' });
    await withTimeout(srv.sb.shutdown(), 5000, 'shutdown');
    await withTimeout(new Promise((r) => (session.closed ? r(undefined) : session.once('close', r))), 3000, 'session closed by shutdown');
    assert.ok(s.events.some((e) => e.event === 'disconnect'), 'told to reconnect elsewhere');
  });
});

/** ServerHttp2Stream.prototype, from a throwaway local HTTP/2 server. */
async function serverStreamPrototype(): Promise<ServerHttp2Stream> {
  const server = createH2Server();
  const got = new Promise<ServerHttp2Stream>((resolve) => server.once('stream', (st: ServerHttp2Stream) => {
    resolve(Object.getPrototypeOf(st) as ServerHttp2Stream);
    st.respond({ ':status': 204 });
    st.end();
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = h2connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.request({ ':path': '/' }).on('error', () => {}).resume();
  const proto = await withTimeout(got, 3000, 'throwaway http2 stream');
  client.close();
  server.close();
  return proto;
}
