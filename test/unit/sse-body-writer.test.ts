/**
 * The HTTP/1.1 body writer of SSE streams (transport/sse-body-writer.ts): it reads two private ServerResponse fields
 * to write chunks straight to the socket. These tests notice when Node changes them: the fields are detected on a
 * real response, a response without them selects `res.write` (with one warning), and both paths put the same bytes
 * on a real socket, for a chunked (HTTP/1.1) and an unchunked (HTTP/1.0) response.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import http, { type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { bodyPathOf, forcePublicBodyWrites, http1BodyWriter, type BodyPath } from '../../src/transport/sse-body-writer.js';

const EVENTS = ['event: message\ndata: {"a":1}\nid: 1\n\n', 'data: ' + 'é'.repeat(300) + '\n\n', ': ping\n\n'].map((s) => Buffer.from(s));

let server: http.Server;
let port = 0;
/** What the handler saw for the latest request. */
let lastPath: BodyPath | undefined;

before(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    lastPath = bodyPathOf(res);
    const write = http1BodyWriter(res, lastPath);
    write(EVENTS[0]!);
    // The others on later turns, as flush rounds would.
    setImmediate(() => {
      write(EVENTS[1]!);
      setImmediate(() => {
        write(EVENTS[2]!);
        res.end();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

/** The raw bytes of a response after its header block, read from a plain TCP socket. */
function rawBody(httpVersion: '1.0' | '1.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET /events HTTP/${httpVersion}\r\nhost: x\r\nconnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      assert.ok(end > 0, 'a header block');
      resolve(all.subarray(end + 4));
    });
  });
}

describe('SSE HTTP/1.1 body writer', () => {
  it("detects Node's chunkedEncoding and outputData on a real response", async () => {
    await rawBody('1.1');
    assert.deepEqual(lastPath, { direct: true, chunked: true });
    await rawBody('1.0');
    assert.deepEqual(lastPath, { direct: true, chunked: false });
  });

  it('a response without the fields, or with other types, selects res.write, warning once', async () => {
    const warnings: Array<Error & { code?: string }> = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const socket = new net.Socket();
    try {
      const base = { socket, headersSent: true };
      const pathOf = (extra: object) => bodyPathOf({ ...base, ...extra } as unknown as ServerResponse);
      assert.deepEqual(pathOf({}), { direct: false, why: 'fields-missing' });
      assert.deepEqual(pathOf({ chunkedEncoding: true }), { direct: false, why: 'fields-missing' });
      assert.deepEqual(pathOf({ chunkedEncoding: 1, outputData: [] }), { direct: false, why: 'fields-missing' });
      assert.deepEqual(pathOf({ chunkedEncoding: true, outputData: [] }), { direct: true, chunked: true });
      assert.deepEqual(pathOf({ chunkedEncoding: true, outputData: ['x'] }), { direct: false, why: 'not-on-socket' });
      // process.emitWarning delivers on the next tick.
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.filter((w) => w.code === 'SWITCHBOARD_SSE_PUBLIC_WRITES').length, 1);
    } finally {
      process.off('warning', onWarning);
      socket.destroy();
    }
  });

  for (const version of ['1.1', '1.0'] as const) {
    it(`the res.write fallback puts the same bytes on the socket as the direct path (HTTP/${version})`, async () => {
      const direct = await rawBody(version);
      assert.equal(lastPath?.direct, true);
      forcePublicBodyWrites(true);
      let fallback: Buffer;
      try {
        fallback = await rawBody(version);
        assert.deepEqual(lastPath, { direct: false, why: 'forced' });
      } finally {
        forcePublicBodyWrites(false);
      }
      const body = Buffer.concat(EVENTS);
      if (version === '1.1') {
        const chunk = (b: Buffer) => Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n')]);
        assert.deepEqual(direct, Buffer.concat([...EVENTS.map(chunk), Buffer.from('0\r\n\r\n')]));
      } else {
        assert.deepEqual(direct, body);
      }
      assert.deepEqual(fallback, direct);
    });
  }
});
