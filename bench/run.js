// Benchmark runner: Switchboard vs a bare baseline server, same load generator, same run.
//
//   node bench/run.js [--target switchboard|baseline|both|tracing|scaleout|<target>] [--only name[,name...]] [--quick]
//
// Every scenario starts fresh server processes on free 127.0.0.1 ports (bench/lib/server-set.js: one process, two
// nodes on Redis, or a --workers primary and its workers), forks load generator processes (bench/loadgen.js, at most
// 5000 connections each), publishes from this process, and tears everything down.
// Progress goes to stderr; the results table (markdown) goes to stdout and to <out>/results.md, raw figures to
// <out>/results.json. See bench/README.md.
import { execSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Histogram } from './lib/hist.js';
import { clockTicks, cpuMicros, cpuModel, machineBusyMicros, rssBytes, schedStat, threadDelta, threadTimes } from './lib/proc.js';
import { dropPrefix, dropStale, redisMemory, redisPid, REDIS_URL, runPrefix } from './lib/redis.js';
import { SCALEOUT_GROUP, scaleoutTargets, scaleoutVerdicts } from './lib/scaleout.js';
import { cpuDelta, httpGet, ServerSet } from './lib/server-set.js';
import { nchanMissing } from './peers/nchan-server.js';
import { runTicker } from './lib/ticker.js';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const HOST = '127.0.0.1';
/** Connections per load generator process at most (`--loadgen-conns`, default 5000). */
let maxPerLoadgen = 5000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- options ----------------------------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = { target: 'both', only: null, quick: false, out: path.join(ROOT, '.bench-out'), noiseRetries: 2, quietWait: 60, rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--target') o.target = val();
    else if (a.startsWith('--target=')) o.target = a.slice(9);
    else if (a === '--only') o.only = val().split(',').filter(Boolean);
    else if (a.startsWith('--only=')) o.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--quick') o.quick = true;
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--noise-retries') o.noiseRetries = Math.max(0, Number(val()) || 0);
    else if (a === '--quiet-wait') o.quietWait = Math.max(0, Number(val()) || 0);
    else if (a === '--loadgen-conns') o.loadgenConns = Math.min(5000, Math.max(100, Number(val()) || 5000));
    else if (a === '--rounds') o.rounds = Math.min(10, Math.max(1, Number(val()) || 1));
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!(o.target in GROUPS) && !(o.target in TARGETS)) usage(`bad --target ${o.target}`);
  return o;
}

function usage(err) {
  if (err) console.error(err);
  console.error(
    'usage: node bench/run.js [--target T] [--only name[,name]] [--quick] [--out dir]\n' +
      '                         [--noise-retries N]   (default 2: rerun a measurement disturbed by other processes)\n' +
      '                         [--quiet-wait S]      (default 60: wait up to S s for other processes to calm down)\n' +
      '                         [--loadgen-conns N]   (default 5000: connections per load generator process, 100..5000)\n' +
      '                         [--rounds N]          (default 1: run the targets of each scenario N times, alternating)\n' +
      'targets: ' + [...Object.keys(GROUPS), ...Object.keys(TARGETS)].join(', ') + '\n' +
      'scenarios: ' + Object.keys(scenarios(false)).join(', '),
  );
  process.exit(err ? 2 : 0);
}

/** Retries of a failed connect/subscribe in the scale runs: the client SDK's reconnect backoff (src/client/options.ts). */
const SCALE_RETRY = { maxAttempts: 10, minDelay: 500, maxDelay: 20_000 };

function scenarios(quick) {
  const subs = quick ? 500 : 2000;
  const idle = quick ? 2000 : 10000;
  return {
    'saturation-ws': { kind: 'publish', mode: 'ws', conns: subs, pubs: quick ? 100 : 200, rate: 200 },
    'moderate-ws': { kind: 'publish', mode: 'ws', conns: subs, pubs: quick ? 60 : 200, rate: 20 },
    // Issue #5's moderate load: 5000 subscribers × 20 publications/s for 10 s (target p99 ≤ 50 ms).
    'moderate-ws-5k': { kind: 'publish', mode: 'ws', conns: quick ? 2000 : 5000, pubs: quick ? 60 : 200, rate: 20 },
    'saturation-sse': { kind: 'publish', mode: 'sse', conns: subs, pubs: quick ? 100 : 200, rate: 200 },
    'moderate-sse': { kind: 'publish', mode: 'sse', conns: subs, pubs: quick ? 60 : 200, rate: 20 },
    // Issue #15's second moderate SSE load: 5000 streams × 20 publications/s.
    'moderate-sse-5k': { kind: 'publish', mode: 'sse', conns: quick ? 2000 : 5000, pubs: quick ? 60 : 200, rate: 20 },
    // Issue #17: a ~2 KB JSON ticker to WebSocket subscribers without and with delta compression (bench/lib/ticker.js).
    // Switchboard only, whatever --target says; its own table follows the main one.
    ticker: { kind: 'ticker', mode: 'ws', conns: quick ? 50 : 200 },
    // Issue #15's harness (bench/issue-loadgen.js): one process holds every subscriber (seed 002 `join_room`) and
    // publishes {ts, k, body} with sequential fetch; latency sampled on every 50th subscriber.
    'issue-ws': { kind: 'issue', mode: 'ws', conns: subs, pubs: quick ? 60 : 200, rate: 20 },
    'issue-ws-5k': { kind: 'issue', mode: 'ws', conns: quick ? 2000 : 5000, pubs: quick ? 60 : 200, rate: 20 },
    'issue-saturation-ws': { kind: 'issue', mode: 'ws', conns: subs, pubs: quick ? 100 : 200, rate: 200 },
    'idle-ws': { kind: 'idle', mode: 'ws', conns: idle, channels: 100 },
    'idle-sse': { kind: 'idle', mode: 'sse', conns: idle, channels: 100 },
    // Issue #15's scale run: connections spread over load generators of at most 16,700 each (a process may hold
    // 20,000 descriptors here), each from its own 127.0.0.x; half WebSocket, half SSE; 100 per channel. Then
    // `rounds` publications to each of the first `pubChannels` channels (all of them here), paced at `rate`/s.
    // connections-100k needs a server of several processes (`--target workers-6`); connections-1proc is the most
    // one process holds under the same 20,000-descriptor limit. 100 connection attempts at a time per load generator.
    // Every connection also subscribes to `allChannel`, the broadcast: `broadcastPubs` publications to it reach all.
    // Connecting stops after connectBudgetMs (the run then measures those connected), so the run ends by itself.
    // A failed connect or subscribe is retried with backoff within that budget, as a client SDK does (SCALE_RETRY);
    // the report gives first-try failures and retries beside the final figures.
    'connections-100k': {
      kind: 'scale', mode: 'mixed', conns: quick ? 20000 : 100000, channels: quick ? 200 : 1000, perGen: 16700,
      pubChannels: quick ? 200 : 1000, rounds: 1, rate: 200, timeoutMs: 15 * 60_000, concurrency: 100,
      allChannel: 'all', broadcastPubs: 5, broadcastRate: 1, connectBudgetMs: (quick ? 2 : 6) * 60_000, retry: SCALE_RETRY,
    },
    'connections-1proc': {
      kind: 'scale', mode: 'mixed', conns: quick ? 5000 : 19500, channels: quick ? 50 : 195, perGen: 16700,
      pubChannels: quick ? 50 : 195, rounds: 1, rate: 200, timeoutMs: 10 * 60_000, concurrency: 100,
      allChannel: 'all', broadcastPubs: 5, broadcastRate: 1, connectBudgetMs: (quick ? 1 : 3) * 60_000, retry: SCALE_RETRY,
    },
  };
}

const WARMUP_PUBS = 20;
const WARMUP_RATE = 20;
const DRAIN_TIMEOUT_MS = 10_000; // after the last publish
// A scale run's series not complete at its drain deadline: waiting goes on while deliveries still arrive (checked
// every LATE_POLL_MS), up to LATE_WAIT_MS more; what arrives then is reported as late, apart from the lost.
const LATE_WAIT_MS = 60_000;
const SCALE_PUBLISH_TIMEOUT_MS = 60_000;
const LATE_POLL_MS = 5_000;
const SETTLE_MS = 2_000; // after all connections are up, before reading RSS
const SCENARIO_TIMEOUT_MS = 6 * 60_000;
const NOISE_PCT = 25; // CPU % used by other processes during a measurement above which it is retried

/** Tracing targets export spans over OTLP/HTTP to this sink in the runner (it reads and discards them). */
let otlpSinkUrl = null;
const tracingEnv = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: otlpSinkUrl, OTEL_TRACES_SAMPLER: 'always_on', OTEL_SERVICE_NAME: 'switchboard-bench' });
// Every load-generator connection comes from 127.0.0.1: the per-IP limits (which would refuse all but the first
// thousand, at 50 new connections per second) are turned off, as behind a proxy.
const sbArgs = (port) => [
  'serve', '--port', String(port), '--log-level', 'warn',
  '--limits.connectRate', '0', '--limits.connectionsPerIp', '0', '--limits.sseStreamsPerIp', '0',
];

const BEFORE_DIST = path.resolve(process.env.BENCH_BEFORE_DIST || path.join(ROOT, '.bench-out/before/dist'));

const TARGETS = {
  switchboard: {
    label: 'Switchboard',
    script: path.join(ROOT, 'dist/cli/main.js'),
    args: sbArgs,
  },
  // Tracing on (every publication traced): the defaults (10 % of writes, at most 16 write spans per publication),
  // then 10 % and 100 % of socket writes with no per-publication limit.
  'switchboard-trace': {
    label: 'SB tracing, defaults',
    script: path.join(ROOT, 'dist/cli/main.js'),
    args: sbArgs,
    env: tracingEnv,
  },
  'switchboard-trace10': {
    label: 'SB tracing, 10 % writes',
    script: path.join(ROOT, 'dist/cli/main.js'),
    args: (port) => [...sbArgs(port), '--tracing.writeSampleRate', '0.1', '--tracing.maxWriteSpans', '0'],
    env: tracingEnv,
  },
  'switchboard-trace100': {
    label: 'SB tracing, 100 % writes',
    script: path.join(ROOT, 'dist/cli/main.js'),
    args: (port) => [...sbArgs(port), '--tracing.writeSampleRate', '1', '--tracing.maxWriteSpans', '0'],
    env: tracingEnv,
  },
  // The adaptive write window off (delivery.maxWriteDelay 0: every round at the end of the loop turn), to tell
  // its share of the latency from the rest (issue #15).
  'switchboard-nowindow': {
    label: 'SB, write window 0',
    script: path.join(ROOT, 'dist/cli/main.js'),
    args: (port) => [...sbArgs(port), '--delivery.maxWriteDelay', '0'],
  },
  // Switchboard built from another tree (BENCH_BEFORE_DIST, default .bench-out/before/dist, with package.json one
  // level up): before/after figures for a change in one alternating run, e.g.
  //   mkdir -p .bench-out/before && cp -a dist package.json .bench-out/before/   (before the change, built)
  //   npm run build && node bench/run.js --target before-after --rounds 3 --only moderate-ws
  'switchboard-before': {
    label: 'SB before',
    script: path.join(BEFORE_DIST, 'cli/main.js'),
    args: sbArgs,
    missing: () => (existsSync(path.join(BEFORE_DIST, 'cli/main.js')) ? null : `no build at ${BEFORE_DIST} (BENCH_BEFORE_DIST)`),
  },
  // History off (history.size 0): what keeping the last 100 publications per channel costs the fan-out (GC).
  'switchboard-nohistory': {
    label: 'SB, history 0',
    script: path.join(ROOT, 'dist/cli/main.js'),
    args: (port) => [...sbArgs(port), '--history.size', '0'],
  },
  baseline: {
    label: 'baseline',
    script: path.join(HERE, 'baseline-server.js'),
    args: (port) => ['--port', String(port)],
  },
  // Peers (issue #15). Each speaks its own protocol: `dialect` tells the load generator, `publish` the runner.
  // `tree`: CPU and RSS are summed over the wrapper and every process below it (nginx's master and worker).
  nchan: {
    label: 'Nchan (1 worker)',
    script: path.join(HERE, 'peers/nchan-server.js'),
    args: (port) => ['--port', String(port), '--workers', '1'],
    dialect: 'nchan', publish: 'nchan', tree: true, missing: nchanMissing,
  },
  // Nchan as it would be deployed: one nginx worker per core (issue #15).
  'nchan-cores': {
    label: `Nchan (${os.availableParallelism()} workers)`,
    script: path.join(HERE, 'peers/nchan-server.js'),
    args: (port) => ['--port', String(port), '--workers', String(os.availableParallelism())],
    dialect: 'nchan', publish: 'nchan', tree: true, missing: nchanMissing,
  },
  socketio: {
    label: 'Socket.IO 4.8',
    script: path.join(HERE, 'peers/socketio-server.js'),
    args: (port) => ['--port', String(port)],
    dialect: 'socketio', modes: ['ws'], missing: () => moduleMissing('socket.io') ?? moduleMissing('socket.io-client'),
  },
  // redis-1node, redis-2nodes, workers-1, workers-2 (bench/lib/scaleout.js)
  ...scaleoutTargets(path.join(ROOT, 'dist/cli/main.js'), sbArgs),
};

/** --target groups: several targets in one run, the table giving each as a ratio to the first (except `both`). */
const GROUPS = {
  both: ['switchboard', 'baseline'],
  tracing: ['switchboard', 'switchboard-trace', 'switchboard-trace10', 'switchboard-trace100'],
  scaleout: SCALEOUT_GROUP,
  // Where Switchboard's latency tail comes from: the write window on and off, beside the baseline.
  window: ['switchboard', 'switchboard-nowindow', 'baseline'],
  'before-after': ['switchboard-before', 'switchboard', 'baseline'],
  // The same with Nchan beside them (SSE changes of issue #15: one run gives after/before and the peer ratios).
  'before-after-nchan': ['switchboard-before', 'switchboard', 'baseline', 'nchan'],
  history: ['switchboard', 'switchboard-nohistory', 'baseline'],
  // Switchboard beside the bare baseline and the servers users would pick instead; ratios are Switchboard / each.
  peers: ['switchboard', 'baseline', 'nchan', 'nchan-cores', 'socketio'],
};

/** A process may hold this many file descriptors here (hard limit; root without CAP_SYS_RESOURCE cannot raise it). */
function fdHardLimit() {
  try {
    const v = execSync('ulimit -Hn', { shell: '/bin/sh', encoding: 'utf8' }).trim();
    return v === 'unlimited' ? Infinity : Number(v) || Infinity;
  } catch {
    return Infinity;
  }
}

/** Why a scale scenario cannot run against a target: more connections than its processes may hold descriptors. */
function tooManyFds(scn, t) {
  if (scn.kind !== 'scale') return null;
  const procs = (t.workers ?? 1) * (t.nodes ?? 1);
  const perProc = fdHardLimit() - 200; // the server's own files, listeners, Redis, IPC
  if (scn.conns <= procs * perProc) return null;
  return `${scn.conns} connections need ${Math.ceil(scn.conns / perProc)} server processes at ${fdHardLimit()} descriptors each ` +
    `(ulimit -Hn); ${t.label} has ${procs} (try --target workers-6)`;
}

/** Why a peer's npm package cannot be loaded here (a devDependency: `npm install`), or null. */
function moduleMissing(name) {
  try {
    createRequire(import.meta.url).resolve(name);
    return null;
  } catch {
    return `npm package ${name} is not installed (npm install)`;
  }
}

// ---- child process bookkeeping: nothing outlives the runner -----------------------------------------------------
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll(signal = 'SIGKILL') {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch {}
  }
}
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping, killing ${children.size} child process(es)`);
    killAll('SIGKILL');
    process.exit(128 + (os.constants.signals[sig] || 1));
  });
}
process.on('uncaughtException', (e) => {
  console.error('uncaught:', e);
  killAll('SIGKILL');
  process.exit(1);
});
process.on('unhandledRejection', (e) => {
  console.error('unhandled rejection:', e);
  killAll('SIGKILL');
  process.exit(1);
});

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// ---- server under test ------------------------------------------------------------------------------------------
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- load generators --------------------------------------------------------------------------------------------
class Gen {
  constructor(index, script = 'loadgen.js') {
    this.index = index;
    this.inbox = [];
    this.waiters = [];
    this.progress = { connected: 0, failed: 0 };
    this.dead = null;
    this.child = track(fork(path.join(HERE, script), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.child.on('message', (m) => {
      if (m.ev === 'progress') {
        this.progress = m;
        return;
      }
      this.inbox.push(m);
      this.flush();
    });
    this.child.once('exit', (code, sig) => {
      this.dead = new Error(`loadgen ${index} exited (code ${code}, signal ${sig})`);
      for (const w of this.waiters.splice(0)) w.reject(this.dead);
    });
  }
  send(m) {
    if (!this.dead) this.child.send(m);
  }
  flush() {
    for (let wi = 0; wi < this.waiters.length; wi++) {
      const w = this.waiters[wi];
      const k = this.inbox.findIndex(w.pred);
      if (k >= 0) {
        const [m] = this.inbox.splice(k, 1);
        this.waiters.splice(wi--, 1);
        w.resolve(m);
      }
    }
  }
  next(pred) {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.waiters.push({ pred, resolve, reject });
      this.flush();
    });
  }
  async close() {
    if (this.dead) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.send({ cmd: 'close' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(t);
  }
}

// ---- publisher --------------------------------------------------------------------------------------------------
const PAD = 'x'.repeat(52); // payload {"sent":..,"seq":..,"pad":".."} is about 100 bytes

function publishOne(agent, port, body, urlPath = '/api/publish', timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: HOST, port, path: urlPath, method: 'POST', agent, timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (s += c));
        res.on('end', () => {
          // Nchan answers 201 (queued for subscribers) or 202 (no subscriber yet) with channel info in text.
          if (res.statusCode === 201 || res.statusCode === 202) return resolve({});
          if (res.statusCode !== 200) return reject(new Error(`publish HTTP ${res.statusCode}: ${s.slice(0, 200)}`));
          try {
            resolve(JSON.parse(s));
          } catch (e) {
            reject(e);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('publish timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** n publications at `rate`/s, each awaited before the next; late ones go out at once, never in a burst. */
async function publishSeries({ agent, port, channel, n, rate, seqBase = 0, dialect, timeoutMs }) {
  const offsets = [];
  const offsetsByChannel = {};
  const errors = [];
  const lat = new Histogram();
  const start = performance.now();
  let firstSent = 0;
  for (let i = 0; i < n; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0.5) await sleep(wait);
    const t0 = performance.now();
    const sent = Math.round(now() * 1000) / 1000;
    if (i === 0) firstSent = sent;
    const seq = seqBase + i;
    const ch = typeof channel === 'function' ? channel(i) : channel;
    const data = '{"sent":' + sent + ',"seq":' + seq + ',"pad":"' + PAD + '"}';
    try {
      if (dialect === 'nchan') {
        // Nchan publishes the body as it is; its message ids are not offsets, so seq stands for one.
        await publishOne(agent, port, data, '/api/publish?channel=' + encodeURIComponent(ch));
        offsets.push(seq);
      } else {
        const r = await publishOne(agent, port, '{"channel":' + JSON.stringify(ch) + ',"event":"message","data":' + data + '}', undefined, timeoutMs);
        offsets.push(Number(r.offset));
      }
      (offsetsByChannel[ch] ??= []).push(offsets.at(-1));
    } catch (e) {
      errors.push(String(e.message || e));
    }
    lat.record(performance.now() - t0);
  }
  const elapsed = performance.now() - start;
  return { offsets, offsetsByChannel, errors, firstSent, lastDone: now(), elapsedMs: elapsed, rate: (n * 1000) / elapsed, lat };
}

// ---- one scenario against one target ----------------------------------------------------------------------------
function log(...a) {
  console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
}

async function connectAll(gens, scn) {
  const per = Math.ceil(scn.conns / gens.length);
  gens.forEach((g, i) => {
    const count = Math.min(per, scn.conns - i * per);
    g.send({
      // Connection k of the whole set goes to ports[k % ports.length]: an even split over the nodes.
      // 'mixed': WebSocket and SSE load generators alternate. Scale runs connect each from its own 127.0.0.x.
      cmd: 'start', mode: scn.mode === 'mixed' ? (i % 2 ? 'sse' : 'ws') : scn.mode, ports: scn.ports, count, idBase: i * per,
      dialect: scn.dialect, localAddress: scn.kind === 'scale' ? `127.0.0.${2 + i}` : undefined,
      channels: scn.channels || 1, channelName: 'bench', concurrency: scn.concurrency ?? 200, connectTimeoutMs: 30_000,
      allChannel: scn.allChannel, retry: scn.retry,
    });
  });
  // A scale run connects for at most connectBudgetMs: then the load generators stop opening connections, settle the
  // ones under way (each within its 30 s timeout) and the run goes on with those subscribed (bounded run time).
  const budget = scn.connectBudgetMs
    ? setTimeout(() => {
      log(`  connect budget of ${scn.connectBudgetMs / 1000} s spent: no more connections are opened`);
      for (const g of gens) g.send({ cmd: 'stop-connecting' });
    }, scn.connectBudgetMs)
    : null;
  const ticker = setInterval(() => {
    const sum = (k) => gens.reduce((a, g) => a + (g.progress[k] ?? 0), 0);
    log(`  connecting: ${sum('connected')}/${scn.conns} subscribed, ${sum('failed')} failed` +
      (scn.retry ? ` (${sum('firstTryFailed')} failed on the first try, ${sum('retries')} retries)` : ''));
  }, 3000);
  try {
    const readies = await withTimeout(
      Promise.all(gens.map((g) => g.next((m) => m.ev === 'ready'))),
      60_000 + scn.conns * 10,
      'connecting subscribers',
    );
    const merge = (k) => {
      const out = {};
      for (const r of readies) for (const [e, v] of Object.entries(r[k] ?? {})) out[e] = (out[e] || 0) + v;
      return out;
    };
    const sum = (k) => readies.reduce((a, r) => a + (r[k] ?? 0), 0);
    return {
      connected: sum('connected'),
      failed: sum('failed'),
      connectMs: Math.max(...readies.map((r) => r.connectMs)),
      // Every attempt's failures; first attempts' only; the connections given up on (the final `failed`).
      errors: merge('errors'),
      firstTryErrors: merge('firstTryErrors'),
      finalErrors: merge('finalErrors'),
      attempts: sum('attempts'),
      retries: sum('retries'),
      firstTryFailed: sum('firstTryFailed'),
    };
  } finally {
    clearInterval(ticker);
    clearTimeout(budget);
  }
}

/** Starts a phase in every load generator; resolves to the deliveries they expect in it (when they know). */
async function phase(gens, name, expect, expectByChannel, channel) {
  for (const g of gens) g.send({ cmd: 'phase', name, expect, expectByChannel, channel });
  // Every generator has reset its counters before the first publication of the phase goes out.
  const acks = await withTimeout(Promise.all(gens.map((g) => g.next((m) => m.ev === 'phase-ack' && m.name === name))), 10_000, 'phase ack');
  return acks.reduce((a, m) => a + (m.target ?? 0), 0);
}

function waitComplete(gens, name, ms) {
  return withTimeout(
    Promise.all(gens.map((g) => g.next((m) => m.ev === 'complete' && m.name === name))),
    ms,
    `delivery of phase ${name}`,
  ).then(
    () => true,
    () => false,
  );
}

async function collect(gens, offsets, offsetsByChannel) {
  for (const g of gens) g.send({ cmd: 'report', offsets, offsetsByChannel });
  const reps = await withTimeout(Promise.all(gens.map((g) => g.next((m) => m.ev === 'report'))), 30_000, 'reports');
  const hist = new Histogram();
  const sum = (k) => reps.reduce((a, r) => a + r[k], 0);
  for (const r of reps) hist.merge(r.hist);
  // Latency of the subscribers of each node (port), for the targets with several.
  const histByPort = [];
  for (const r of reps) r.histByPort.forEach((h, i) => (histByPort[i] ??= new Histogram()).merge(h));
  const errors = {};
  for (const r of reps) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] || 0) + v;
  return {
    hist,
    histByPort,
    received: sum('received'),
    lost: sum('lost'),
    dup: sum('dup'),
    unexpected: sum('unexpected'),
    unparsed: sum('unparsed'),
    stray: sum('stray'),
    disconnected: sum('disconnected'),
    connsWithLoss: sum('connsWithLoss'),
    loadgenCpuUs: sum('cpuUs'),
    firstRecv: Math.min(...reps.map((r) => r.firstRecv || Infinity)),
    lastRecv: Math.max(...reps.map((r) => r.lastRecv || 0)),
    errors,
  };
}

/** VmRSS of a process, or null once it is gone. */
function rssOf(pid) {
  try {
    return rssBytes(pid);
  } catch {
    return null;
  }
}

/** Switchboard's write-round counters from GET /api/stats, or null (another server, or no such fields). */
async function writeRounds(port) {
  try {
    const st = JSON.parse((await httpGet(port, '/api/stats', 2000)).body);
    return typeof st.writeRounds === 'number' ? { rounds: st.writeRounds, delayed: st.delayedWriteRounds } : null;
  } catch {
    return null;
  }
}

/** Per-run Redis key prefix: no run sees another's history, stream positions or node registry. */
let runSeq = 0;

async function runOne(name, scnDef, target, outDir) {
  const t = TARGETS[target];
  const ports = [];
  for (let i = 0; i < (t.nodes ?? 1); i++) ports.push(await freePort());
  const scn = { ...scnDef, ports, dialect: t.dialect };
  const port = ports[0]; // the runner publishes through node A's API
  const prefix = t.redis ? runPrefix(++runSeq) : null;
  const rpid = t.redis ? await redisPid().catch((e) => {
    throw new Error(`Redis not reachable at ${REDIS_URL} (${e.message}); start redis-server or set BENCH_REDIS_URL`);
  }) : null;
  if (t.redis && !rpid) log(`  redis-server's process is not visible here: its CPU is not counted`);
  const set = new ServerSet(t, { ports, ctx: { prefix }, logBase: path.join(outDir, `${name}.${target}`), track });
  const gens = [];
  try {
    log(`${name} / ${t.label}: starting server on port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}`);
    await set.start();
    const procs = set.procs();
    if (procs.length > 1) log(`  processes: ${procs.map((p) => `${p.role} ${p.pid}`).join(', ')}`);
    await sleep(500);
    const rss0 = set.rss();
    const rss0Gc = scn.kind === 'idle' ? await set.rssAfterGc() : null;
    const rss0By = new Map(procs.map(({ pid }) => [pid, rssOf(pid)]));
    const cpuConn0 = set.cpu();
    const sock0 = set.sockets();
    if (scn.kind === 'issue') {
      return await issueRun({ scenario: name, target, kind: scn.kind, mode: scn.mode, conns: scn.conns, ports }, { scn, t, set, procs, port });
    }
    const redisMem0 = scn.kind === 'scale' && prefix ? await redisMemory(prefix).catch(() => null) : null;
    const nGens = Math.ceil(scn.conns / (scn.perGen ?? maxPerLoadgen));
    for (let i = 0; i < nGens; i++) gens.push(new Gen(i));
    const conn = await connectAll(gens, scn);
    const cpuConn = cpuDelta(cpuConn0, set.cpu()).total;
    log(`  ${conn.connected} subscribed, ${conn.failed} failed in ${(conn.connectMs / 1000).toFixed(1)} s` +
      (scn.retry ? ` after ${conn.attempts} attempts (${conn.firstTryFailed} failed on the first try, ${conn.retries} retries)` : ''));
    if (scn.retry && conn.firstTryFailed) log('  first-try errors:', JSON.stringify(conn.firstTryErrors));
    if (Object.keys(conn.errors).length) log(`  errors of every attempt${scn.retry ? '' : ' (no retries)'}:`, JSON.stringify(conn.errors));
    if (scn.retry && conn.failed) log('  given up on:', JSON.stringify(conn.finalErrors));
    await sleep(SETTLE_MS);
    const rss1 = set.rss();
    // Connections per process: sockets opened since before the connect phase (exact up to a Redis or IPC socket).
    const sock1 = set.sockets();
    const connsByPid = new Map(procs.map(({ pid }) => [pid, Math.max(0, sock1.get(pid) - sock0.get(pid))]));
    if (procs.length > 1) log(`  connections: ${procs.map((p) => `${p.role} ${connsByPid.get(p.pid)}`).join(', ')}`);
    const res = {
      scenario: name, target, kind: scn.kind, mode: scn.mode, conns: scn.conns, connected: conn.connected, failed: conn.failed,
      connectErrors: conn.errors, connectMs: conn.connectMs, loadgens: nGens, ports, redisPrefix: prefix,
      ...(scn.retry ? {
        connectAttempts: conn.attempts, connectRetries: conn.retries, firstTryFailed: conn.firstTryFailed,
        firstTryErrors: conn.firstTryErrors, finalErrors: conn.finalErrors,
      } : {}),
      rssBeforeBytes: rss0, rssAfterBytes: rss1,
      rssPerConnBytes: conn.connected ? (rss1 - rss0) / conn.connected : null,
      connectCpuUsPerConn: conn.connected ? cpuConn / conn.connected : null,
    };
    if (scn.kind === 'idle') {
      const rss1Gc = rss0Gc == null ? null : await set.rssAfterGc();
      res.rssPerConnAfterGcBytes = rss1Gc != null && conn.connected ? (rss1Gc - rss0Gc) / conn.connected : null;
      return res;
    }
    if (scn.kind === 'scale') {
      // Each process's own memory per connection (a --workers primary holds no connection: left out).
      // A worker that died meanwhile (replaced by its primary) reads as null.
      const rssBy = new Map(procs.map(({ pid }) => [pid, rssOf(pid)]));
      if (set.workersChanged()) log('  WARNING: a worker died during the connect phase and was replaced; see the server log');
      res.connectRate = conn.connected / (conn.connectMs / 1000);
      res.perProcess = procs.map(({ role, pid }) => ({
        role, pid, conns: connsByPid.get(pid), rssBytes: rssBy.get(pid),
        rssPerConnBytes: connsByPid.get(pid) > 100 && rssBy.get(pid) != null ? (rssBy.get(pid) - rss0By.get(pid)) / connsByPid.get(pid) : null,
      }));
      log(`  ${fmt(res.connectRate)} connections/s; RSS per connection ${fmt(res.rssPerConnBytes / 1024)} KiB` +
        (procs.length > 1 ? ` (${res.perProcess.map((p) => `${p.role} ${p.conns} conns ${fmt(p.rssPerConnBytes == null ? null : p.rssPerConnBytes / 1024)} KiB`).join(', ')})` : ''));
      if (conn.connected === 0) throw new Error('no subscriber connected');
      await scaleDeliveries(res, { scn, gens, port, set, rpid });
      if (redisMem0) {
        // This run's keys (stream positions, history) exactly; used_memory of the shared server as a delta.
        const m = await redisMemory(prefix).catch(() => null);
        if (m) res.redisMemory = { usedDeltaBytes: m.usedBytes - redisMem0.usedBytes, keys: m.prefixKeys, keyBytes: m.prefixBytes };
        if (m) log(`  Redis: used_memory ${fmt(res.redisMemory.usedDeltaBytes / 2 ** 20)} MiB more; this run's ${m.prefixKeys} keys ${fmt(m.prefixBytes / 2 ** 20)} MiB`);
      }
      return res;
    }
    if (conn.connected === 0) throw new Error('no subscriber connected');

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
    try {
      // Warm-up: JIT and buffers for the publish and fan-out paths; not measured.
      await phase(gens, 'warmup', WARMUP_PUBS);
      const warm = await publishSeries({ agent, port, channel: 'bench', n: WARMUP_PUBS, rate: WARMUP_RATE, seqBase: -WARMUP_PUBS, dialect: t.dialect });
      if (warm.errors.length) throw new Error(`warm-up publish failed: ${warm.errors[0]}`);
      if (!(await waitComplete(gens, 'warmup', DRAIN_TIMEOUT_MS))) log('  warm-up not fully delivered; going on');
      await sleep(500);

      await phase(gens, 'measure', scn.pubs);
      await sleep(50);
      // Switchboard's flush rounds, and those its write window delayed (null for the others).
      const rounds0 = procs.length === 1 ? await writeRounds(port) : null;
      await phaseFile(true, procs);
      const cpu0 = set.cpu();
      // Run-queue wait of the server's main thread (first process; nginx's worker for Nchan): loop time lost to
      // other processes, as opposed to time the loop spent on its own work.
      const loopPid = t.tree ? procs.at(-1).pid : procs[0].pid;
      const sched0 = schedStat(loopPid);
      const threads0 = threadTimes(loopPid);
      const redis0 = rpid ? cpuMicros(rpid) : 0;
      const busy0 = machineBusyMicros();
      const self0 = process.cpuUsage();
      const w0 = now();
      log(`  publishing ${scn.pubs} at ${scn.rate}/s to ${conn.connected} subscribers`);
      const pub = await publishSeries({ agent, port, channel: 'bench', n: scn.pubs, rate: scn.rate, dialect: t.dialect });
      const expectedDeliveries = pub.offsets.length * conn.connected;
      const remaining = DRAIN_TIMEOUT_MS - (now() - pub.lastDone);
      const complete = pub.errors.length === 0 && (await waitComplete(gens, 'measure', Math.max(0, remaining)));
      const cpu = cpuDelta(cpu0, set.cpu());
      const sched1 = schedStat(loopPid);
      const threads = threadDelta(threads0, threadTimes(loopPid));
      const redisUs = rpid ? cpuMicros(rpid) - redis0 : null;
      const busy1 = machineBusyMicros();
      const self1 = process.cpuUsage(self0);
      const w1 = now();
      await phaseFile(false);
      const rounds1 = rounds0 ? await writeRounds(port) : null;
      const rep = await collect(gens, pub.offsets);
      if (set.workersChanged()) log('  WARNING: a worker was replaced during the run (it died); see the server log');
      // Whatever else ran on the machine meanwhile (other users, builds...): the figures are suspect when high.
      // Redis is part of the system under test, so its CPU is not counted as other processes'.
      const otherUs = busy1 - busy0 - cpu.total - (redisUs ?? 0) - rep.loadgenCpuUs - (self1.user + self1.system);
      if (!complete) log(`  not all delivered: ${rep.received}/${expectedDeliveries}`);
      const s = rep.hist.summary();
      const deliverSpan = (rep.lastRecv - pub.firstSent) / 1000;
      const ms = w1 - w0;
      Object.assign(res, {
        pubs: scn.pubs, rate: scn.rate,
        published: pub.offsets.length, publishErrors: pub.errors.length, publishErrorSample: pub.errors[0],
        publishRate: pub.rate, publishLatencyMs: pub.lat.summary(),
        expectedDeliveries, deliveries: rep.received, complete,
        deliveredPerSec: deliverSpan > 0 ? rep.received / deliverSpan : null,
        serverCpuUs: cpu.total, serverCpuPct: (cpu.total / 1000 / ms) * 100,
        cpuUsPerDelivery: rep.received ? cpu.total / rep.received : null,
        redisCpuUs: redisUs,
        redisCpuUsPerDelivery: redisUs !== null && rep.received ? redisUs / rep.received : null,
        // Each process's own figures. Its deliveries are taken as its connections × publications (every subscriber
        // is on the one channel); the primary of --workers has none and is divided by all deliveries instead.
        // A `tree` target (Nchan: wrapper, nginx master, worker) is one server to the reader: summed, not split.
        perProcess: t.tree ? undefined : procs.map(({ role, pid }) => {
          const conns = connsByPid.get(pid);
          const dl = role === 'primary' ? rep.received : conns * pub.offsets.length;
          const us = cpu.byPid.get(pid) ?? 0;
          return { role, pid, conns, cpuUs: us, cpuPct: (us / 1000 / ms) * 100, cpuUsPerDelivery: dl ? us / dl : null };
        }),
        latencyByPortMs: ports.length > 1 ? rep.histByPort.map((h) => h.summary()) : undefined,
        loadgenCpuPct: (rep.loadgenCpuUs / 1000 / ms) * 100,
        runnerCpuPct: ((self1.user + self1.system) / 1000 / ms) * 100,
        machineCpuPct: ((busy1 - busy0) / 1000 / ms) * 100,
        otherCpuPct: Math.max(0, (otherUs / 1000 / ms) * 100),
        latencyMs: s,
        runqueueWaitPct: ((sched1.waitNs - sched0.waitNs) / 1e6 / ms) * 100,
        mainThreadCpuPct: ((sched1.cpuNs - sched0.cpuNs) / 1e6 / ms) * 100,
        threadCpuUs: threads,
        writeRounds: rounds1 ? rounds1.rounds - rounds0.rounds : undefined,
        delayedWriteRounds: rounds1 ? rounds1.delayed - rounds0.delayed : undefined,
        lost: rep.lost, dup: rep.dup, unexpected: rep.unexpected, unparsed: rep.unparsed,
        disconnected: rep.disconnected, connsWithLoss: rep.connsWithLoss, receiveErrors: rep.errors,
      });
      if (res.otherCpuPct > 15) log(`  WARNING: other processes used ${res.otherCpuPct.toFixed(0)} % CPU during the measurement`);
      log(
        `  ${rep.received}/${expectedDeliveries} delivered, p50 ${fmt(s.p50)} p99 ${fmt(s.p99)} max ${fmt(s.max)} ms, ` +
          `${fmt(res.cpuUsPerDelivery)} µs CPU/delivery${redisUs !== null ? ` (+${fmt(res.redisCpuUsPerDelivery)} Redis)` : ''}, ` +
          `lost ${rep.lost}, dup ${rep.dup}`,
      );
      const perDl = (us) => fmt(rep.received ? us / rep.received : null);
      log(`  threads (µs/delivery, user + sys): main ${perDl(threads.main.user)} + ${perDl(threads.main.sys)}, ` +
        `other threads ${perDl(threads.other.user)} + ${perDl(threads.other.sys)}`);
      if (res.perProcess?.length > 1) {
        log(`  per process: ${res.perProcess.map((p) => `${p.role} ${fmt(p.cpuPct)} % CPU, ${fmt(p.cpuUsPerDelivery)} µs/delivery`).join('; ')}`);
      }
      return res;
    } finally {
      agent.destroy();
    }
  } finally {
    await Promise.all(gens.map((g) => g.close().catch(() => {})));
    await set.stop().catch(() => {});
    if (prefix) await dropPrefix(prefix).catch((e) => log(`  could not delete Redis keys ${prefix}:*: ${e.message}`));
  }
}

/**
 * With BENCH_PHASE_FILE set, the file exists exactly while a series is measured (from before the first measured
 * publication to the end of the drain), for probes preloaded into the servers (bench/lib/cpu-probe.js,
 * alloc-probe.js) to profile that stretch only, or for a watcher outside them (`perf record -p`): the file holds the
 * servers' pids, one a line. They poll for it every 50-200 ms: the runner waits 250 ms after creating it and after
 * removing it, outside the measured window.
 */
async function phaseFile(on, procs = []) {
  const f = process.env.BENCH_PHASE_FILE;
  if (!f) return;
  if (on) writeFileSync(f, procs.map((p) => `${p.pid}\n`).join(''));
  else rmSync(f, { force: true });
  await sleep(250);
}

/**
 * Issue #15's harness shape (bench/issue-loadgen.js): one forked process connects every subscriber, warms up, then
 * publishes and receives; the server's CPU is read from the end of its warm-up to the end of the drain.
 */
async function issueRun(res, { scn, t, set, procs, port }) {
  if (t.dialect || (t.nodes ?? 1) > 1) throw new Error('the issue-shaped scenarios run against one Switchboard-protocol server');
  const g = new Gen(0, 'issue-loadgen.js');
  try {
    g.send({ cmd: 'start', port, count: scn.conns, channel: 'issue-bench', pubs: scn.pubs, rate: scn.rate, warmup: WARMUP_PUBS });
    const ready = await withTimeout(g.next((m) => m.ev === 'ready' || m.ev === 'error'), 120_000 + scn.conns * 10, 'connecting subscribers');
    if (ready.ev === 'error') throw new Error(ready.message);
    Object.assign(res, { connected: ready.connected, failed: ready.failed, connectMs: ready.connectMs, loadgens: 1 });
    log(`  ${ready.connected} joined (seed 002 join_room), ${ready.failed} failed in ${(ready.connectMs / 1000).toFixed(1)} s`);
    if (ready.connected === 0) throw new Error('no subscriber joined');
    await sleep(500);
    const rounds0 = procs.length === 1 ? await writeRounds(port) : null;
    await phaseFile(true, procs);
    const cpu0 = set.cpu();
    const threads0 = threadTimes(procs[0].pid);
    const busy0 = machineBusyMicros();
    const w0 = now();
    log(`  publishing ${scn.pubs} at ${scn.rate}/s (sequential fetch from the subscribers' process)`);
    g.send({ cmd: 'go' });
    const done = await withTimeout(g.next((m) => m.ev === 'done' || m.ev === 'error'), 60_000 + (scn.pubs * 2000) / scn.rate, 'issue run');
    if (done.ev === 'error') throw new Error(done.message);
    const cpu = cpuDelta(cpu0, set.cpu());
    const threads = threadDelta(threads0, threadTimes(procs[0].pid));
    const busy1 = machineBusyMicros();
    const ms = now() - w0;
    await phaseFile(false);
    const rounds1 = rounds0 ? await writeRounds(port) : null;
    const s = new Histogram().merge(done.hist).summary();
    Object.assign(res, {
      pubs: scn.pubs, rate: scn.rate, published: scn.pubs, publishRate: done.publishRate,
      expectedDeliveries: done.expected, deliveries: done.received, complete: done.complete,
      serverCpuUs: cpu.total, serverCpuPct: (cpu.total / 1000 / ms) * 100,
      cpuUsPerDelivery: done.received ? cpu.total / done.received : null,
      loadgenCpuPct: (done.cpuUs / 1000 / ms) * 100,
      machineCpuPct: ((busy1 - busy0) / 1000 / ms) * 100,
      otherCpuPct: Math.max(0, ((busy1 - busy0 - cpu.total - done.cpuUs) / 1000 / ms) * 100),
      latencyMs: s,
      writeRounds: rounds1 ? rounds1.rounds - rounds0.rounds : undefined,
      delayedWriteRounds: rounds1 ? rounds1.delayed - rounds0.delayed : undefined,
      threadCpuUs: threads,
      lost: done.lost, dup: done.dup,
    });
    log(
      `  ${done.received}/${done.expected} delivered at ${fmt(done.publishRate)}/s, p50 ${fmt(s.p50)} p99 ${fmt(s.p99)} max ${fmt(s.max)} ms, ` +
        `${fmt(res.cpuUsPerDelivery)} µs CPU/delivery, lost ${done.lost}, dup ${done.dup}`,
    );
    return res;
  } finally {
    await g.close().catch(() => {});
  }
}

/**
 * The delivery part of a scale run: one warm-up publication per published channel, then `rounds` publications to
 * each of the first `pubChannels` channels, paced at `rate`/s over one keep-alive connection. Every subscriber of
 * those channels must get all of its channel's publications (lost and duplicated are counted per channel).
 */
async function scaleDeliveries(res, { scn, gens, port, set, rpid }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  const chans = Array.from({ length: scn.pubChannels }, (_, i) => `ch-${i}`);
  const each = (n) => Object.fromEntries(chans.map((c) => [c, n]));
  const all = scn.allChannel;
  /** One measured series: publications paced at `rate`, then every subscriber's deliveries checked (per channel). */
  const measure = async (name, { channel, n, rate, expectByChannel, phaseChannel }) => {
    const expected = await phase(gens, name, 0, expectByChannel, phaseChannel);
    const cpu0 = set.cpu();
    const redis0 = rpid ? cpuMicros(rpid) : 0;
    // A publisher that waits for its answer: on a starved machine the node taking the request may be busy with the
    // previous broadcast for longer than the default 10 s (a timed-out publish may still have been published).
    const pub = await publishSeries({ agent, port, channel, n, rate, timeoutMs: SCALE_PUBLISH_TIMEOUT_MS });
    if (pub.errors.length) log(`  ${name}: ${pub.errors.length} of ${n} publications failed, e.g. ${pub.errors[0]}`);
    const complete = pub.errors.length === 0 && (await waitComplete(gens, name, DRAIN_TIMEOUT_MS));
    let rep = await collect(gens, [], pub.offsetsByChannel);
    // Not all there at the deadline: late (a starved machine) or lost? Wait while deliveries still arrive.
    const atDrain = rep;
    if (!complete) {
      log(`  ${name}: ${rep.received}/${expected} delivered by the drain deadline (${DRAIN_TIMEOUT_MS / 1000} s after the last publish); waiting while more arrive`);
      const until = performance.now() + LATE_WAIT_MS;
      while (rep.lost > 0 && performance.now() < until) {
        await sleep(LATE_POLL_MS);
        const next = await collect(gens, [], pub.offsetsByChannel);
        const progressed = next.received > rep.received;
        rep = next;
        if (!progressed) break;
      }
    }
    const cpu = cpuDelta(cpu0, set.cpu());
    const redisUs = rpid ? cpuMicros(rpid) - redis0 : null;
    const s = rep.hist.summary();
    const r = {
      published: pub.offsets.length, publishErrors: pub.errors.length, publishErrorSample: pub.errors[0],
      expectedDeliveries: expected, deliveries: rep.received, complete,
      // Delivered after the drain deadline (counted in deliveries and latency), and missing at that deadline.
      lateDeliveries: rep.received - atDrain.received, lostAtDrain: atDrain.lost,
      cpuUsPerDelivery: rep.received ? cpu.total / rep.received : null,
      redisCpuUsPerDelivery: redisUs !== null && rep.received ? redisUs / rep.received : null,
      latencyMs: s, lost: rep.lost, dup: rep.dup, disconnected: rep.disconnected, receiveErrors: rep.errors,
      stray: rep.stray,
    };
    log(`  ${name}: ${rep.received}/${expected} delivered, p50 ${fmt(s.p50)} p99 ${fmt(s.p99)} max ${fmt(s.max)} ms, ` +
      `${fmt(r.cpuUsPerDelivery)} µs CPU/delivery${redisUs !== null ? ` (+${fmt(r.redisCpuUsPerDelivery)} Redis)` : ''}, ` +
      `lost ${rep.lost}, dup ${rep.dup}, disconnected ${rep.disconnected}` +
      (r.lateDeliveries ? `; ${r.lateDeliveries} arrived after the drain deadline (in the figures)` : '') +
      (rep.stray ? `, ${rep.stray} of the other channel's publications arrived late (not counted)` : ''));
    return r;
  };
  try {
    // Warm-up (not measured): one publication to each channel, and one to the channel everyone is on.
    const warmChans = all ? [...chans, all] : chans;
    await phase(gens, 'warmup', 0, Object.fromEntries(chans.map((c) => [c, 1])));
    // A warm-up publication that fails (Redis starved on a loaded machine: 504 outcome_unknown) does not end the run:
    // the measured series count their own publish errors.
    const warm = await publishSeries({ agent, port, channel: (i) => chans[i], n: chans.length, rate: scn.rate });
    if (warm.errors.length) log(`  ${warm.errors.length} warm-up publications failed, e.g. ${warm.errors[0]}; going on`);
    if (!(await waitComplete(gens, 'warmup', DRAIN_TIMEOUT_MS))) log('  warm-up not fully delivered; going on');
    if (all) {
      await phase(gens, 'warmup-all', 0, { [all]: 1 }, all);
      const w = await publishSeries({ agent, port, channel: all, n: 1, rate: 1 });
      if (w.errors.length) log(`  the warm-up broadcast failed: ${w.errors[0]}; going on`);
      if (!(await waitComplete(gens, 'warmup-all', DRAIN_TIMEOUT_MS))) log('  warm-up (broadcast) not fully delivered; going on');
    }
    log(`  warmed up ${warmChans.length} channels`);
    await sleep(500);
    const n = chans.length * scn.rounds;
    log(`  publishing ${n} (${scn.rounds} to each of ${chans.length} channels) at ${scn.rate}/s`);
    Object.assign(res, await measure('channels', { channel: (i) => chans[i % chans.length], n, rate: scn.rate, expectByChannel: each(scn.rounds) }));
    if (all) {
      await sleep(500);
      log(`  broadcasting ${scn.broadcastPubs} to "${all}" (every connection) at ${scn.broadcastRate}/s`);
      res.broadcast = await measure('broadcast', {
        channel: all, n: scn.broadcastPubs, rate: scn.broadcastRate, expectByChannel: { [all]: scn.broadcastPubs }, phaseChannel: all,
      });
    }
    return res;
  } finally {
    agent.destroy();
  }
}

// ---- output -----------------------------------------------------------------------------------------------------
function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v === 'string') return v;
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  return Number(v.toPrecision(digits)).toString();
}

const PUBLISH_METRICS = [
  ['delivered msg/s', (r) => r.deliveredPerSec],
  ['server CPU µs / delivery', (r) => r.cpuUsPerDelivery],
  ['latency p50 (ms)', (r) => r.latencyMs?.p50],
  ['latency p99 (ms)', (r) => r.latencyMs?.p99],
  ['latency max (ms)', (r) => r.latencyMs?.max],
  ['lost', (r) => r.lost],
  ['duplicated', (r) => r.dup],
  ['publish rate achieved (/s)', (r) => r.publishRate],
  // Switchboard only: flush rounds in the measured series, and how many of them its write window delayed.
  ['write rounds (delayed by the window)', (r) => (r.writeRounds == null ? null : `${r.writeRounds} (${r.delayedWriteRounds})`),
    (r) => r.writeRounds != null],
  ['server CPU % (publish phase)', (r) => r.serverCpuPct],
  // The main thread (event loop) of the first server process: on a CPU, and runnable but waiting for one.
  ['loop thread on CPU / waiting for a CPU (%)', (r) => (r.runqueueWaitPct == null ? null : `${fmt(r.mainThreadCpuPct)} / ${fmt(r.runqueueWaitPct)}`)],
  // Per thread of that process over the same window (/proc/<pid>/task/*/stat): user and kernel µs per delivery.
  ['main thread µs / delivery: user / sys', (r) => threadCell(r, 'main'), (r) => r.threadCpuUs != null],
  ['other threads (GC helpers, libuv) µs / delivery: user / sys', (r) => threadCell(r, 'other'), (r) => r.threadCpuUs != null],
  // Rows shown only when some target of the run has the figure (the Redis and multi-process targets).
  ['Redis CPU µs / delivery', (r) => r.redisCpuUsPerDelivery, (r) => r.redisCpuUsPerDelivery != null],
  ['server + Redis CPU µs / delivery', (r) => (r.cpuUsPerDelivery == null ? null : r.cpuUsPerDelivery + (r.redisCpuUsPerDelivery ?? 0)),
    (r) => r.redisCpuUsPerDelivery != null],
  ['load generator CPU % (sum)', (r) => r.loadgenCpuPct, (r) => r.perProcess?.length > 1],
  ['connections per process', (r) => perProc(r, (p) => p.conns), (r) => r.perProcess?.length > 1],
  ['CPU µs / delivery per process', (r) => perProc(r, (p) => fmt(p.cpuUsPerDelivery)), (r) => r.perProcess?.length > 1],
  ['latency p99 per node (ms)', (r) => r.latencyByPortMs?.map((l, i) => `${String.fromCharCode(65 + i)} ${fmt(l.p99)}`).join(' / '),
    (r) => r.latencyByPortMs != null],
];

function threadCell(r, g) {
  const t = r.threadCpuUs?.[g];
  return t && r.deliveries ? `${fmt(t.user / r.deliveries)} / ${fmt(t.sys / r.deliveries)}` : null;
}

/** The issue's harness (bench/issue-loadgen.js) gives the publish rows from CPU per delivery to server CPU %. */
const rowIndex = (name) => PUBLISH_METRICS.findIndex(([n]) => n === name);
const ISSUE_METRICS = [
  ...PUBLISH_METRICS.slice(rowIndex('server CPU µs / delivery'), rowIndex('server CPU % (publish phase)') + 1),
  ...PUBLISH_METRICS.slice(rowIndex('main thread µs / delivery: user / sys'), rowIndex('other threads (GC helpers, libuv) µs / delivery: user / sys') + 1),
];

const METRICS = {
  publish: PUBLISH_METRICS,
  issue: ISSUE_METRICS,
  scale: [
    ['connected / failed', (r) => `${r.connected} / ${r.failed}`],
    // With retries (as a client SDK): how many connections failed their first attempt, and all attempts made.
    ['failed on the first try / retries / attempts', (r) => `${r.firstTryFailed} / ${r.connectRetries} / ${r.connectAttempts}`,
      (r) => r.connectAttempts != null],
    ['connect rate (/s)', (r) => r.connectRate],
    ['RSS per connection (KiB)', (r) => (r.rssPerConnBytes == null ? null : r.rssPerConnBytes / 1024)],
    ['RSS per connection per process (KiB)', (r) => perProc(r, (p) => fmt(p.rssPerConnBytes == null ? null : p.rssPerConnBytes / 1024)),
      (r) => r.perProcess?.length > 1],
    ['connections per process', (r) => perProc(r, (p) => p.conns), (r) => r.perProcess?.length > 1],
    ['deliveries (lost / dup)', (r) => (r.deliveries == null ? null : `${r.deliveries} (${r.lost} / ${r.dup})${r.publishErrors ? `; ${r.publishErrors} publications failed` : ''}`)],
    ['of which after the drain deadline (late)', (r) => r.lateDeliveries, (r) => r.lateDeliveries > 0 || r.broadcast?.lateDeliveries > 0],
    ['latency p50 (ms)', (r) => r.latencyMs?.p50],
    ['latency p99 (ms)', (r) => r.latencyMs?.p99],
    ['server CPU µs / delivery', (r) => r.cpuUsPerDelivery],
    ['Redis CPU µs / delivery', (r) => r.redisCpuUsPerDelivery, (r) => r.redisCpuUsPerDelivery != null],
    ['broadcast to all: deliveries (lost / dup)', (r) => (r.broadcast ? `${r.broadcast.deliveries}/${r.broadcast.expectedDeliveries} (${r.broadcast.lost} / ${r.broadcast.dup})` +
      (r.broadcast.publishErrors ? `; ${r.broadcast.publishErrors} of ${r.broadcast.publishErrors + r.broadcast.published} publications failed (lost counts the published ones)` : '') : null),
      (r) => r.broadcast != null],
    ['broadcast: of which after the drain deadline (late)', (r) => r.broadcast?.lateDeliveries, (r) => r.lateDeliveries > 0 || r.broadcast?.lateDeliveries > 0],
    ['broadcast latency p50 / p99 (ms)', (r) => (r.broadcast ? `${fmt(r.broadcast.latencyMs?.p50)} / ${fmt(r.broadcast.latencyMs?.p99)}` : null), (r) => r.broadcast != null],
    ['broadcast server CPU µs / delivery', (r) => r.broadcast?.cpuUsPerDelivery, (r) => r.broadcast != null],
    ['broadcast Redis CPU µs / delivery', (r) => r.broadcast?.redisCpuUsPerDelivery, (r) => r.broadcast?.redisCpuUsPerDelivery != null],
    ['Redis: this run\'s keys (MiB) / used_memory growth (MiB)', (r) => (r.redisMemory ? `${fmt(r.redisMemory.keyBytes / 2 ** 20)} / ${fmt(r.redisMemory.usedDeltaBytes / 2 ** 20)}` : null),
      (r) => r.redisMemory != null],
  ],
  idle: [
    ['RSS per connection (KiB)', (r) => (r.rssPerConnBytes == null ? null : r.rssPerConnBytes / 1024)],
    // Both readings after a full GC (single-process node targets): the connections' memory without the garbage of
    // the connect phase, which otherwise moves the figure above by ±0.5 KiB between rounds.
    ['RSS per connection after a full GC (KiB)', (r) => (r.rssPerConnAfterGcBytes == null ? null : r.rssPerConnAfterGcBytes / 1024),
      (r) => r.rssPerConnAfterGcBytes != null],
    ['connect CPU µs / connection', (r) => r.connectCpuUsPerConn],
    ['connected / failed', (r) => `${r.connected} / ${r.failed}`],
  ],
};

/** One figure per process of a multi-process target, e.g. "w1 1000 / w2 1000" (P: the --workers primary). */
function perProc(r, get) {
  if (!(r.perProcess?.length > 1)) return null;
  const short = (role) => (role === 'primary' ? 'P' : role.startsWith('worker ') ? 'w' + role.slice(7) : role.replace('node ', ''));
  return r.perProcess.map((p) => `${short(p.role)} ${get(p)}`).join(' / ');
}

/** An OTLP/HTTP receiver that reads and discards what it is sent (for the tracing targets). */
function startOtlpSink() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end());
    });
    srv.listen(0, '127.0.0.1', () => {
      srv.unref();
      resolve(`http://127.0.0.1:${srv.address().port}`);
    });
  });
}

function table(results, targets, scns, meta) {
  const both = targets.length === 2 && targets[1] === 'baseline';
  // Peers: Switchboard (the first) over each of the others.
  const sbOver = meta.target === 'peers';
  // Tracing runs: each traced target as a ratio to the first (tracing off).
  const vsFirst = !both && !sbOver && targets.length > 1;
  const cols = ['scenario', 'metric', ...targets.map((t) => TARGETS[t].label)];
  if (both) cols.push('ratio (SB / base)');
  if (sbOver) for (const t of targets.slice(1)) cols.push(`SB / ${TARGETS[t].label}`);
  if (vsFirst) for (const t of targets.slice(1)) cols.push(`ratio (${TARGETS[t].label} / ${TARGETS[targets[0]].label})`);
  const lines = [
    `Switchboard benchmark — ${meta.date} — Node ${meta.node} — ${meta.cpu} × ${meta.cores} cores${meta.quick ? ' — QUICK' : ''}`,
    '',
    '| ' + cols.join(' | ') + ' |',
    '|' + cols.map((c, i) => (i < 2 ? '---' : '---:')).join('|') + '|',
  ];
  for (const [name, scn] of Object.entries(scns)) {
    const desc =
      scn.kind === 'publish' || scn.kind === 'issue'
        ? `${name} (${scn.conns} ${scn.mode.toUpperCase()} subs${scn.kind === 'issue' ? ' in the issue\'s harness' : ''}, ${scn.pubs} pubs @ ${scn.rate}/s)`
        : scn.kind === 'scale'
          ? `${name} (${scn.conns} WS + SSE conns, ${scn.channels} channels, ${scn.rounds} pubs to ${scn.pubChannels})`
          : `${name} (${scn.conns} ${scn.mode.toUpperCase()} conns, ${scn.channels} channels)`;
    // Every round of each target (--rounds); a figure is the median over rounds, with the range when several.
    const all = targets.map((t) => results.filter((r) => r.scenario === name && r.target === t));
    for (const [i, rr] of all.entries()) {
      for (const r of rr) {
        if (r.error) lines.push(`| ${desc} | ERROR (${TARGETS[targets[i]].label}${r.round > 1 ? `, round ${r.round}` : ''}) | ${String(r.error).replace(/\|/g, '/').slice(0, 160)} |`);
        if (r.skipped) lines.push(`| ${desc} | skipped (${TARGETS[targets[i]].label}) | ${r.skipped} |`);
      }
    }
    const rs = all.map((rr) => rr.filter((r) => !r.error && !r.skipped));
    for (const [label, get, shown] of METRICS[scn.kind]) {
      if (shown && !rs.some((rr) => rr.some((r) => shown(r)))) continue;
      const perRound = rs.map((rr) => rr.map(get));
      const vals = perRound.map(median);
      const row = [desc, label, ...vals.map((v, i) => fmt(v) + spread(perRound[i]))];
      const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? fmt(a / b) + '×' : '—');
      if (both) row.push(ratio(vals[0], vals[1]));
      if (sbOver) for (const v of vals.slice(1)) row.push(ratio(vals[0], v));
      if (vsFirst) for (const v of vals.slice(1)) row.push(ratio(v, vals[0]));
      lines.push('| ' + row.join(' | ') + ' |');
    }
  }
  const noisy = results.filter((r) => r.otherCpuPct > 15);
  if (noisy.length) {
    lines.push('', 'Other processes used over 15 % CPU during: ' +
      noisy.map((r) => `${r.scenario}/${TARGETS[r.target].label} (${r.otherCpuPct.toFixed(0)} %)`).join(', ') + '; treat those figures with care.');
  }
  if (meta.target === 'scaleout') lines.push('', 'Targets (issue #5):', ...scaleoutVerdicts(results).map((v) => `- ${v}`));
  return lines.join('\n') + '\n';
}

/** Median of the numbers among `vs`; the first value when none is a number (text figures), null when empty. */
function median(vs) {
  const ns = vs.filter((v) => typeof v === 'number' && !Number.isNaN(v)).sort((a, b) => a - b);
  if (!ns.length) return vs.length ? vs[0] : null;
  const m = ns.length >> 1;
  return ns.length % 2 ? ns[m] : (ns[m - 1] + ns[m]) / 2;
}

/** " (min–max)" over several rounds' numbers, else nothing. */
function spread(vs) {
  const ns = vs.filter((v) => typeof v === 'number' && !Number.isNaN(v));
  if (ns.length < 2) return '';
  return ` (${fmt(Math.min(...ns))}–${fmt(Math.max(...ns))})`;
}

/** Before a measurement: wait (up to maxS seconds) until the rest of the machine uses under NOISE_PCT / 2 % CPU. */
async function waitQuiet(maxS) {
  const deadline = performance.now() + maxS * 1000;
  let warned = false;
  for (;;) {
    const b0 = machineBusyMicros();
    const s0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(1000);
    const s1 = process.cpuUsage(s0);
    const pct = ((machineBusyMicros() - b0 - s1.user - s1.system) / 1000 / (performance.now() - t0)) * 100;
    if (pct < NOISE_PCT / 2) return pct;
    if (performance.now() >= deadline) {
      log(`  machine still busy (${pct.toFixed(0)} % CPU used by other processes); measuring anyway`);
      return pct;
    }
    if (!warned) log(`  other processes use ${pct.toFixed(0)} % CPU; waiting up to ${maxS} s for a quiet machine`);
    warned = true;
  }
}

// ---- main -------------------------------------------------------------------------------------------------------
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.loadgenConns) maxPerLoadgen = opts.loadgenConns;
  const all = scenarios(opts.quick);
  const names = opts.only ?? Object.keys(all);
  for (const n of names) if (!all[n]) usage(`unknown scenario ${n}`);
  const scns = Object.fromEntries(names.map((n) => [n, all[n]]));
  const targets = GROUPS[opts.target] ?? [opts.target];
  for (const t of targets) if (!TARGETS[t]) usage(`unknown target ${t}`);
  if (targets.some((t) => TARGETS[t].env)) otlpSinkUrl = await startOtlpSink();
  if (targets.some((t) => TARGETS[t].redis)) {
    const n = await dropStale().catch(() => 0); // an unreachable Redis fails each Redis run with a clear error instead
    if (n) log(`deleted ${n} Redis key(s) left by earlier benchmark runs that were killed`);
  }
  mkdirSync(opts.out, { recursive: true });

  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: os.cpus().length,
    clkTck: clockTicks(),
    quick: opts.quick,
    target: opts.target,
    rounds: opts.rounds,
    warmupPubs: WARMUP_PUBS,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
  };
  // Hard stop for the whole run, whatever happens.
  const budget = Object.values(scns).reduce((a, scn) => a + (scn.timeoutMs ?? SCENARIO_TIMEOUT_MS), 0) * targets.length * opts.rounds + 60_000;
  setTimeout(() => {
    console.error(`run exceeded ${budget / 1000} s; aborting`);
    killAll('SIGKILL');
    process.exit(1);
  }, budget).unref();

  const results = [];
  let extraMd = '';
  for (const [name, scn] of Object.entries(scns)) {
    if (scn.kind === 'ticker') {
      try {
        const t = await runTicker({ target: TARGETS.switchboard, freePort, outDir: opts.out, track, log, quick: opts.quick, fullEvery: 20 });
        results.push({ scenario: name, target: 'switchboard', kind: 'ticker', ticker: t.rows, ...(t.error ? { error: t.error } : {}) });
        extraMd += '\n' + t.md;
      } catch (e) {
        log(`${name}: FAILED: ${e.message}`);
        results.push({ scenario: name, target: 'switchboard', kind: 'ticker', error: e.message });
        killAll('SIGKILL');
      }
      continue;
    }
    // With --rounds N the targets alternate N times (A B C A B C ...), so a slow spell of the machine hits all alike.
    for (let round = 1; round <= opts.rounds; round++) for (const target of targets) {
      const t = TARGETS[target];
      if (!t.missing && !existsSync(t.script)) {
        if (round === 1) results.push({ scenario: name, target, error: `${path.relative(ROOT, t.script)} not found (npm run build)` });
        log(`${name} / ${t.label}: skipped, not built`);
        continue;
      }
      // A peer that is not installed, or has no such transport, is skipped with the reason (not a failure).
      const skipped = t.missing?.() ?? (t.modes && !t.modes.includes(scn.mode) ? `${t.label} has no ${scn.mode.toUpperCase()} transport` : null) ??
        tooManyFds(scn, t);
      if (skipped) {
        if (round === 1) {
          results.push({ scenario: name, target, skipped });
          log(`${name} / ${t.label}: skipped: ${skipped}`);
        }
        continue;
      }
      let best = null;
      for (let attempt = 0; attempt <= opts.noiseRetries; attempt++) {
        let r;
        const idleOther = await waitQuiet(opts.quietWait);
        try {
          r = await withTimeout(runOne(name, scn, target, opts.out), scn.timeoutMs ?? SCENARIO_TIMEOUT_MS, `${name}/${target}`);
        } catch (e) {
          log(`${name} / ${TARGETS[target].label}: FAILED: ${e.message}`);
          r = { scenario: name, target, error: e.message };
          killAll('SIGKILL'); // a timed-out scenario may have left its processes behind
          await sleep(500);
        }
        r.attempts = attempt + 1;
        r.round = round;
        r.otherCpuPctBefore = idleOther;
        if (!best || (!r.error && (best.error || (r.otherCpuPct ?? 0) < (best.otherCpuPct ?? 0)))) best = r;
        await sleep(1000); // let sockets drain between runs
        if (r.error || !(r.otherCpuPct > NOISE_PCT) || attempt === opts.noiseRetries) break;
        log(`  other processes used ${r.otherCpuPct.toFixed(0)} % CPU: measuring again`);
      }
      results.push(best);
    }
  }

  const tableScns = Object.fromEntries(Object.entries(scns).filter(([, scn]) => scn.kind !== 'ticker'));
  const md = (Object.keys(tableScns).length ? table(results, targets, tableScns, meta) : '') + extraMd;
  writeFileSync(path.join(opts.out, 'results.json'), JSON.stringify({ meta, scenarios: scns, results }, null, 2) + '\n');
  writeFileSync(path.join(opts.out, 'results.md'), md);
  process.stdout.write('\n' + md);
  log(`wrote ${path.relative(process.cwd(), path.join(opts.out, 'results.json'))} and results.md`);
  process.exit(results.some((r) => r.error) ? 1 : 0);
}

main();
