// Write paths: WebSocket pre-built frames written to the socket against ws.send per message, SSE pre-framed HTTP/1.1
// chunks written to the socket against res.write in a cork (bench/lib/write-path-server.js), alternating in one run. Measures server CPU per delivery (µs, /proc/PID/stat) and
// write syscalls (/proc/PID/io syscw: write and writev calls of every thread) per delivery and per connection flush
// (flush rounds from /api/stats × connections).
//
//   npm run build --silent && node bench/write-path.js [--rounds 3] [--conns 1000] [--only saturation-ws,moderate-ws]
//                                                      [--max-write-delay MS]
//
// Scenarios as in bench/run.js: saturation-ws (200 publications asked at 200/s), moderate-ws (100 at 20/s),
// moderate-sse and saturation-sse (the same, SSE; run when named in --only). Each (round, scenario, variant) gets a fresh server; the variant
// order flips every round. Prints per-run figures, the median of each, and the median of the per-round ratios
// public / direct.
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros } from './lib/proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ROUNDS = Number(flag('rounds', 3));
const CONNS = Number(flag('conns', 1000));
/** `delivery.maxWriteDelay` of the servers (ms); 0 keeps every flush round to one event-loop turn (default: the server's). */
const MAX_WRITE_DELAY = flag('max-write-delay', undefined);
const SCENARIOS = {
  'saturation-ws': { mode: 'ws', pubs: 200, rate: 200 },
  'moderate-ws': { mode: 'ws', pubs: 100, rate: 20 },
  'moderate-sse': { mode: 'sse', pubs: 100, rate: 20 },
  'saturation-sse': { mode: 'sse', pubs: 200, rate: 200 },
};
const only = flag('only', 'saturation-ws,moderate-ws').split(',');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));

const syscw = (pid) => Number(/syscw:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

function request(port, method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path: p, method, agent: AGENT, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let s = '';
      res.on('data', (c) => (s += c));
      res.on('end', () => resolve({ status: res.statusCode, body: s }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const AGENT = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function publish(port, n, rate) {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0.5) await sleep(wait);
    const body = JSON.stringify({ channel: 'bench', event: 'message', data: { sent: Date.now(), seq: i, pad: 'x'.repeat(52) } });
    const r = await request(port, 'POST', '/api/publish', body);
    if (r.status !== 200) throw new Error(`publish: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  }
}

function loadgen() {
  const child = fork(path.join(HERE, 'loadgen.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const inbox = [];
  let waiter = null;
  child.on('message', (m) => {
    if (m.ev === 'progress') return;
    inbox.push(m);
    waiter?.();
  });
  const next = async (ev) => {
    for (;;) {
      const k = inbox.findIndex((m) => m.ev === ev);
      if (k >= 0) return inbox.splice(k, 1)[0];
      await new Promise((r) => (waiter = r));
    }
  };
  return { child, next, send: (m) => child.send(m) };
}

async function runOne(name, scn, variant) {
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [path.join(HERE, 'lib/write-path-server.js'), variant, 'serve', '--port', String(port), '--log-level', 'warn',
      '--limits.connectRate', '0', '--limits.connectionsPerIp', '0', '--limits.sseStreamsPerIp', '0',
      ...(MAX_WRITE_DELAY === undefined ? [] : ['--delivery.maxWriteDelay', MAX_WRITE_DELAY])],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.add(server);
  const gen = loadgen();
  try {
    for (let t = 0; ; t++) {
      const r = await request(port, 'GET', '/readyz').catch(() => null);
      if (r?.status === 200) break;
      if (t > 200) throw new Error('server not ready');
      await sleep(100);
    }
    gen.send({ cmd: 'start', mode: scn.mode, ports: [port], count: CONNS, idBase: 0, channels: 1, channelName: 'bench', concurrency: 200, connectTimeoutMs: 30_000 });
    const ready = await gen.next('ready');
    if (ready.connected !== CONNS) throw new Error(`${ready.connected}/${CONNS} connected`);
    await sleep(1000);
    gen.send({ cmd: 'phase', name: 'warmup', expect: 20 });
    await gen.next('phase-ack');
    await publish(port, 20, 20);
    await gen.next('complete');
    await sleep(300);
    gen.send({ cmd: 'phase', name: 'measure', expect: scn.pubs });
    await gen.next('phase-ack');
    const rounds0 = await writeRounds(port);
    const cpu0 = cpuMicros(server.pid);
    const w0 = syscw(server.pid);
    await publish(port, scn.pubs, scn.rate);
    await gen.next('complete');
    const cpu = cpuMicros(server.pid) - cpu0;
    const writes = syscw(server.pid) - w0;
    // Every round of this load flushes every connection (all subscribe to the one channel); the stats answer and
    // each publish answer are one write of their own, not counted as deliveries' writes.
    const flushes = ((await writeRounds(port)) - rounds0) * CONNS;
    const deliveries = scn.pubs * CONNS;
    const r = { name, variant, usPerDelivery: cpu / deliveries, writesPerDelivery: writes / deliveries, writesPerFlush: (writes - scn.pubs - 1) / flushes };
    console.log(
      `${name} ${variant.padEnd(6)} ${r.usPerDelivery.toFixed(2)} µs/delivery, ${r.writesPerDelivery.toFixed(3)} writes/delivery, ` +
        `${r.writesPerFlush.toFixed(2)} writes/flush, ${(deliveries / flushes).toFixed(2)} deliveries/flush`,
    );
    return r;
  } finally {
    gen.child.kill('SIGKILL');
    server.kill('SIGKILL');
    children.delete(gen.child);
    children.delete(server);
  }
}

async function writeRounds(port) {
  return JSON.parse((await request(port, 'GET', '/api/stats')).body).writeRounds;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const results = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const name of only) {
    const order = round % 2 === 0 ? ['direct', 'public'] : ['public', 'direct'];
    const pair = {};
    for (const v of order) pair[v] = await runOne(name, SCENARIOS[name], v);
    results.push({ name, round, ...pair });
  }
}
console.log(`\n${CONNS} subscribers, ${ROUNDS} rounds${MAX_WRITE_DELAY === undefined ? '' : `, delivery.maxWriteDelay ${MAX_WRITE_DELAY}`}; median (ratio public / direct: median of the per-round ratios)`);
for (const name of only) {
  const rs = results.filter((r) => r.name === name);
  for (const k of ['usPerDelivery', 'writesPerDelivery', 'writesPerFlush']) {
    const d = median(rs.map((r) => r.direct[k]));
    const p = median(rs.map((r) => r.public[k]));
    const ratio = median(rs.map((r) => r.public[k] / r.direct[k]));
    console.log(`${name} ${k}: direct ${d.toFixed(3)}, public ${p.toFixed(3)}, ratio ${ratio.toFixed(2)}`);
  }
}
