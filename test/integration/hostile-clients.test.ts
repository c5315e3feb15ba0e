/**
 * Hostile clients against a real server (in this process, via createSwitchboard): each attack must leave the server
 * healthy, its state bounded (counted through /api/stats and, where bytes could pile up, the process's memory after
 * a forced GC), and other clients unaffected.
 *
 * - a subscriber that stops reading while 20 MB are published on its channel
 * - a client opening thousands of subscriptions
 * - a client flooding 10,000 commands
 * - clients that never finish their request headers (slowloris on the upgrade and on SSE)
 * - many connections from one IP / one user / in total, one after another and all at once
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, nodeOf } from '../../src/server.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { signingKey, type SigningKey } from '../helpers/tokens.js';
import { sleep, waitFor, withTimeout } from '../helpers/wait.js';
import { connectReady, type Frame } from '../helpers/ws-client.js';


const DOCS = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** A forced full GC (exposed at run time: the test runner does not pass --expose-gc). */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Bytes held by this process's JS heap and its ArrayBuffers (Buffers), after a full GC. */
function heldBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
const MB = 1024 * 1024;

/** Health endpoints answer and (in development mode, where no token is needed) a new client connects and pings. */
async function healthy(srv: TestServer, opts: { connect?: boolean } = {}): Promise<void> {
  assert.equal((await srv.api('GET', '/healthz')).status, 200);
  assert.equal((await srv.api('GET', '/readyz')).status, 200);
  if (opts.connect === false) return;
  const { client } = await connectReady(`${srv.wsUrl}?user=health-probe`);
  assert.deepEqual(await client.call('ping'), {});
  await client.close();
}

async function connectionsBackTo(srv: TestServer, n: number): Promise<Record<string, any>> {
  return waitFor(async () => {
    const s = await srv.stats();
    return s.connections === n ? s : undefined;
  }, { timeout: 5000, label: `connections back to ${n}` });
}

/** A raw `ws` client that keeps only what the test needs (a WsClient would keep every parsed frame). */
function rawWs(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    }),
    3000,
    `connect ${url}`,
  );
}

// --- 1. a subscriber that never reads ----------------------------------------------------------------------------

describe('hostile: a subscriber that stops reading on a busy channel', () => {
  const QUEUE = 256 * 1024;
  const PAYLOAD = 10 * 1024;
  const TOTAL = 20 * MB;
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--client.queueMaxBytes', String(QUEUE), '--history.size', '10']);
  });
  after(() => srv.close());

  it('is closed as slow (4001) while 20 MB are published; memory stays bounded; a fast client gets everything in order', async (t) => {
    const fast = await rawWs(`${srv.wsUrl}?user=fast`);
    const slow = await rawWs(`${srv.wsUrl}?user=slow`);
    const fastOffsets: number[] = [];
    let fastBad = 0;
    fast.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Frame;
      if (m.push === 'publication') {
        if (m.payload.pad.length !== PAYLOAD) fastBad++;
        fastOffsets.push(m.offset);
      }
    });
    const slowClosed = new Promise<number>((resolve) => slow.once('close', (code: number) => resolve(code)));
    for (const [ws, id] of [[fast, 1], [slow, 2]] as const) ws.send(JSON.stringify({ id, method: 'subscribe', params: { channel: 'firehose' } }));
    await waitFor(async () => (await srv.stats()).subscriptions === 2, { label: 'both subscribed' });

    const baseline = heldBytes();
    (slow as unknown as { _socket: Socket })._socket.pause();
    const pad = 'x'.repeat(PAYLOAD);
    const count = Math.ceil(TOTAL / PAYLOAD);
    let peak = 0;
    let slowGoneAt = 0;
    const WINDOW = 16; // 160 KB ahead of the fast client, inside its 256 KB queue
    for (let n = 1; n <= count; n++) {
      if (n - fastOffsets.length > WINDOW) await waitFor(() => n - fastOffsets.length <= WINDOW, { timeout: 5000, interval: 1, label: `fast client at ${n}` });
      await srv.sb.publish('firehose', { n, pad });
      if (n % 250 === 0) peak = Math.max(peak, heldBytes() - baseline);
      if (!slowGoneAt && nodeOf(srv.sb).hub.connectionsOf('slow') === 0) slowGoneAt = n;
    }
    await waitFor(() => fastOffsets.length === count, { timeout: 10_000, label: 'fast client to get everything', describe: () => `${fastOffsets.length}/${count}` });
    t.diagnostic(`published ${count} × ${PAYLOAD / 1024} KB; slow client gone after ${slowGoneAt}; peak held growth ${(peak / MB).toFixed(1)} MB`);

    assert.deepEqual(fastOffsets, Array.from({ length: count }, (_, i) => i + 1), 'fast client: every publication, in order');
    assert.equal(fastBad, 0);
    assert.ok(slowGoneAt > 0, 'the slow client was disconnected');
    // Without the queue bound the server would hold most of the 20 MB for the slow client.
    assert.ok(peak < 8 * MB, `held memory grew by ${(peak / MB).toFixed(1)} MB while 20 MB were published`);
    const stats = await connectionsBackTo(srv, 1);
    assert.ok(stats.slowDisconnects >= 1, `slowDisconnects ${stats.slowDisconnects}`);
    assert.equal(stats.subscriptions, 1);

    // The slow client, reading again, finds the close frame behind what the kernel buffered: 4001 slow.
    (slow as unknown as { _socket: Socket })._socket.resume();
    assert.equal(await withTimeout(slowClosed, 10_000, 'slow client close'), 4001);
    assert.ok(/\| 4001 \| `slow`/.test(DOCS));
    fast.close();
    await connectionsBackTo(srv, 0);
    assert.ok(heldBytes() - baseline < 4 * MB, 'memory back near the baseline');
    await healthy(srv);
  });
});

// --- 2. thousands of subscriptions --------------------------------------------------------------------------------

describe('hostile: a client opening thousands of subscriptions', () => {
  const MAX_SUBS = 20;
  const ATTEMPTS = 3000;
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--client.maxSubscriptions', String(MAX_SUBS), '--limits.commandRate', '0']);
  });
  after(() => srv.close());

  it('is refused at client.maxSubscriptions with limit_exceeded; the hub holds only what was granted', async () => {
    const { client } = await connectReady(`${srv.wsUrl}?user=hoarder`);
    srv.track(client);
    for (let i = 1; i <= ATTEMPTS; i++) client.send({ id: i, method: 'subscribe', params: { channel: `hoard-${i}` } });
    await waitFor(() => client.messages.filter((m) => typeof m.id === 'number').length >= ATTEMPTS, { timeout: 15_000, label: 'every subscribe answered' });
    const replies = client.messages.filter((m) => typeof m.id === 'number');
    const granted = replies.filter((m) => m.result).map((m) => m.id as number);
    const refused = replies.filter((m) => m.error);
    assert.deepEqual(granted, Array.from({ length: MAX_SUBS }, (_, i) => i + 1), 'the first client.maxSubscriptions are granted, in order');
    assert.equal(refused.length, ATTEMPTS - MAX_SUBS);
    assert.ok(refused.every((m) => m.error.code === 'limit_exceeded'), JSON.stringify(refused.find((m) => m.error.code !== 'limit_exceeded')));
    assert.match(refused[0]!.error.message, /client\.maxSubscriptions/);
    assert.equal(client.isClosed, false, 'refusals are not bad frames: the connection stays open');

    let s = await srv.stats();
    assert.equal(s.subscriptions, MAX_SUBS);
    assert.equal(s.channels, MAX_SUBS);
    // Room again after an unsubscribe; refused again when full.
    await client.call('unsubscribe', { channel: 'hoard-1' });
    await client.call('subscribe', { channel: 'hoard-new' });
    assert.equal((await client.request('subscribe', { channel: 'hoard-newer' })).error?.code, 'limit_exceeded');

    await client.close();
    s = await connectionsBackTo(srv, 0);
    assert.equal(s.subscriptions, 0, 'no subscription left behind');
    assert.equal(s.channels, 0, 'no channel left in the hub index');
    await healthy(srv);
  });
});

// --- 3. command flood ---------------------------------------------------------------------------------------------

describe('hostile: a client flooding 10,000 commands', () => {
  const RATE = 100;
  const REJECT_LIMIT = 50;
  const FLOOD = 10_000;
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--limits.commandRate', String(RATE), '--limits.commandRejectLimit', String(REJECT_LIMIT)]);
  });
  after(() => srv.close());

  /** A client on channel `calm` that keeps receiving publications and answering pings while the flood runs. */
  async function bystander() {
    const { client } = await connectReady(`${srv.wsUrl}?user=bystander`);
    srv.track(client);
    await client.call('subscribe', { channel: 'calm' });
    return client;
  }

  it(
    'is refused with too_many_requests past limits.commandRate, then closed with 4006; other clients are unaffected',
    async (t) => {
      const calm = await bystander();
      const { client: flooder } = await connectReady(`${srv.wsUrl}?user=flooder`);
      srv.track(flooder);
      const started = performance.now();
      for (let i = 0; i < FLOOD; i++) flooder.ws.send(`{"id":${i},"method":"ping"}`);
      // Publications and a ping for the bystander during the flood.
      const positions = [];
      for (let n = 1; n <= 20; n++) positions.push((await srv.publish('calm', { n })).offset);
      assert.deepEqual(await calm.call('ping'), {});

      const closed = await flooder.waitClosed(10_000);
      const elapsed = (performance.now() - started) / 1000;
      const results = flooder.messages.filter((m) => 'result' in m);
      const refusals = flooder.messages.filter((m) => m.error);
      t.diagnostic(`flooder: ${results.length} results, ${refusals.length} refusals, closed ${closed.code} "${closed.reason}" after ${elapsed.toFixed(2)} s`);

      assert.equal(closed.code, 4006);
      assert.ok(refusals.length >= 1 && refusals.length <= REJECT_LIMIT, `${refusals.length} refusals`);
      assert.ok(refusals.every((m) => m.error.code === 'too_many_requests' && m.id === null), JSON.stringify(refusals[0]));
      // At most the burst plus what the rate refilled meanwhile (with room for scheduling).
      assert.ok(results.length <= 2 * RATE + RATE * elapsed + 10, `${results.length} commands ran in ${elapsed.toFixed(2)} s`);
      assert.ok(results.length < FLOOD / 10, 'most of the flood was never run');

      const got = await waitFor(() => {
        const pubs = calm.messages.filter((m) => m.push === 'publication' && m.channel === 'calm');
        return pubs.length >= positions.length ? pubs : undefined;
      }, { timeout: 3000, label: 'bystander publications' });
      assert.deepEqual(got.map((m) => m.payload.n), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal(calm.isClosed, false);
      await connectionsBackTo(srv, 1);
      await healthy(srv);
    },
  );

  it('too_many_requests and close code 4006 are documented in docs/protocol.md', () => {
    assert.ok(DOCS.includes('`too_many_requests`'), 'error code too_many_requests');
    assert.ok(/^\| 4006 \|/m.test(DOCS), 'close code 4006 in the close-code table');
  });

  it('without a command rate (limits.commandRate 0) 10,000 pipelined pings are all answered and the connection survives', async () => {
    const open = await startServer(['--limits.commandRate', '0']);
    try {
      const { client } = await connectReady(`${open.wsUrl}?user=pipeliner`);
      open.track(client);
      for (let i = 0; i < FLOOD; i++) client.ws.send(`{"id":${i},"method":"ping"}`);
      await waitFor(() => client.isClosed || client.messages.length >= FLOOD + 1, { timeout: 15_000, label: 'every ping answered' });
      assert.equal(client.isClosed, false, `closed ${JSON.stringify(client.isClosed ? await client.closed : undefined)}`);
      const ids = client.messages.filter((m) => 'result' in m).map((m) => m.id as number);
      assert.equal(ids.length, FLOOD);
      assert.ok(ids.every((id, i) => id === i), 'answered in order');
      await healthy(open);
    } finally {
      await open.close();
    }
  });
});

// --- 4. slowloris --------------------------------------------------------------------------------------------------

describe('hostile: clients that never finish their request headers', () => {
  const HANDSHAKE_MS = 1000;
  /** Closed within handshakeTimeout plus this much (timer granularity, a loaded 2-core machine). */
  const SLACK_MS = 2000;
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--limits.handshakeTimeout', `${HANDSHAKE_MS}ms`]);
  });
  after(() => srv.close());

  /** Opens a raw TCP connection; resolves with it and a promise of its close time (ms after open). */
  async function rawTcp(): Promise<{ socket: Socket; closedAfter: Promise<number> }> {
    const socket = connect(srv.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const opened = performance.now();
    socket.on('error', () => {});
    socket.on('data', () => {}); // a 408/400 answer, if any
    const closedAfter = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - opened)));
    return { socket, closedAfter };
  }

  const within = async (closedAfter: Promise<number>, socket: Socket, what: string) => {
    const limit = HANDSHAKE_MS + SLACK_MS;
    const ms = await Promise.race([closedAfter, sleep(limit).then(() => Infinity)]);
    socket.destroy();
    assert.ok(ms <= limit, `${what}: socket still open after ${limit} ms (limits.handshakeTimeout = ${HANDSHAKE_MS} ms)`);
    return ms;
  };

  it(
    'half a WebSocket upgrade request, then silence: closed within limits.handshakeTimeout',
    async (t) => {
      const { socket, closedAfter } = await rawTcp();
      socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`);
      t.diagnostic(`closed after ${Math.round(await within(closedAfter, socket, 'half upgrade'))} ms`);
      await healthy(srv);
    },
  );

  it(
    'SSE request headers trickled one byte every 500 ms: closed within limits.handshakeTimeout',
    async (t) => {
      const { socket, closedAfter } = await rawTcp();
      const request = `GET /events?channel=slowloris HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAccept: text/event-stream\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`;
      let stop = false;
      void closedAfter.then(() => (stop = true));
      void (async () => {
        for (const ch of request) {
          if (stop || socket.destroyed) return;
          socket.write(ch);
          await sleep(500);
        }
      })();
      t.diagnostic(`closed after ${Math.round(await within(closedAfter, socket, 'trickled SSE headers'))} ms`);
      stop = true;
      await healthy(srv);
    },
  );

  it('many stalled handshakes at once do not stop others from connecting', async () => {
    const stalled = await Promise.all(Array.from({ length: 50 }, () => rawTcp()));
    for (const { socket } of stalled) socket.write('GET /ws HTTP/1.1\r\nHost: x\r\n');
    await healthy(srv);
    const s = await srv.stats();
    assert.equal(s.connections, 0, 'stalled handshakes are not connections');
    for (const { socket } of stalled) socket.destroy();
  });
});

// --- 4b. malformed requests carrying credentials -----------------------------------------------------------------

describe('hostile: malformed requests carrying credentials', () => {
  it('are answered 400 and closed, and their raw bytes (token, Authorization header) are not logged, even at debug level', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const sb = createSwitchboard({
      config: loadConfig({ argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', 'debug', '--limits.connectRate', '0'] }),
      logger: pino({ level: 'debug' }, sink),
    });
    const { port } = await sb.listen();
    try {
      const token = 'SECRET-TOKEN-7c1f0e';
      const bearer = 'SECRET-BEARER-93ab21';
      for (const request of [
        `GET /ws?token=${token} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\nBad Header\r\n\r\n`,
        `GET /events?channel=a&token=${token} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`,
        `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: ${bearer}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${token}\r\n`,
      ]) {
        const socket = connect(port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        socket.on('error', () => {});
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        socket.write(request);
        await withTimeout(closed, 3000, 'server to close the malformed request');
        assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(answer));
      }
      // Each refused request is logged once (at debug level); the secret checks below need all three lines.
      await waitFor(() => lines.filter((l) => l.includes('http client error')).length >= 3, { label: 'the malformed requests logged', describe: () => lines.join('') });
      const all = lines.join('');
      for (const secret of [token, bearer]) {
        assert.ok(!all.includes(secret), `"${secret}" appears in the log`);
        // pino serializes the parser error's \`rawPacket\` Buffer as a JSON byte array.
        const asBytes = Buffer.from(secret).toJSON().data.join(',');
        assert.ok(!all.includes(asBytes), `"${secret}" appears in the log as raw bytes (err.rawPacket of the clientError)`);
      }
    } finally {
      await sb.shutdown();
    }
  });
});

// --- 5. many connections -------------------------------------------------------------------------------------------

/** Tries a WebSocket upgrade: the open socket, or the refusal's status and JSON body. */
function tryUpgrade(url: string): Promise<{ status: number; body?: any; ws?: WebSocket }> {
  return withTimeout(
    new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve({ status: 101, ws }));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON: the assertion shows it */
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      ws.once('error', (err) => resolve({ status: 0, body: String(err) }));
    }),
    5000,
    `upgrade ${url}`,
  );
}

/** Opens an SSE stream: 200 with the response kept open, or the refusal's status and JSON body. */
function trySse(url: string): Promise<{ status: number; body?: any; res: IncomingMessage }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      get(url, { agent: false }, (res) => {
        if (res.statusCode === 200) return resolve({ status: 200, res });
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), res }));
      }).on('error', reject);
    }),
    5000,
    `GET ${url}`,
  );
}

function assertLimitRefusal(r: { status: number; body?: any }, status: number, option: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body?.error?.code, 'limit_exceeded', JSON.stringify(r.body));
  assert.match(r.body.error.message, option);
}

describe('hostile: many connections from one IP, one user, or in total', () => {
  it('one IP opening 30 connections one after another: refused past limits.connectionsPerIp (WebSocket and SSE), released on close', async () => {
    const srv = await startServer(['--limits.connectionsPerIp', '6']);
    try {
      const results = [];
      for (let i = 0; i < 25; i++) results.push(await tryUpgrade(`${srv.wsUrl}?user=ip-${i}`));
      const open = results.filter((r) => r.ws);
      assert.equal(open.length, 6);
      for (const r of results.slice(6)) assertLimitRefusal(r, 429, /limits\.connectionsPerIp/);
      for (let i = 0; i < 5; i++) assertLimitRefusal(await trySse(`${srv.url}/events?channel=x&user=sse-${i}`), 429, /limits\.connectionsPerIp/);
      assert.equal((await srv.stats()).connections, 6);
      for (const r of open) r.ws!.close();
      await connectionsBackTo(srv, 0);
      const again = await tryUpgrade(`${srv.wsUrl}?user=again`);
      assert.equal(again.status, 101, 'admitted again once the others closed');
      again.ws!.close();
      await connectionsBackTo(srv, 0);
    } finally {
      await srv.close();
    }
  });

  it('one user opening 10 connections: refused past limits.connectionsPerUser; other users unaffected', async () => {
    const srv = await startServer(['--limits.connectionsPerUser', '3']);
    try {
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await tryUpgrade(`${srv.wsUrl}?user=mallory`));
      assert.equal(results.filter((r) => r.ws).length, 3);
      for (const r of results.slice(3)) assertLimitRefusal(r, 429, /limits\.connectionsPerUser/);
      assertLimitRefusal(await trySse(`${srv.url}/events?channel=x&user=mallory`), 429, /limits\.connectionsPerUser/);
      const other = await tryUpgrade(`${srv.wsUrl}?user=alice`);
      assert.equal(other.status, 101);
      other.ws!.close();
      for (const r of results) r.ws?.close();
      await connectionsBackTo(srv, 0);
    } finally {
      await srv.close();
    }
  });

  it('past limits.connections the node answers 503 limit_exceeded', async () => {
    const srv = await startServer(['--limits.connections', '4']);
    try {
      const results = [];
      for (let i = 0; i < 8; i++) results.push(await tryUpgrade(`${srv.wsUrl}?user=n-${i}`));
      assert.equal(results.filter((r) => r.ws).length, 4);
      for (const r of results.slice(4)) assertLimitRefusal(r, 503, /limits\.connections\b/);
      assertLimitRefusal(await trySse(`${srv.url}/events?channel=x`), 503, /limits\.connections\b/);
      assert.equal((await srv.api('GET', '/healthz')).status, 200, 'health endpoints answer when the node is full');
      for (const r of results) r.ws?.close();
      await connectionsBackTo(srv, 0);
    } finally {
      await srv.close();
    }
  });

  describe('all at once, while authentication is slow (a cold JWKS cache: every client reconnecting after a restart)', () => {
    let key: SigningKey;
    let jwks: Server;
    let jwksUrl: string;
    before(async () => {
      key = await signingKey('ES256');
      // Answers after 300 ms, like a remote identity provider.
      jwks = createServer((_req, res) => {
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.publicJwk] })), 300);
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    after(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

    /** 30 WebSocket upgrades and 10 SSE streams started together; how many were admitted. */
    async function burst(srv: TestServer, user: (i: number) => string): Promise<{ admitted: number; statuses: number[] }> {
      const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => key.mint({ sub: user(i) })));
      const results = await Promise.all([
        ...tokens.slice(0, 30).map((tok) => tryUpgrade(`${srv.wsUrl}?token=${tok}`)),
        ...tokens.slice(30).map((tok) => trySse(`${srv.url}/events?channel=x&token=${tok}`)),
      ]);
      for (const r of results) {
        if ('ws' in r) r.ws?.close();
        if ('res' in r && r.status === 200) r.res.destroy();
      }
      return { admitted: results.filter((r) => r.status === 101 || r.status === 200).length, statuses: results.map((r) => r.status) };
    }

    for (const [limit, value, user] of [
      ['connectionsPerIp', 5, (i: number) => `burst-${i}`],
      ['connections', 4, (i: number) => `burst-${i}`],
      ['connectionsPerUser', 3, () => 'burst-same'],
    ] as const) {
      it(`limits.${limit} = ${value} holds against 40 simultaneous connection attempts`, async (t) => {
        const srv = await startServer([`--jwt.jwksUrl=${jwksUrl}`, `--limits.${limit}`, String(value)]);
        try {
          const { admitted, statuses } = await burst(srv, user);
          t.diagnostic(`admitted ${admitted} of 40: ${statuses.join(',')}`);
          // Found by this test: src/transport/websocket.ts and sse.ts check the address limits (checkAddress) before the
          // asynchronous authentication but count the connection (admission.add) only after it, so every attempt that
          // arrives while others authenticate passes the check.
          assert.ok(admitted <= value, `${admitted} connections admitted with limits.${limit} = ${value}`);
          await connectionsBackTo(srv, 0);
          await healthy(srv, { connect: false });
        } finally {
          await srv.close();
        }
      });
    }
  });
});
