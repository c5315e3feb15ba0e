// Keyed-channel snapshot benchmark: how long a client takes to receive the whole state of a channel with N keys
// (default 50,000), over WebSocket and SSE, how many bytes that is, and the server's peak RSS while it streams.
//
//   npm run build && node bench/snapshot.js [--keys 50000] [--redis redis://127.0.0.1:6379] [--clients 1]
//
// Starts `node dist/cli/main.js serve` on a free port (memory broker, or Redis with a fresh key prefix that is
// deleted afterwards), fills the channel over one WebSocket (pipelined keyed publishes), then times fresh
// subscribers: from sending `subscribe` (or opening the SSE stream) to the last snapshot entry received.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { freePort } from './lib/free-port.js';
import WebSocket from 'ws';
import { createClient } from 'redis';
import { rssBytes } from './lib/proc.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const KEYS = Number(opt('keys', 50_000));
const REDIS = opt('redis', '');
const CLIENTS = Number(opt('clients', 1));
const CHANNEL = 'kv:bench';
const PREFIX = `sbbench${randomBytes(3).toString('hex')}`;


const port = await freePort();
const env = {
  ...process.env,
  SWITCHBOARD_NAMESPACES: JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous', publish: true }]),
  SWITCHBOARD_LIMITS_COMMAND_RATE: '0',
  SWITCHBOARD_LIMITS_CONNECT_RATE: '0',
  ...(REDIS ? { SWITCHBOARD_REDIS_URL: REDIS, SWITCHBOARD_REDIS_PREFIX: PREFIX, SWITCHBOARD_WORKERS: '1' } : {}),
};
const server = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--port', String(port), '--log-level', 'warn'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
const base = `127.0.0.1:${port}`;

async function waitReady() {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${base}/readyz`)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not become ready');
}

function openWs(user) {
  const ws = new WebSocket(`ws://${base}/ws?user=${user}`);
  return once(ws, 'open').then(() => ws);
}

/** Fills the channel: KEYS pipelined publishes (~100-byte values), 1000 in flight at most. */
async function fill() {
  const ws = await openWs('filler');
  let acked = 0;
  let sent = 0;
  const done = new Promise((resolve, reject) => {
    ws.on('message', (m) => {
      const r = JSON.parse(m.toString());
      if (r.error) reject(new Error(JSON.stringify(r.error)));
      if (r.id !== undefined && ++acked === KEYS) resolve();
      else pump();
    });
  });
  const pump = () => {
    while (sent < KEYS && sent - acked < 1000) {
      const i = sent++;
      ws.send(JSON.stringify({ id: i, method: 'publish', params: { channel: CHANNEL, key: `key-${i}`, data: { i, name: `item ${i}`, pad: 'x'.repeat(60) } } }));
    }
  };
  pump();
  await done;
  ws.close();
}

/** Peak server RSS sampled every 20 ms while `p` runs. */
async function withPeakRss(p) {
  let peak = rssBytes(server.pid);
  const t = setInterval(() => (peak = Math.max(peak, rssBytes(server.pid))), 20);
  try {
    return { result: await p, peakRss: peak };
  } finally {
    clearInterval(t);
  }
}

/** A fresh WebSocket subscriber: ms until it holds every key, and the bytes of the publication frames. */
async function wsSnapshot(k) {
  const ws = await openWs(`ws${k}`);
  const keys = new Set();
  let bytes = 0;
  const start = performance.now();
  const done = new Promise((resolve) => {
    ws.on('message', (m) => {
      const f = JSON.parse(m.toString());
      if (f.push !== 'publication') return;
      bytes += m.length;
      keys.add(f.key);
      if (keys.size === KEYS) resolve();
    });
  });
  ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: CHANNEL } }));
  await done;
  const ms = performance.now() - start;
  ws.close();
  return { ms, bytes };
}

/** A fresh SSE stream: ms until every key arrived, and the bytes of the whole stream. */
function sseSnapshot(k) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const keys = new Set();
    let bytes = 0;
    let buf = '';
    const req = get(`http://${base}/events?channel=${CHANNEL}&user=sse${k}`, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        bytes += Buffer.byteLength(chunk);
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m = /"key":"([^"]+)"/.exec(ev);
          if (m && ev.includes('"push":"publication"')) keys.add(m[1]);
        }
        if (keys.size === KEYS) {
          resolve({ ms: performance.now() - start, bytes });
          req.destroy();
        }
      });
    });
    req.on('error', (e) => (keys.size === KEYS ? undefined : reject(e)));
  });
}

try {
  await waitReady();
  const t0 = performance.now();
  await fill();
  const fillMs = performance.now() - t0;
  const rssBefore = rssBytes(server.pid);
  const ws = await withPeakRss(Promise.all(Array.from({ length: CLIENTS }, (_, k) => wsSnapshot(k))));
  const sse = await withPeakRss(Promise.all(Array.from({ length: CLIENTS }, (_, k) => sseSnapshot(k))));
  const mb = (b) => (b / 1048576).toFixed(1);
  const row = (name, r) => {
    const ms = Math.max(...r.result.map((x) => x.ms));
    const bytes = r.result[0].bytes;
    return `| ${name} | ${KEYS} | ${CLIENTS} | ${ms.toFixed(0)} | ${Math.round((KEYS / ms) * 1000)} | ${mb(bytes)} | ${Math.round(bytes / KEYS)} | ${mb(r.peakRss - rssBefore)} |`;
  };
  console.log(`broker: ${REDIS ? 'redis' : 'memory'}, fill: ${KEYS} keyed publishes in ${fillMs.toFixed(0)} ms, server RSS after fill ${mb(rssBefore)} MiB`);
  console.log('| transport | keys | clients | snapshot ms (slowest) | keys/s | MiB per client | bytes/key | peak RSS growth MiB |');
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(row('WebSocket', ws));
  console.log(row('SSE', sse));
} finally {
  server.kill('SIGTERM');
  await once(server, 'exit');
  if (REDIS) {
    const c = createClient({ url: REDIS });
    await c.connect();
    for await (const keys of c.scanIterator({ MATCH: `${PREFIX}:*`, COUNT: 500 })) if (keys.length > 0) await c.del(keys);
    await c.quit();
  }
}
