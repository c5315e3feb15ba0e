/**
 * Replies that can carry many publications are bounded in bytes (`client.maxReplyBytes`, `api.maxReplyBytes`) and
 * page: a channel holding 100 publications of 500 KB is read a page of at most 1 MiB at a time, every publication
 * exactly once, in order, oldest first (`since`) and newest first (`before`). Clients that ask for history and never
 * read hold the server's memory to the queue bound plus one reply each, and the event loop stays free (/healthz);
 * commands sent behind a waiting reply are not read past the queue bound either.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../../src/client/index.js';
import { nodeOf } from '../../src/server.js';
import { deleteRedisPrefix, SHARED_REDIS_URL } from '../helpers/redis-prefix.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sleep, withTimeout } from '../helpers/wait.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

const MiB = 1024 * 1024;
const BIG = 'x'.repeat(500_000);
const COUNT = 100;

/** Publishes COUNT publications of 500 KB through the server API at `url`, in order. */
async function fill(url: string, channel: string): Promise<void> {
  for (let i = 1; i <= COUNT; i++) {
    const r = await fetch(`${url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel, data: { i, big: BIG } }) });
    assert.equal(r.status, 200, await r.text());
  }
}

/** Sizes of the text frames `client` receives from now on, by reply id. */
function frameSizes(client: WsClient): Map<number, number> {
  const sizes = new Map<number, number>();
  client.ws.on('message', (data: Buffer) => {
    const m = /^\{"id":(\d+),/.exec(data.subarray(0, 40).toString('latin1'));
    if (m) sizes.set(Number(m[1]), data.length);
  });
  return sizes;
}

/**
 * Counts the publications the broker hands the node through `method` (history or state) from now on: a bounded
 * reply must read about what it sends, not the channel's whole history.
 */
function countBrokerReads(srv: TestServer, method: 'history' | 'state'): { count: number; restore(): void } {
  const broker = nodeOf(srv.sb).broker;
  const history = broker.history;
  const state = broker.state;
  const reads = {
    count: 0,
    restore: () => {
      broker.history = history;
      broker.state = state;
    },
  };
  if (method === 'history') {
    broker.history = async (channel, query) => {
      const h = await history.call(broker, channel, query);
      reads.count += h.publications.length;
      return h;
    };
  } else {
    broker.state = async (channel, query) => {
      const page = await state.call(broker, channel, query);
      reads.count += page.publications.length;
      return page;
    };
  }
  return reads;
}

describe('history replies are bounded and page (memory broker, 100 x 500 KB)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--history.size', '100', '--history.ttl', '10m']);
    await fill(srv.url, 'big');
  });
  after(() => srv?.close());

  it('WebSocket history: each reply frame is within client.maxReplyBytes, says there is more, and paging gets every publication once in order', async () => {
    const { client } = await connectReady(`${srv.wsUrl}?user=pager`);
    srv.track(client);
    const sizes = frameSizes(client);
    // Publications the broker hands over per reply: a page reads about what it sends, not the channel's whole history.
    const reads = countBrokerReads(srv, 'history');
    for (const reverse of [false, true]) {
      const seen: number[] = [];
      let next: { epoch: string; offset: number } | undefined;
      for (let page = 0; page < COUNT + 1; page++) {
        const params = { channel: 'big', limit: 1000, reverse, ...(next ? { [reverse ? 'before' : 'since']: next } : {}) };
        reads.count = 0;
        const r = await client.request('history', params, 10_000);
        assert.ok(r.result, JSON.stringify(r.error));
        assert.ok(reads.count <= r.result.publications.length + 2, `${reads.count} publications read from the broker for a reply of ${r.result.publications.length}`);
        const id = r.id as number;
        // The bound counts the whole frame; the payload is what `ws` hands over (header of at most 10 bytes aside).
        assert.ok(sizes.get(id)! <= MiB, `reply ${id} is ${sizes.get(id)} bytes, over client.maxReplyBytes (1 MiB)`);
        for (const p of r.result.publications) {
          seen.push(p.offset);
          assert.equal(p.payload.big.length, BIG.length);
        }
        if (page === 0) assert.ok(r.result.next, 'a cut reply carries next');
        next = r.result.next;
        if (!next) break;
        assert.equal(next.offset, seen[seen.length - 1], 'next is the position of the last publication in the reply');
      }
      const want = Array.from({ length: COUNT }, (_, i) => i + 1);
      assert.deepEqual(seen, reverse ? want.reverse() : want);
    }
    reads.restore();
  });

  it('GET /api/history: each response is within api.maxReplyBytes, and paging with since / before gets every publication once in order', async () => {
    for (const reverse of [false, true]) {
      const seen: number[] = [];
      let next: string | undefined;
      for (let page = 0; page < COUNT + 1; page++) {
        const q = `channel=big&reverse=${reverse}` + (next ? `&${reverse ? 'before' : 'since'}=${next}` : '');
        const res = await fetch(`${srv.url}/api/history?${q}`);
        const text = await res.text();
        assert.equal(res.status, 200, text.slice(0, 200));
        assert.ok(Buffer.byteLength(text) <= MiB, `response is ${Buffer.byteLength(text)} bytes, over api.maxReplyBytes (1 MiB)`);
        const body = JSON.parse(text);
        for (const p of body.publications) seen.push(p.offset);
        if (page === 0) assert.ok(body.next, 'a cut response carries next');
        next = body.next;
        if (!next) break;
        assert.equal(next, `${body.epoch}:${seen[seen.length - 1]}`);
      }
      const want = Array.from({ length: COUNT }, (_, i) => i + 1);
      assert.deepEqual(seen, reverse ? want.reverse() : want);
    }
  });
});

for (const broker of ['memory', 'redis'] as const) describe(`reply bound edges (small bounds, ${broker} broker)`, () => {
  let srv: TestServer;
  const NAMESPACES = JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous' }, { name: 'h' }]);
  const prefix = `sbtr${randomBytes(4).toString('hex')}`;
  before(async () => {
    const redis = broker === 'redis' ? ['--redis.url', SHARED_REDIS_URL, '--redis.prefix', prefix] : [];
    srv = await startServer(['--namespaces', NAMESPACES, '--client.maxReplyBytes', '2000', '--api.maxReplyBytes', '2000', ...redis]);
  });
  after(async () => {
    await srv?.close();
    if (broker === 'redis') await deleteRedisPrefix(prefix);
  });

  it('history with since, before and limit together; a publication larger than the bound comes alone', async () => {
    for (let i = 1; i <= 30; i++) await srv.publish('h:small', { i, pad: 'p'.repeat(200) });
    await srv.publish('h:small', { i: 31, pad: 'q'.repeat(5000) });
    const { client } = await connectReady(`${srv.wsUrl}?user=edges`);
    srv.track(client);
    const offsets = (r: any) => r.result.publications.map((p: any) => p.offset);
    const first = await client.request('history', { channel: 'h:small', since: null, limit: 20 });
    const epoch = first.result.epoch;
    assert.ok(first.result.next && offsets(first).length < 20);
    // (since 5, before 12): newest first, 3 at most.
    const window = await client.request('history', { channel: 'h:small', since: { epoch, offset: 5 }, before: { epoch, offset: 12 }, limit: 3, reverse: true });
    assert.deepEqual(offsets(window), [11, 10, 9]);
    assert.equal(window.result.next, undefined, 'the limit, not the bound, ended this reply');
    const oldest = await client.request('history', { channel: 'h:small', since: { epoch, offset: 5 }, before: { epoch, offset: 9 }, limit: 100 });
    assert.deepEqual(offsets(oldest), [6, 7, 8]);
    const foreign = await client.request('history', { channel: 'h:small', before: { epoch: 'zzzz', offset: 9 } });
    assert.deepEqual(offsets(foreign), []);
    const huge = await client.request('history', { channel: 'h:small', since: { epoch, offset: 30 } });
    assert.deepEqual(offsets(huge), [31]);
    const bad = await client.request('history', { channel: 'h:small', before: 'x' });
    assert.equal(bad.error?.code, 'bad_request');
    assert.equal((await srv.api('GET', '/api/history?channel=h:small&before=nope')).body.error.code, 'bad_request');
  });

  it('the client SDK returns next and reads on with since / before', async () => {
    const c = createClient({ url: srv.wsUrl, params: { user: 'sdk' } });
    srv.track({ close: () => c.disconnect() });
    c.connect();
    for (const reverse of [false, true]) {
      const seen: number[] = [];
      let h = await c.history('h:small', { reverse });
      for (;;) {
        seen.push(...h.publications.map((p) => p.offset));
        if (!h.next) break;
        h = await c.history('h:small', { reverse, ...(reverse ? { before: h.next } : { since: h.next }) });
      }
      const want = Array.from({ length: 31 }, (_, i) => (reverse ? 31 - i : i + 1));
      assert.deepEqual(seen, want);
    }
  });

  it('GET /api/state pages cut by api.maxReplyBytes carry next, and the cursor reads every key once', async () => {
    for (let i = 0; i < 40; i++) {
      const r = await srv.api('POST', '/api/publish', { channel: 'kv:big', key: `k${i}`, data: 'v'.repeat(300) });
      assert.equal(r.status, 200);
    }
    // Entries the broker hands over per response: about what the response holds, not `limit`.
    const reads = countBrokerReads(srv, 'state');
    const keys: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 41; page++) {
      reads.count = 0;
      const res = await fetch(`${srv.url}/api/state?channel=kv:big&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.ok(Buffer.byteLength(text) <= 2000, `page of ${Buffer.byteLength(text)} bytes`);
      const body = JSON.parse(text);
      assert.ok(reads.count <= body.publications.length + 2, `${reads.count} entries read from the broker for a page of ${body.publications.length}`);
      for (const p of body.publications) keys.push(p.key);
      cursor = body.next;
      if (!cursor) break;
    }
    assert.deepEqual(keys, Array.from({ length: 40 }, (_, i) => `k${i}`));
    reads.restore();
  });
});

/** VmRSS of a process, in bytes. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('clients that ask for history and never read (built server in a child process)', () => {
  it('keep the server\'s memory bounded and /healthz prompt', async (t) => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'info', '--history.size', '100', '--history.ttl', '10m', '--limits.connectRate', '0'], {
      cwd: root,
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_') && !k.startsWith('OTEL_'))),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const clients: WsClient[] = [];
    try {
      const port = await withTimeout(
        new Promise<number>((resolve) => {
          let buf = '';
          child.stdout!.setEncoding('utf8').on('data', (s: string) => {
            buf += s;
            const m = /"port":(\d+)[^\n]*switchboard listening|switchboard listening[^\n]*"port":(\d+)/.exec(buf);
            if (m) resolve(Number(m[1] ?? m[2]));
          });
        }),
        20_000,
        'the server to listen',
      );
      const url = `http://127.0.0.1:${port}`;
      await fill(url, 'big');
      const baseline = rssOf(child.pid!);
      // 20 clients stop reading, then each asks for the whole history 20 times (1 GB of replies before the bound).
      for (let c = 0; c < 20; c++) {
        const { client } = await connectReady(`ws://127.0.0.1:${port}/ws?user=reader${c}`);
        clients.push(client);
        client.socket.pause();
        for (let i = 1; i <= 20; i++) client.send({ id: i, method: 'history', params: { channel: 'big', limit: 100 } });
      }
      // One of them then sends 40 MB of publishes, which wait behind its history replies: the server stops reading it.
      const flooder = clients[0]!;
      const data = 'y'.repeat(400_000);
      for (let i = 0; i < 100; i++) flooder.send({ id: 100 + i, method: 'publish', params: { channel: 'junk', data } });
      let worst = 0;
      let peak = baseline;
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        const started = performance.now();
        const r = await withTimeout(fetch(`${url}/healthz`), 5000, '/healthz');
        await r.text();
        worst = Math.max(worst, performance.now() - started);
        peak = Math.max(peak, rssOf(child.pid!));
        await sleep(50);
      }
      t.diagnostic(`/healthz worst ${worst.toFixed(0)} ms; RSS ${(baseline / MiB).toFixed(0)} MiB -> peak ${(peak / MiB).toFixed(0)} MiB`);
      assert.ok(flooder.ws.bufferedAmount > 20_000_000, `the server read ${((40e6 - flooder.ws.bufferedAmount) / 1e6).toFixed(0)} MB of commands it could not run yet`);
      assert.ok(worst < 200, `/healthz took ${worst.toFixed(0)} ms while history replies were pending`);
      assert.ok(peak - baseline < 150 * 1024 * 1024, `RSS grew ${((peak - baseline) / 1024 / 1024).toFixed(0)} MiB (from ${(baseline / 1024 / 1024).toFixed(0)} MiB)`);
    } finally {
      for (const c of clients) c.ws.terminate();
      child.kill('SIGKILL');
    }
  });
});
