import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectReady } from '../helpers/ws-client.js';

/** Sends a WebSocket upgrade request on a raw socket; resolves with the socket once the first response bytes arrive. */
function upgradeAndWaitReply(port: number): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.once('data', (d) => resolve({ socket, head: d.toString('latin1') }));
    socket.once('error', reject);
  });
}

describe('a client that resets its socket after an upgrade refusal', () => {
  let srv: TestServer;
  after(() => srv?.close());

  it('does not take the server down (the refused socket has an error listener)', async () => {
    srv = await startServer(['--limits.connectionsPerIp', '1']);
    const port = Number(new URL(srv.url).port);
    const { client } = await connectReady(`ws://127.0.0.1:${port}/ws`);
    for (let i = 0; i < 5; i++) {
      const { socket, head } = await upgradeAndWaitReply(port);
      assert.match(head, /^HTTP\/1\.1 429 /, 'the second connection from this IP is refused');
      // A reset instead of a FIN: the server's end of the socket gets ECONNRESET while ending its refusal.
      socket.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await srv.api('GET', '/healthz')).status, 200, 'the server still answers');
    assert.deepEqual(await client.call('ping'), {}, 'the admitted connection still works');
  });
});
