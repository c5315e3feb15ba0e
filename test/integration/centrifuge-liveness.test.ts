/**
 * Centrifuge connections share the WebSocket transport's liveness and slow-consumer protection with native ones:
 * Centrifuge's own pings (`{}` every websocket.pingInterval, answered `{}`; a client that stops answering is closed
 * as stale), websocket.writeTimeout for a client that stops reading at the TCP level, and commands pipelined behind
 * `connect` kept for the session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import type { Switchboard } from '../../src/server.js';
import { startJwtServer } from '../helpers/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'centrifuge-liveness-secret-32-bytes!';

describe('centrifuge connections: liveness and write timeout', () => {
  let sb: Switchboard;
  let base: string;
  let endpoint: string;

  before(async () => {
    const s = await startJwtServer(SECRET, {
      websocket: { pingInterval: 1000, pongTimeout: 1000, writeTimeout: 1000 },
      // Large enough that only the write timeout can end a client that stops reading (not a full queue, 4001).
      client: { queueMaxBytes: 256 * 1024 * 1024 },
    });
    sb = s.sb;
    base = s.wsUrl.replace('ws://', 'http://').replace('/ws', '');
    endpoint = s.wsUrl.replace('/ws', '/connection/websocket');
  });
  /** Everything a test opened, ended even when it fails (the shutdown would otherwise wait for them). */
  const opened: { close(): void }[] = [];
  after(async () => {
    for (const o of opened) o.close();
    await sb.shutdown();
  });

  /** `switchboard_disconnections_total` of WebSocket connections closed with `code`. */
  const closedWith = async (code: number): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer k' } })).text();
    const line = text.split('\n').find((l) => l.startsWith('switchboard_disconnections_total{') && l.includes('transport="websocket"') && l.includes(`code="${code}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  /** A raw Centrifuge connection past its `connect` reply, with every frame it reads. */
  const rawConnect = async (user: string) => {
    const ws = new WebSocket(endpoint);
    opened.push({ close: () => ws.terminate() });
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(...d.toString().split('\n').filter((l) => l.trim() !== '')));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ id: 1, connect: { token: await mintHs256(SECRET, { sub: user }) } }));
    await waitFor(() => frames.length >= 1, { label: 'connect reply' });
    assert.ok(JSON.parse(frames[0]!).connect, frames[0]);
    return { ws, frames };
  };

  it('pings with {} and keeps a client that answers; closes one that does not as stale (4002)', async () => {
    const c = new Centrifuge(endpoint, { websocket: WebSocket, token: await mintHs256(SECRET, { sub: 'pinger' }) });
    const disconnected: unknown[] = [];
    c.on('disconnected', (ctx) => disconnected.push(ctx));
    opened.push({ close: () => c.disconnect() });
    c.connect();
    await c.ready(5000);

    // A client that reads but never answers `{}` (its WebSocket library answers ping frames; these are not those).
    const staleBefore = await closedWith(4002);
    const { ws, frames } = await rawConnect('silent');
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    await waitFor(() => frames.includes('{}'), { timeout: 3000, label: 'a {} ping' });
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not closed as stale')), 5000))]);
    await waitFor(async () => (await closedWith(4002)) === staleBefore + 1, { label: 'closed as stale' });

    // Several ping intervals later the real client, which answers, is still connected.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(c.state, 'connected');
    assert.deepEqual(disconnected, []);
    c.disconnect();
  });

  it('closes a client that stops reading after websocket.writeTimeout (4003)', async () => {
    const before = await closedWith(4003);
    const { ws, frames } = await rawConnect('stalled');
    ws.send(JSON.stringify({ id: 2, subscribe: { channel: 'flood' } }));
    await waitFor(() => frames.length >= 2, { label: 'subscribe reply' });
    // Stop reading: TCP fills, the server's writes stay unflushed.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const pad = 'x'.repeat(256 * 1024);
    // Bounded: 400 x 256 KiB (100 MiB) is far more than loopback TCP buffers hold.
    for (let n = 0; n < 400 && (await closedWith(4003)) === before; n++) {
      await sb.publish('flood', { n, pad });
      if (n % 20 === 19) await new Promise((r) => setTimeout(r, 200));
    }
    await waitFor(async () => (await closedWith(4003)) === before + 1, { timeout: 5000, label: 'closed by the write timeout' });
    ws.terminate();
  });

  it('answers commands sent right behind connect, before its reply, in order', async () => {
    const ws = new WebSocket(endpoint);
    opened.push({ close: () => ws.terminate() });
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(...d.toString().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // Three frames in a row: the two commands arrive while the token is being verified.
    ws.send(JSON.stringify({ id: 1, connect: { token: await mintHs256(SECRET, { sub: 'eager' }) } }));
    ws.send(JSON.stringify({ id: 2, subscribe: { channel: 'eager' } }));
    ws.send(JSON.stringify({ id: 3, presence: { channel: 'eager' } }));
    await waitFor(() => frames.filter((f) => f.id !== undefined).length >= 3, { label: 'three replies' });
    const replies = frames.filter((f) => f.id !== undefined);
    assert.deepEqual(replies.map((f) => [f.id, Object.keys(f).find((k) => k !== 'id')]), [[1, 'connect'], [2, 'subscribe'], [3, 'presence']]);
  });
});
