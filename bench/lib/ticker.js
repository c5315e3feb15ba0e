// The `ticker` scenario of bench/run.js (issue #17, delta compression): a channel whose publications are a ~2 KB JSON
// object of which a few fields change (a price ticker). The same publications go to `subs` WebSocket subscribers,
// once without delta compression and once with `"delta": "fossil"`, each on a fresh server. Measured: bytes on the
// wire per delivery (WebSocket frame payloads as received), the server's CPU per delivery and per publication while
// publishing (HTTP publish handling included, the same in both runs), and in the delta run the client's cost of
// applying a delta (the SDK's applier, dist/protocol/fossil.js, run in this process). Every delivered payload is
// rebuilt and compared with what was published, so a wrong delta fails the run.
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { cpuDelta, ServerSet } from './server-set.js';

const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Publication `i` of the ticker: ~2 KB of JSON; seq, price, volume, time and one quote's bid/ask change. */
export function tickerPayload(i) {
  const quotes = {};
  for (let k = 0; k < 19; k++) {
    const live = k === i % 19;
    quotes[`SYM${k}`] = {
      name: `Instrument number ${k}`, currency: 'EUR', venue: 'XPAR', lot: 100,
      bid: live ? 100 + ((i * 7) % 50) / 10 : 100, ask: live ? 100.5 + ((i * 7) % 50) / 10 : 100.5,
    };
  }
  return { seq: i, price: Math.round(10_000 + Math.sin(i) * 500) / 100, volume: 1_000_000 + i * 37, time: 1_700_000_000_000 + i * 250, quotes };
}

function post(agent, port, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path: '/api/publish', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`publish HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One subscriber: counts frame bytes and, with delta, rebuilds each payload and checks it. */
function subscriber(port, id, delta, expected, applyFossilDelta, stats) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${HOST}:${port}/ws?user=ticker-${id}`, { perMessageDeflate: false });
    let base;
    ws.on('message', (data) => {
      const text = String(data);
      const msg = JSON.parse(text);
      if (msg.push === 'connected') ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: 'ticker', ...(delta ? { delta: 'fossil' } : {}) } }));
      else if (msg.id === 1) (msg.error ? reject(new Error(msg.error.message)) : resolve(ws));
      else if (msg.push === 'publication') {
        stats.deliveries++;
        stats.bytes += data.length;
        let payloadText;
        if (msg.delta === true) {
          stats.deltas++;
          stats.deltaBytes += data.length;
          const t0 = performance.now();
          const out = applyFossilDelta(base, msg.payload);
          if (!out) return stats.errors++;
          base = out;
          payloadText = new TextDecoder().decode(out);
          stats.applyMs += performance.now() - t0;
        } else {
          payloadText = JSON.stringify(msg.payload);
          if (delta) base = new TextEncoder().encode(payloadText);
        }
        if (payloadText !== expected[msg.offset]) stats.errors++;
      }
    });
    ws.on('error', reject);
  });
}

async function runOnce({ target, port, logBase, track, subs, pubs, rate, delta, applyFossilDelta }) {
  const set = new ServerSet(target, { ports: [port], ctx: { prefix: null }, logBase: `${logBase}.${delta ? 'delta' : 'full'}`, track });
  const expected = [];
  for (let i = 0; i <= pubs; i++) expected.push(JSON.stringify(tickerPayload(i)));
  const stats = { deliveries: 0, deltas: 0, bytes: 0, deltaBytes: 0, applyMs: 0, errors: 0 };
  const sockets = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await set.start();
    for (let i = 0; i < subs; i++) sockets.push(await subscriber(port, i, delta, expected, applyFossilDelta, stats));
    await sleep(500);
    const cpu0 = set.cpu();
    const t0 = performance.now();
    for (let i = 1; i <= pubs; i++) {
      await post(agent, port, JSON.stringify({ channel: 'ticker', data: tickerPayload(i) }));
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const deadline = performance.now() + 20_000;
    while (stats.deliveries < subs * pubs && performance.now() < deadline) await sleep(50);
    const cpuUs = cpuDelta(cpu0, set.cpu()).total;
    const bytesFull = Buffer.byteLength(`{"push":"publication","channel":"ticker","type":"message","payload":${expected[pubs]}}`);
    return {
      mode: delta ? 'delta' : 'full', subs, pubs, deliveries: stats.deliveries, deltas: stats.deltas, errors: stats.errors,
      lost: subs * pubs - stats.deliveries, payloadBytes: Buffer.byteLength(expected[pubs]), approxFullFrame: bytesFull,
      bytesPerDelivery: stats.bytes / Math.max(1, stats.deliveries),
      bytesPerDeltaFrame: stats.deltas ? stats.deltaBytes / stats.deltas : null,
      serverCpuUsPerDelivery: cpuUs / Math.max(1, stats.deliveries),
      serverCpuUsPerPub: cpuUs / pubs,
      clientApplyUs: stats.deltas ? (stats.applyMs * 1000) / stats.deltas : null,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    agent.destroy();
    await set.stop();
  }
}

/**
 * Full payloads, then delta, each on a fresh server: with `subs` subscribers (a delta made once is shared by all),
 * then with one (no sharing: the worst case per delivery). Returns the rows and a markdown table.
 * `target` is bench/run.js's Switchboard target; `freePort` gives a port per run.
 */
export async function runTicker({ target, freePort, outDir, track, log, quick, fullEvery }) {
  const { applyFossilDelta } = await import(pathToFileURL(path.join(path.dirname(target.script), '../protocol/fossil.js')).href);
  const pubs = quick ? 100 : 400;
  const rate = 50;
  const rows = [];
  const lines = [];
  for (const subs of [quick ? 50 : 200, 1]) {
    const pair = [];
    for (const delta of [false, true]) {
      log(`ticker / ${delta ? 'delta "fossil"' : 'full payloads'}: ${subs} WS subscriber(s), ${pubs} publications @ ${rate}/s`);
      pair.push(await runOnce({ target, port: await freePort(), logBase: path.join(outDir, `ticker-${subs}`), track, subs, pubs, rate, delta, applyFossilDelta }));
    }
    rows.push(...pair);
    const [full, d] = pair;
    const f = (x, digits = 1) => (x === null ? '—' : x.toFixed(digits));
    const ratio = (a, b) => (a / b).toFixed(2);
    if (!lines.length) {
      lines.push(
        `ticker: ${pubs} publications of a ${full.payloadBytes}-byte JSON object @ ${rate}/s to WebSocket subscribers, delta.fullEvery ${fullEvery}`,
        '',
        '| subscribers | metric | full payloads | delta "fossil" | ratio (delta / full) |',
        '|---:|---|---:|---:|---:|',
      );
    }
    lines.push(
      `| ${subs} | bytes on the wire per delivery (frame payload) | ${f(full.bytesPerDelivery, 0)} | ${f(d.bytesPerDelivery, 0)} | ${ratio(d.bytesPerDelivery, full.bytesPerDelivery)} |`,
      `| ${subs} | bytes of a delta frame alone | | ${f(d.bytesPerDeltaFrame, 0)} | ${ratio(d.bytesPerDeltaFrame, full.bytesPerDelivery)} |`,
      `| ${subs} | server CPU per delivery (µs) | ${f(full.serverCpuUsPerDelivery)} | ${f(d.serverCpuUsPerDelivery)} | ${ratio(d.serverCpuUsPerDelivery, full.serverCpuUsPerDelivery)} |`,
      `| ${subs} | server CPU per publication (µs) | ${f(full.serverCpuUsPerPub, 0)} | ${f(d.serverCpuUsPerPub, 0)} | ${ratio(d.serverCpuUsPerPub, full.serverCpuUsPerPub)} |`,
      `| ${subs} | deliveries as deltas | 0 | ${d.deltas} of ${d.deliveries} | |`,
      `| ${subs} | client: apply one delta (µs) | | ${f(d.clientApplyUs)} | |`,
      `| ${subs} | lost / wrong payloads | ${full.lost} / ${full.errors} | ${d.lost} / ${d.errors} | |`,
    );
  }
  const micro = await inProcess(path.dirname(path.dirname(target.script)), 2000);
  lines.push(
    `| — | server, in this process: build one full frame / one delta frame (µs, least of 3 rounds of ${micro.n}) | ${micro.fullUs.toFixed(1)} | ${micro.deltaUs.toFixed(1)} | |`,
    `| — | of which fossil-delta's createDelta alone (µs) | | ${micro.createUs.toFixed(1)} | |`,
    '',
  );
  rows.push({ mode: 'in-process', ...micro });
  return { rows, md: lines.join('\n'), error: rows.some((r) => r.lost || r.errors) ? 'ticker: lost or wrong payloads' : null };
}

/**
 * The server's cost of framing one publication, full and as a delta (canonical texts, createDelta, the frame), in
 * this process with the built modules (dist/delivery): CPU time, the least of 3 rounds (a busy machine only adds),
 * without the noise of sockets.
 */
async function inProcess(dist, n) {
  const { DeltaStream } = await import(pathToFileURL(path.join(dist, 'delivery/delta.js')).href);
  const { EncodedPublication } = await import(pathToFileURL(path.join(dist, 'delivery/encoded.js')).href);
  const { createDelta } = await import('fossil-delta');
  const enc = new TextEncoder();
  const pubs = (k) => Array.from({ length: n + 1 }, (_, i) => new EncodedPublication({ channel: 'ticker', event: 'message', data: JSON.stringify(tickerPayload(i + k)), epoch: 'e', offset: i, time: 0 }));
  const out = { n, fullUs: Infinity, deltaUs: Infinity, createUs: Infinity };
  for (let round = 0; round < 3; round++) {
    const full = pubs(round);
    let t = process.cpuUsage();
    for (let i = 1; i <= n; i++) full[i].wsFrame();
    const fullUs = process.cpuUsage(t).user / n;
    const delta = pubs(round);
    const stream = new DeltaStream({ fullEvery: Number.MAX_SAFE_INTEGER, maxBases: 4 });
    stream.frame(delta[0], true);
    t = process.cpuUsage();
    for (let i = 1; i <= n; i++) stream.frame(delta[i], true);
    const deltaUs = process.cpuUsage(t).user / n;
    const bytes = full.map((p) => enc.encode(p.pub.data));
    t = process.cpuUsage();
    for (let i = 1; i <= n; i++) createDelta(bytes[i - 1], bytes[i]);
    const createUs = process.cpuUsage(t).user / n;
    out.fullUs = Math.min(out.fullUs, fullUs);
    out.deltaUs = Math.min(out.deltaUs, deltaUs);
    out.createUs = Math.min(out.createUs, createUs);
  }
  return out;
}
