/**
 * The HTTP/1.1 body writer of SSE streams (transport/sse-body-writer.ts), public API only, on real sockets read raw:
 * the bytes (HTTP/1.1 chunks, or the bare body for HTTP/1.0), one kernel write per body write handed over within
 * the call (so the flush round's duration includes it), and the order of a response waiting behind a pipelined one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import http, { type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { http1BodyWriter } from '../../src/transport/sse-body-writer.js';

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
/** Kernel writes made synchronously by each body write of the latest stream. */
let writesPerCall: number[] = [];
/** The handler per request path. */
const handlers: Record<string, (res: ServerResponse) => void> = {
  '/events': (res) => {
    const count = res.socket ? countKernelWrites(res.socket) : () => 0;
    const write = http1BodyWriter(res);
    writesPerCall = [];
    const send = (b: Buffer) => {
      const n0 = count();
      write(b);
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
  // Pipelined after /slow: it writes while /slow is still streaming.
  '/slow': (res) => {
    const write = http1BodyWriter(res);
    write(Buffer.from('data: slow-1\n\n'));
    setTimeout(() => {
      write(Buffer.from('data: slow-2\n\n'));
      res.end();
    }, 100);
  },
  '/fast': (res) => {
    const write = http1BodyWriter(res);
    write(Buffer.from('data: fast-1\n\n'));
    write(Buffer.from('data: fast-2\n\n'));
    res.end();
  },
};

before(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    handlers[req.url!]!(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

/** Sends `request` on a plain TCP socket and resolves with every byte received until the server closes. */
function raw(request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
const get = (path: string, version: string, close = true) => `GET ${path} HTTP/${version}\r\nhost: x\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
const bodyOf = (response: Buffer) => response.subarray(response.indexOf('\r\n\r\n') + 4);

describe('SSE HTTP/1.1 body writer', () => {
  it('HTTP/1.1: one chunk per write, one kernel write each, handed over within the call', async () => {
    const body = bodyOf(await raw(get('/events', '1.1')));
    assert.deepEqual(body, Buffer.concat([...EVENTS.map(chunk), LAST_CHUNK]));
    assert.deepEqual(writesPerCall, [1, 1, 1]);
  });

  it('HTTP/1.0: the bare body (no chunked encoding), one kernel write each', async () => {
    const body = bodyOf(await raw(get('/events', '1.0')));
    assert.deepEqual(body, Buffer.concat(EVENTS));
    assert.deepEqual(writesPerCall, [1, 1, 1]);
  });

  it('a stream pipelined behind another keeps its bytes after the first response', async () => {
    const all = (await raw(get('/slow', '1.1', false) + get('/fast', '1.1'))).toString();
    const slow = all.indexOf('data: slow-1');
    const slowEnd = all.indexOf('0\r\n\r\n', all.indexOf('data: slow-2'));
    const fastHead = all.indexOf('HTTP/1.1 200', slow);
    assert.ok(slow > 0 && slowEnd > slow, all);
    assert.ok(fastHead > slowEnd, `the second response starts after the first ends:\n${all}`);
    assert.ok(all.indexOf('data: fast-1') > fastHead && all.indexOf('data: fast-2') > all.indexOf('data: fast-1'), all);
  });
});
