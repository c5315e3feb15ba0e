// The load generator of issue #15's harness, as one process (forked by bench/run.js for the `issue-*` scenarios):
// it holds every WebSocket subscriber, joined with the seed 002 `join_room` frame, and also publishes, with
// sequential `fetch` calls to POST /api/publish, a `{ts, k, body: 60 × "x"}` payload. Latency is receive time minus
// `ts`, sampled on every 50th subscriber; every subscriber counts what it gets (lost and duplicated per `k`).
//
// IPC with the runner: {cmd:'start', port, count, channel, pubs, rate, warmup} → connects, publishes `warmup`
// unmeasured publications until every subscriber got the last one (which also proves each join took effect) →
// {ev:'ready', connected, failed, connectMs}; {cmd:'go'} → publishes `pubs` at `rate`/s, waits for the deliveries
// (at most 10 s after the last publish) → {ev:'done', ...}. The runner reads the server's CPU between ready and done.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram } from './lib/hist.js';

const HOST = '127.0.0.1';
const SAMPLE_EVERY = 50;
const DRAIN_MS = 10_000;
const BODY = 'x'.repeat(60);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Per subscriber: how many of the measured publications arrived, and which (for duplicates). */
const subs = [];
let hist = new Histogram();
/** Publications are numbered k = 0..pubs-1 (measured) and negative for the warm-up. */
let minWarmK = 0;

function onMessage(s, data) {
  const t = data.toString('latin1');
  // The payload is {ts, k, body}; the push around it differs per server, so only these two fields are read.
  const i = t.indexOf('"ts":');
  if (i < 0) return;
  const ts = +t.slice(i + 5, t.indexOf(',', i + 5));
  const j = t.indexOf('"k":', i);
  const k = +t.slice(j + 4, t.indexOf(',', j + 4));
  if (k < 0) {
    if (k === minWarmK) s.warm = true;
    return;
  }
  if (s.seen[k]) s.dup++;
  else {
    s.seen[k] = 1;
    s.got++;
  }
  if (s.sampled) hist.record(now() - ts);
}

function connect(port, id, channel) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${HOST}:${port}/ws?user=issue-${id}`, { perMessageDeflate: false });
    const s = { ws, sampled: id % SAMPLE_EVERY === 0, got: 0, dup: 0, seen: null, warm: false, ok: false };
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'join_room', payload: { room_id: channel } }));
      s.ok = true;
      resolve(s);
    });
    ws.on('message', (d) => onMessage(s, d));
    ws.on('error', () => resolve(s));
  });
}

async function publish(port, channel, k) {
  const data = { ts: now(), k, body: BODY };
  const r = await fetch(`http://${HOST}:${port}/api/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`publish: HTTP ${r.status}`);
}

/** `n` publications numbered from `k0`, paced at `rate`/s from the first, each awaited before the next. */
async function series(port, channel, k0, n, rate) {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0.5) await sleep(wait);
    await publish(port, channel, k0 + i);
  }
  return (n * 1000) / (performance.now() - start);
}

async function until(cond, ms) {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(20);
  return cond();
}

let opts;
process.on('message', async (m) => {
  try {
    if (m.cmd === 'start') {
      opts = m;
      const t0 = performance.now();
      // 200 connection attempts at a time, like bench/loadgen.js.
      for (let i = 0; i < m.count; i += 200) {
        const batch = [];
        for (let j = i; j < Math.min(m.count, i + 200); j++) batch.push(connect(m.port, j, m.channel));
        subs.push(...(await Promise.all(batch)));
      }
      const connectMs = performance.now() - t0;
      const live = subs.filter((s) => s.ok);
      // Warm-up: until every subscriber has the last warm-up publication (a join without reply has then taken effect).
      for (let round = 0; round < 5; round++) {
        minWarmK = -1 - round * m.warmup;
        await series(m.port, m.channel, minWarmK - m.warmup + 1, m.warmup, m.rate);
        if (await until(() => live.every((s) => s.warm), 5000)) break;
      }
      const joined = live.filter((s) => s.warm).length;
      for (const s of live) s.seen = new Uint8Array(m.pubs);
      hist = new Histogram();
      process.send({ ev: 'ready', connected: joined, failed: m.count - joined, connectMs });
    } else if (m.cmd === 'go') {
      const live = subs.filter((s) => s.warm);
      const cpu0 = process.cpuUsage();
      const firstSent = now();
      const rate = await series(opts.port, opts.channel, 0, opts.pubs, opts.rate);
      const complete = await until(() => live.every((s) => s.got === opts.pubs), DRAIN_MS);
      const cpu = process.cpuUsage(cpu0);
      let received = 0;
      let dup = 0;
      for (const s of live) {
        received += s.got;
        dup += s.dup;
      }
      process.send({
        ev: 'done', complete, received, expected: live.length * opts.pubs, lost: live.length * opts.pubs - received, dup,
        publishRate: rate, hist: hist.toJSON(), firstSent, cpuUs: cpu.user + cpu.system,
      });
    } else if (m.cmd === 'close') {
      for (const s of subs) s.ws.terminate();
      process.exit(0);
    }
  } catch (e) {
    process.send({ ev: 'error', message: String(e?.stack || e) });
  }
});
