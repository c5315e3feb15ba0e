/**
 * The HTTP/1.x body sink of SSE streams (transport/sse-body-writer.ts), on real sockets read raw: the direct path
 * (each write framed as one HTTP/1.1 chunk, straight to the socket) and the public one (`res.write` in a cork: HTTP/1.0, a
 * response waiting behind a pipelined one, or forced) put the same body on the wire; one kernel write per body
 * write, handed over within the call (so the flush round's duration includes it); the head names the chunked
 * framing once; the socket's drain reaches a direct writer; and a pipelined stream keeps its order.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { forcePublicBodyWrites, http1BodySink, http1FramingHeaders, httpChunkOf, socketOf } from '../../src/transport/sse-body-writer.js';

const EVENTS = ['event: message\ndata: {"a":1}\nid: 1\n\n', 'data: ' + 'é'.repeat(300) + '\n\n', ': ping\n\n'].map((s) => Buffer.from(s));
const chunk = (b: Buffer) => Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n')]);
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * Counts the writes a socket hands to the kernel: the stream calls `_write` or `_writev` once per write request
 * (a corked batch is one `_writev`).
 */
function countKernelWrites(socket: Socket): () => number {
  let n = 0;
  const s = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write;
  const writev = s._writev;
  s._write = (...a) => (n++, write.apply(s, a));
  s._writev = (...a) => (n++, writev.apply(s, a));
  return () => n;
}

let server: http.Server;
let port = 0;
/** Kernel writes made synchronously by each body write of the latest stream, and whether it was direct. */
let writesPerCall: number[] = [];
let lastChunked: boolean | undefined;
let lastDrained: Promise<'drained' | 'timeout'> | undefined;
/** The handler per request path. */
const handlers: Record<string, (res: ServerResponse) => void> = {
  '/events': (res) => {
    const count = res.socket ? countKernelWrites(res.socket) : () => 0;
    const sink = http1BodySink(res);
    lastChunked = sink.direct;
    writesPerCall = [];
    const send = (b: Buffer) => {
      const n0 = count();
      sink.write(b);
      writesPerCall.push(count() - n0);
    };
    send(EVENTS[0]!);
    // The others on later turns, as flush rounds would.
    setImmediate(() => {
      send(EVENTS[1]!);
      setImmediate(() => {
        send(EVENTS[2]!);
        res.end();
      });
    });
  },
  // More than the socket takes at once, before the client reads: the sink must see its socket drain.
  '/big': (res) => {
    const sink = http1BodySink(res);
    lastChunked = sink.direct;
    const big = Buffer.alloc(8 << 20, 'x');
    sink.write(big);
    assert.ok(sink.writableLength > 0, 'bytes wait in user space');
    // A drain that never comes ends the stream after 5 s, so the test fails instead of hanging.
    const timeout = new Promise<'timeout'>((r) => setTimeout(r, 5000, 'timeout').unref());
    lastDrained = Promise.race([sink.waitDrain().then(() => 'drained' as const), timeout]).then((how) => {
      if (how === 'drained') {
        assert.equal(sink.writableLength, 0);
        res.end();
      } else {
        res.destroy();
      }
      return how;
    });
  },
  // Pipelined after /slow: it writes while /slow is still streaming.
  '/slow': (res) => {
    const sink = http1BodySink(res);
    sink.write(Buffer.from('data: slow-1\n\n'));
    setTimeout(() => {
      sink.write(Buffer.from('data: slow-2\n\n'));
      res.end();
    }, 100);
  },
  '/fast': (res) => {
    const sink = http1BodySink(res);
    lastChunked = sink.direct;
    sink.write(Buffer.from('data: fast-1\n\n'));
    sink.write(Buffer.from('data: fast-2\n\n'));
    res.end();
  },
};

before(async () => {
  server = http.createServer((req: IncomingMessage, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', ...http1FramingHeaders(req) });
    res.flushHeaders();
    handlers[req.url!]!(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());
afterEach(() => forcePublicBodyWrites(false));

/** Sends `request` on a plain TCP socket and resolves with every byte received until the server closes. */
function raw(request: string, opts: { readAfterMs?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    if (opts.readAfterMs) {
      s.pause();
      setTimeout(() => s.resume(), opts.readAfterMs);
    }
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
const get = (path: string, version: string, close = true) => `GET ${path} HTTP/${version}\r\nhost: x\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
const split = (response: Buffer) => {
  const at = response.indexOf('\r\n\r\n');
  return { head: response.subarray(0, at).toString('latin1'), body: response.subarray(at + 4) };
};

describe('httpChunkOf', () => {
  it('frames bytes as one HTTP/1.1 chunk (hex size)', () => {
    for (const b of EVENTS) assert.deepEqual(httpChunkOf(b), chunk(b));
  });
});

describe('SSE HTTP/1.x body sink', () => {
  it('HTTP/1.1 direct: one chunk per write, one kernel write each, handed over within the call; one chunked header', async () => {
    const { head, body } = split(await raw(get('/events', '1.1')));
    assert.equal(lastChunked, true, 'direct path');
    assert.deepEqual(body, Buffer.concat([...EVENTS.map(chunk), LAST_CHUNK]));
    assert.deepEqual(writesPerCall, [1, 1, 1]);
    assert.equal(head.match(/transfer-encoding/gi)?.length, 1, head);
    assert.match(head, /transfer-encoding: chunked/i);
  });

  it('HTTP/1.1 forced public (res.write in a cork): the same body, one kernel write each', async () => {
    forcePublicBodyWrites(true);
    const { head, body } = split(await raw(get('/events', '1.1')));
    assert.equal(lastChunked, false, 'public path');
    assert.deepEqual(body, Buffer.concat([...EVENTS.map(chunk), LAST_CHUNK]));
    assert.deepEqual(writesPerCall, [1, 1, 1]);
    assert.equal(head.match(/transfer-encoding/gi)?.length, 1, head);
  });

  it('HTTP/1.0: the public path and the bare body (no chunked encoding), one kernel write each', async () => {
    const { head, body } = split(await raw(get('/events', '1.0')));
    assert.equal(lastChunked, false);
    assert.deepEqual(body, Buffer.concat(EVENTS));
    assert.deepEqual(writesPerCall, [1, 1, 1]);
    assert.doesNotMatch(head, /transfer-encoding/i);
  });

  for (const forced of [false, true]) {
    it(`waitDrain resolves once the socket drained (${forced ? 'public' : 'direct'} path)`, async () => {
      forcePublicBodyWrites(forced);
      lastDrained = undefined;
      const response = await raw(get('/big', '1.1'), { readAfterMs: 200 });
      assert.equal(lastChunked, !forced);
      assert.equal(await lastDrained, 'drained');
      assert.ok(split(response).body.length > 8 << 20);
    });
  }

  it('a stream pipelined behind another takes the public path and keeps its bytes after the first response', async () => {
    const all = (await raw(get('/slow', '1.1', false) + get('/fast', '1.1'))).toString();
    assert.equal(lastChunked, false, 'the waiting response has no socket of its own yet');
    const slow = all.indexOf('data: slow-1');
    const slowEnd = all.indexOf('0\r\n\r\n', all.indexOf('data: slow-2'));
    const fastHead = all.indexOf('HTTP/1.1 200', slow);
    assert.ok(slow > 0 && slowEnd > slow, all);
    assert.ok(fastHead > slowEnd, `the second response starts after the first ends:\n${all}`);
    assert.ok(all.indexOf('data: fast-1') > fastHead && all.indexOf('data: fast-2') > all.indexOf('data: fast-1'), all);
    assert.ok(all.endsWith('0\r\n\r\n'), all);
  });

  it('socketOf names why a response cannot be written directly', () => {
    const socket = new net.Socket();
    const base = { headersSent: true, writableLength: 0, req: { httpVersionMajor: 1, httpVersionMinor: 1 } };
    assert.equal(socketOf({ ...base, socket } as unknown as ServerResponse), socket);
    assert.equal(socketOf({ ...base, socket: null } as unknown as ServerResponse), 'not-on-socket');
    assert.equal(socketOf({ ...base, socket, headersSent: false } as unknown as ServerResponse), 'not-on-socket');
    // Bytes of its own not yet on the socket (e.g. a head still queued).
    assert.equal(socketOf({ ...base, socket, writableLength: 10 } as unknown as ServerResponse), 'not-on-socket');
    assert.equal(socketOf({ ...base, socket, req: { httpVersionMajor: 1, httpVersionMinor: 0 } } as unknown as ServerResponse), 'http/1.0');
    forcePublicBodyWrites(true);
    assert.equal(socketOf({ ...base, socket } as unknown as ServerResponse), 'forced');
    socket.destroy();
  });
});
