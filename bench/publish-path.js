// The API publish path (issue #15): HTTP request → broker → first socket write, Switchboard against a bare `http`
// handler doing the same JSON parse and one frame write (bench/baseline-server.js), each with one WebSocket
// subscriber on the channel. The same HTTP client load goes to both, alternating targets per round:
//   - latency: `--requests` sequential POST /api/publish on one keep-alive connection; per request the time to the
//     HTTP response and to the subscriber's receipt of the frame (request start → the first socket write, as seen
//     over loopback by a reader in this process);
//   - cost: the same number of requests, `--concurrency` in flight, after as many unmeasured ones in flight
//     (`--cold-cost`: without them, so the JIT's warm-up of the concurrent path is in the figure); server CPU
//     (/proc/<pid>/stat, every thread) per request.
//
//   node bench/publish-path.js [--requests 2000] [--concurrency 16] [--rounds 2] [--dist dir] [--before-dist dir] [--cold-cost]
//
// --before-dist adds a third target (another build's dist/, e.g. main's). Prints a markdown table.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Histogram } from './lib/hist.js';
import { cpuMicros } from './lib/proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function opt(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const REQUESTS = Number(opt('--requests', '2000'));
const CONCURRENCY = Number(opt('--concurrency', '16'));
const ROUNDS = Number(opt('--rounds', '2'));
const DIST = path.resolve(opt('--dist', path.join(ROOT, 'dist')));
const BEFORE = opt('--before-dist', null);
const COLD_COST = process.argv.includes('--cold-cost');

const sbArgs = (dist) => (port) => [
  path.join(dist, 'cli/main.js'), 'serve', '--port', String(port), '--log-level', 'warn',
  '--limits.connectRate', '0', '--limits.connectionsPerIp', '0', '--limits.sseStreamsPerIp', '0',
];
const TARGETS = [
  { name: 'switchboard', label: 'Switchboard', args: sbArgs(DIST) },
  ...(BEFORE ? [{ name: 'before', label: 'SB before', args: sbArgs(path.resolve(BEFORE)) }] : []),
  { name: 'bare', label: 'bare http + ws', args: (port) => [path.join(HERE, 'baseline-server.js'), '--port', String(port)] },
];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(t) {
  const port = await freePort();
  // Extra node flags for the servers, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, ...t.args(port)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => http.get({ host: HOST, port, path: '/readyz' }, (res) => (res.resume(), r(res.statusCode === 200))).on('error', () => r(false)));
    if (ok) return { child, port };
    await sleep(100);
  }
  child.kill();
  throw new Error(`${t.label} did not start`);
}

/** One subscriber; `onSeq(seq)` per publication received (its data is {"seq": n, "pad": ...}). */
async function subscribe(port, channel, onSeq) {
  const ws = new WebSocket(`ws://${HOST}:${port}/ws?user=pp`, { perMessageDeflate: false });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  await new Promise((resolve) => {
    ws.on('message', (d) => {
      const t = d.toString();
      const i = t.indexOf('"seq":');
      if (i >= 0) onSeq(+t.slice(i + 6, t.indexOf(',', i + 6)));
      else if (t.includes('"id":1')) resolve();
    });
    ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel } }));
  });
  return ws;
}

const PAD = 'x'.repeat(60);
function post(agent, port, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path: '/api/publish', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function runTarget(t) {
  const { child, port } = await startServer(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY, noDelay: true });
  const sentAt = new Map();
  const toWrite = new Histogram();
  let received = 0;
  let waiter = null;
  const ws = await subscribe(port, 'pp', (seq) => {
    const t0 = sentAt.get(seq);
    if (t0 !== undefined) {
      toWrite.record(performance.now() - t0);
      sentAt.delete(seq);
    }
    received++;
    if (waiter && received >= waiter.n) waiter.resolve();
  });
  const until = (n) => (received >= n ? Promise.resolve() : new Promise((resolve) => (waiter = { n, resolve })));
  const body = (seq) => `{"channel":"pp","event":"message","data":{"seq":${seq},"pad":"${PAD}"}}`;
  let seq = 0;
  try {
    // Warm-up (JIT), not measured.
    for (let i = 0; i < 500; i++) await post(agent, port, body(seq++));
    await until(seq);
    // Latency: sequential requests.
    const toResponse = new Histogram();
    for (let i = 0; i < REQUESTS; i++) {
      const s = seq++;
      const t0 = performance.now();
      sentAt.set(s, t0);
      await post(agent, port, body(s));
      toResponse.record(performance.now() - t0);
    }
    await until(seq);
    // Cost: the same number of requests, CONCURRENCY in flight, after as many again in flight unmeasured: the
    // concurrent path (15 more sockets, requests overlapping) has its own JIT warm-up, ~130-200 ms of CPU in either
    // server, which would otherwise be spread over the measured requests (--cold-cost measures it as before).
    const inFlight = async (n) => {
      let next = 0;
      const worker = async () => {
        while (next < n) {
          next++;
          await post(agent, port, body(seq++));
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await until(seq);
    };
    if (!COLD_COST) await inFlight(REQUESTS);
    const cpu0 = cpuMicros(child.pid);
    const w0 = performance.now();
    await inFlight(REQUESTS);
    const cpuUs = cpuMicros(child.pid) - cpu0;
    const ms = performance.now() - w0;
    return { toResponse: toResponse.summary(), toWrite: toWrite.summary(), cpuUsPerRequest: cpuUs / REQUESTS, reqPerSec: (REQUESTS * 1000) / ms };
  } finally {
    ws.terminate();
    agent.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

const results = Object.fromEntries(TARGETS.map((t) => [t.name, []]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const t of TARGETS) {
    const r = await runTarget(t);
    results[t.name].push(r);
    process.stderr.write(
      `[${new Date().toISOString().slice(11, 19)}] round ${round} ${t.label}: ${fmt(r.cpuUsPerRequest)} µs CPU/request, ` +
        `response p50 ${fmt(r.toResponse.p50)} p99 ${fmt(r.toResponse.p99)} ms, to subscriber p50 ${fmt(r.toWrite.p50)} p99 ${fmt(r.toWrite.p99)} ms, ${fmt(r.reqPerSec)} req/s\n`,
    );
  }
}
const rows = [
  ['server CPU µs / request', (r) => r.cpuUsPerRequest],
  ['request → subscriber receipt p50 (ms)', (r) => r.toWrite.p50],
  ['request → subscriber receipt p99 (ms)', (r) => r.toWrite.p99],
  ['request → HTTP response p50 (ms)', (r) => r.toResponse.p50],
  ['request → HTTP response p99 (ms)', (r) => r.toResponse.p99],
  [`requests/s (${CONCURRENCY} in flight)`, (r) => r.reqPerSec],
];
const bare = TARGETS.at(-1).name;
console.log(`API publish path, 1 WebSocket subscriber, ${REQUESTS} requests per phase${COLD_COST ? ' (cost phase cold)' : ''}, median of ${ROUNDS} alternated rounds (range)\n`);
console.log(`| metric | ${TARGETS.map((t) => t.label).join(' | ')} | ${TARGETS.slice(0, -1).map((t) => `${t.label} / bare`).join(' | ')} |`);
console.log(`|---|${TARGETS.map(() => '---:').join('|')}|${TARGETS.slice(0, -1).map(() => '---:').join('|')}|`);
for (const [label, get] of rows) {
  const vals = TARGETS.map((t) => results[t.name].map(get));
  const cells = vals.map((v) => `${fmt(median(v))}${v.length > 1 ? ` (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : ''}`);
  const ratios = vals.slice(0, -1).map((v) => `${(median(v) / median(vals.at(-1))).toFixed(2)}×`);
  console.log(`| ${label} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
}
