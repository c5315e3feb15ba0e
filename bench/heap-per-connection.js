// What an idle connection holds on the JS heap, by constructor: starts a server with --heapsnapshot-signal, takes a
// heap snapshot, opens N idle connections (each subscribed to one of 100 channels, like the idle-* scenarios),
// takes another, and prints the difference per connection (count and self size), largest first. Plain objects and
// arrays are named by what holds them (`Object {a,b} <- Session.conn`), so a per-connection literal can be found.
//
//   node bench/heap-per-connection.js [--mode ws|sse] [--conns 2000] [--top 60] [--dist dist | --baseline]
//
// Self sizes only (no retained sizes); native memory (socket buffers, the HTTP parser's C++ side) is not in a heap
// snapshot, so RSS per connection (`node bench/run.js --only idle-ws,idle-sse`) is larger. Snapshots go to a
// temporary directory, removed at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort } from './lib/free-port.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const opts = { mode: 'ws', conns: 2000, top: 60, dist: path.join(ROOT, 'dist'), baseline: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--mode') opts.mode = process.argv[++i];
  else if (a === '--conns') opts.conns = Number(process.argv[++i]);
  else if (a === '--top') opts.top = Number(process.argv[++i]);
  else if (a === '--dist') opts.dist = path.resolve(process.argv[++i]);
  else if (a === '--baseline') opts.baseline = true;
  else {
    console.error('usage: node bench/heap-per-connection.js [--mode ws|sse] [--conns N] [--top K] [--dist dir | --baseline]');
    process.exit(2);
  }
}
if (!['ws', 'sse'].includes(opts.mode) || !(opts.conns > 0)) throw new Error('--mode ws|sse and --conns > 0');

const port = await freePort();
const dir = mkdtempSync(path.join(os.tmpdir(), 'heap-per-connection-'));
const args = opts.baseline
  ? [path.join(HERE, 'baseline-server.js'), '--port', String(port)]
  : [path.join(opts.dist, 'cli/main.js'), 'serve', '--port', String(port), '--log-level', 'warn',
      '--limits.connectRate', '0', '--limits.connectionsPerIp', '0', '--limits.sseStreamsPerIp', '0'];
const server = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });

try {
  await waitListening();
  await openMany(0, 200); // warm-up: code and shared tables made by the first connections are not counted
  await sleep(500);
  const before = await snapshot();
  await openMany(1000, opts.conns);
  await sleep(2000);
  const after = await snapshot();
  report(aggregate(before), aggregate(after));
} finally {
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

/** Until the server answers HTTP (any status). */
async function waitListening() {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false)) return;
    await sleep(100);
  }
  throw new Error('server not listening');
}

function openWs(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?user=bench-${i}`, { perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: `ch${i % 100}` } })));
    ws.on('message', (d) => {
      if (JSON.parse(d.toString()).id === 1) resolve();
    });
    ws.on('error', reject);
  });
}

function openSse(i) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/events?channel=ch${i % 100}&user=bench-${i}`, agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if (text.includes('\n\n')) resolve();
      });
    });
    req.on('error', reject);
  });
}

async function openMany(from, n) {
  const open = opts.mode === 'ws' ? openWs : openSse;
  for (let i = from; i < from + n; i += 100) await Promise.all(Array.from({ length: Math.min(100, from + n - i) }, (_, k) => open(i + k)));
}

/** Signals the server and waits for its new snapshot file to be complete. */
async function snapshot() {
  const seen = new Set(readdirSync(dir));
  server.kill('SIGUSR2');
  for (;;) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => !seen.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    let size = -1;
    for (;;) {
      const now = statSync(path.join(dir, file)).size;
      if (now > 0 && now === size) return path.join(dir, file);
      size = now;
      await sleep(700);
    }
  }
}

/** Count and self size per key: the node's type and name, plain objects and arrays with what holds them. */
function aggregate(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const F = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const [types] = meta.node_types;
  const [edgeTypes] = meta.edge_types;
  const { nodes, edges, strings } = snap;
  const fType = meta.node_fields.indexOf('type');
  const fName = meta.node_fields.indexOf('name');
  const fSize = meta.node_fields.indexOf('self_size');
  const fEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const n = nodes.length / F;
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += nodes[i * F + fEdges] * EF;
    firstEdge[i + 1] = e;
  }
  const type = (i) => types[nodes[i * F + fType]];
  const name = (i) => strings[nodes[i * F + fName]];
  const label = (i) => (type(i) === 'object' || type(i) === 'closure' ? name(i) : `(${type(i)})`);
  const props = (i) => {
    const out = [];
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) if (edgeTypes[edges[e + eType]] === 'property') out.push(strings[edges[e + eName]]);
    return out.slice(0, 6).join(',');
  };
  // The first strong retainer of each node, as "Holder.edge".
  const holder = new Map();
  for (let i = 0; i < n; i++) {
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
      const et = edgeTypes[edges[e + eType]];
      if (et === 'weak' || et === 'shortcut') continue;
      const to = edges[e + eTo] / F;
      if (holder.has(to)) continue;
      holder.set(to, `${label(i)}.${et === 'element' || et === 'hidden' ? `[${et}]` : strings[edges[e + eName]]}`);
    }
  }
  const out = new Map();
  for (let i = 0; i < n; i++) {
    const t = type(i);
    if (t === 'number' || t === 'code') continue;
    let key = `${t} ${label(i)}`;
    if (t === 'string' || t === 'concatenated string' || t === 'sliced string') key = `string <- ${holder.get(i) ?? '?'}`;
    else if (t === 'object' && (name(i) === 'Object' || name(i) === 'Array')) key += ` {${props(i)}} <- ${holder.get(i) ?? '?'}`;
    else if (t === 'array' || t === 'closure' || t === 'hidden') key += ` ${name(i).slice(0, 30)} <- ${holder.get(i) ?? '?'}`;
    const a = out.get(key) ?? { count: 0, size: 0 };
    a.count++;
    a.size += nodes[i * F + fSize];
    out.set(key, a);
  }
  return out;
}

function report(before, after) {
  const rows = [];
  let total = 0;
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, size: 0 };
    total += a.size - b.size;
    rows.push({ key, count: (a.count - b.count) / opts.conns, size: (a.size - b.size) / opts.conns });
  }
  for (const [key, b] of before) if (!after.has(key)) total -= b.size;
  rows.sort((x, y) => y.size - x.size);
  const who = opts.baseline ? 'baseline' : path.relative(ROOT, opts.dist) || opts.dist;
  console.log(`${who}, ${opts.conns} idle ${opts.mode} connections: JS heap (self sizes, numbers and code left out) ${(total / opts.conns).toFixed(0)} bytes per connection`);
  console.log('bytes/conn  count/conn  what');
  for (const r of rows.slice(0, opts.top)) console.log(`${r.size.toFixed(1).padStart(10)}  ${r.count.toFixed(2).padStart(10)}  ${r.key.slice(0, 160)}`);
}
