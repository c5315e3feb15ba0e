/**
 * The WebSocket byte sink (transport/ws-socket-writer.ts) writes pre-built frames to the socket the server handed to
 * `WebSocketServer.handleUpgrade`, not to a private field of the `WebSocket`. These tests hold `ws` to what that
 * relies on, on a real socket read raw: frames written that way are the bytes `ws.send` puts on the wire, and `ws`'s
 * own control frames (ping, close) go to that same socket in call order, between ours.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { wsTextFrameOf } from '../../src/delivery/encoded.js';
import { WsSocketWriter } from '../../src/transport/ws-socket-writer.js';

/** Messages across the 7-, 16- and 64-bit length forms. */
const TEXTS = ['{"push":"publication","offset":1}', 'é'.repeat(150), 'x'.repeat(70_000)];

let server: http.Server;
let port = 0;
/** What the server does with the next upgraded connection. */
let onConnection: (ws: WebSocket, socket: Duplex) => void = () => {};

before(async () => {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server = http.createServer();
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

interface Frame {
  opcode: number;
  payload: Buffer;
}

/** Opens a WebSocket by hand on a plain TCP socket; resolves with the raw bytes after the 101 and their frames, once a close frame arrived. */
function rawSession(): Promise<{ raw: Buffer; frames: Frame[] }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let bodyAt = -1;
    const s = net.connect(port, '127.0.0.1', () =>
      s.write(`GET / HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${randomBytes(16).toString('base64')}\r\n\r\n`),
    );
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (bodyAt < 0) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
        bodyAt = end + 4;
      }
      const raw = buf.subarray(bodyAt);
      const frames: Frame[] = [];
      for (let at = 0; at + 2 <= raw.length; ) {
        const b1 = raw[at + 1]!;
        assert.equal(b1 & 0x80, 0, 'server frames are unmasked');
        const head = b1 < 126 ? 2 : b1 === 126 ? 4 : 10;
        if (at + head > raw.length) return;
        const len = b1 < 126 ? b1 : b1 === 126 ? raw.readUInt16BE(at + 2) : Number(raw.readBigUInt64BE(at + 2));
        if (at + head + len > raw.length) return;
        frames.push({ opcode: raw[at]! & 0x0f, payload: raw.subarray(at + head, at + head + len) });
        at += head + len;
        if (frames.at(-1)!.opcode === 8) {
          s.destroy();
          return resolve({ raw: Buffer.from(raw.subarray(0, at)), frames });
        }
      }
    });
  });
}

describe('WebSocket socket writer', () => {
  it('frames written to the upgrade socket are the bytes ws.send puts on the wire', async () => {
    onConnection = (ws) => {
      for (const t of TEXTS) ws.send(t);
      ws.close(1000, 'done');
    };
    const viaSend = await rawSession();
    onConnection = (ws, socket) => {
      const out = new WsSocketWriter(socket);
      // One coalesced flush, then another, as the outbound queue writes them.
      assert.equal(out.write(Buffer.concat([wsTextFrameOf(TEXTS[0]!), wsTextFrameOf(TEXTS[1]!)])), true);
      out.write(wsTextFrameOf(TEXTS[2]!));
      ws.close(1000, 'done');
    };
    const viaWriter = await rawSession();
    assert.deepEqual(viaWriter.frames.map((f) => f.payload.toString()), [...TEXTS, viaWriter.frames[3]!.payload.toString()]);
    assert.deepEqual(viaWriter.raw, viaSend.raw);
  });

  it("ws's ping and close frames go to the same socket, in call order between ours", async () => {
    let writer: WsSocketWriter | undefined;
    onConnection = (ws, socket) => {
      writer = new WsSocketWriter(socket);
      writer.write(wsTextFrameOf('first'));
      ws.ping('p');
      writer.write(wsTextFrameOf('second'));
      ws.close(4000, 'bye');
    };
    const { frames } = await rawSession();
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.opcode === 8 ? f.payload.readUInt16BE(0) : f.payload.toString()]),
      [[1, 'first'], [9, 'p'], [1, 'second'], [8, 4000]],
    );
    assert.equal(writer!.writableLength, 0);
    await writer!.waitDrain();
    assert.equal(writer!.write(wsTextFrameOf('late')), true, 'a closed socket takes (and drops) the bytes');
  });
});
