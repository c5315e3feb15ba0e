// Load generator child (started by bench/run.js with child_process.fork). Opens N WebSocket or SSE subscriber
// connections to 127.0.0.1, and for every publication received records publish->receive latency and the offset.
// Talks to the parent over IPC only:
//   parent -> { cmd: 'start', mode: 'ws'|'sse', ports, count, idBase, channels, concurrency, connectTimeoutMs,
//               dialect: 'switchboard' (default; the baseline speaks it too) | 'nchan' | 'socketio',
//               localAddress: a 127.0.0.x to connect from, portOffset: where its source ports start (see takePort),
//               allChannel: a second channel every connection subscribes to (the broadcast of a scale run),
//               retry: { maxAttempts, minDelay, maxDelay } to retry a failed connect/subscribe as a client SDK does }
//                                               connection id k goes to ports[k % ports.length] (nodes of a cluster)
//   child  -> { ev: 'progress', ... } ... { ev: 'ready', connected, failed, errors, connectMs,
//               attempts, retries, firstTryFailed, firstTryErrors, finalErrors }
//   parent -> { cmd: 'phase', name, expect }   reset stats; child sends { ev: 'complete', name } once every
//                                               connection has received `expect` publications (counted in total)
//             { ..., expectByChannel: {ch: n} } instead: each connection expects n publications on its channel
//             { ..., channel: 'all' } with expectByChannel: the phase's publications are on that channel for every
//                                         connection (start's `allChannel`, which every connection also subscribes to)
//   parent -> { cmd: 'report', offsets }       child -> { ev: 'report', ... } (lost/dup computed against offsets)
//             { cmd: 'report', offsetsByChannel: {ch: [offsets]} }  each connection against its channel's
//   parent -> { cmd: 'close' }                  child exits
// Per-message work is kept small: the frame text is scanned with indexOf for "sent" and "offset" (about 4x cheaper
// than JSON.parse of the whole push on this kind of frame); anything unexpected falls back to JSON.parse.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram } from './lib/hist.js';

const HOST = '127.0.0.1';
const PUB_PREFIX = '{"push":"publication"';
const RAW_PREFIX = '{"sent":';
const now = () => performance.timeOrigin + performance.now();

if (!process.send) {
  console.error('loadgen.js must be started by bench/run.js (child_process.fork)');
  process.exit(2);
}
// The parent going away (exit, crash, kill) closes the IPC channel: never outlive it.
process.on('disconnect', () => process.exit(0));
const hardLimit = setTimeout(() => process.exit(3), Number(process.env.BENCH_LOADGEN_MAX_MS || 30 * 60e3));
hardLimit.unref();

/** @type {Conn[]} */
const conns = [];
let cfg;
/** How a publication of cfg.allChannel begins (native frames: publicationJson in src/protocol/frames.ts). */
let allPrefix = null;
let subscribed = 0;
/** Connections given up on (every attempt failed, or connecting stopped while one waited to retry). */
let failed = 0;
let disconnected = 0;
/** Attempts in flight (a connection waiting to retry holds no slot of cfg.concurrency). */
let inFlight = 0;
/** Connect attempts made, attempts that were retries, connections whose first attempt failed. */
let attempts = 0;
let retries = 0;
let firstTryFailed = 0;
/** Failures of every attempt, of first attempts only, and of connections given up on, by error. */
const errorSamples = new Map();
const firstTryErrors = new Map();
const finalErrors = new Map();
/** Connections whose backoff ended, waiting for a slot; and those still waiting for their backoff to end. */
const retryReady = [];
const backingOff = new Set();

// ---- phase statistics -------------------------------------------------------------------------------------------
let phase = null;
/** The channel of this phase's publications for every connection (the broadcast), else each connection's own. */
let phaseChannel;
let hist = new Histogram();
/** Latency per port (node): one histogram each, besides the overall one. */
let histByPort = [];
let received = 0;
let target = Infinity;
let firstRecv = 0;
let lastRecv = 0;
let unparsed = 0;
let cpuAtPhase = process.cpuUsage();

function noteError(e, into = errorSamples) {
  const k = String(e?.code || e?.message || e).slice(0, 120);
  into.set(k, (into.get(k) || 0) + 1);
}

class Conn {
  constructor(id, channel, portIndex) {
    this.id = id;
    this.channel = channel;
    this.portIndex = portIndex;
    this.port = cfg.ports[portIndex];
    this.subscribed = false;
    this.done = false; // this attempt settled (subscribed or failed) for the connect pool
    this.attempts = 0;
    this.lastError = null;
    this.offs = [];
    this.replies = 0;
    this.handle = null;
    // SSE parser state
    this.rest = '';
    this.event = null;
    this.data = null;
  }
}

/** Publications of the other phase's channel (a late one of the per-channel series arriving in the broadcast's). */
let stray = 0;

/** A publication's JSON text (WS frame payload or SSE data). */
function onPublication(c, t) {
  const ts = now();
  // With a broadcast channel each connection is on two channels: a publication counts only in its own channel's
  // phase (offsets of the two channels overlap, so a late one would otherwise read as a duplicate or fill a gap).
  if (cfg.allChannel && t.startsWith(PUB_PREFIX) && t.startsWith(allPrefix) !== (phaseChannel === cfg.allChannel)) {
    stray++;
    return;
  }
  let sent;
  let off;
  const i = t.startsWith(PUB_PREFIX) ? t.indexOf('"sent":') : -1;
  const j = i < 0 ? -1 : t.indexOf('"offset":', i);
  if (j > 0) {
    sent = +t.slice(i + 7, t.indexOf(',', i + 7));
    off = 0;
    let k = j + 9;
    let ch;
    while ((ch = t.charCodeAt(k++)) >= 48 && ch <= 57) off = off * 10 + ch - 48;
  } else if (t.startsWith(RAW_PREFIX)) {
    // A peer that delivers the published data as it is (Nchan): {"sent":..,"seq":..}; seq stands for the offset.
    const at = RAW_PREFIX.length;
    sent = +t.slice(at, t.indexOf(',', at));
    const s = t.indexOf('"seq":', at);
    off = s < 0 ? NaN : +t.slice(s + 6, t.indexOf(',', s + 6));
  } else {
    let o;
    try {
      o = JSON.parse(t);
    } catch {
      unparsed++;
      return;
    }
    if (o?.push !== 'publication') return; // other pushes (pings, joins...) are not publications
    sent = Number(o.payload?.sent);
    off = Number(o.offset);
  }
  record(c, ts, sent, off);
}

/** One publication received at `ts`: latency from `sent` (ms since the epoch) and its offset (or seq). */
function record(c, ts, sent, off) {
  if (received === 0) firstRecv = ts;
  lastRecv = ts;
  c.offs.push(off);
  if (sent > 0) {
    hist.record(ts - sent);
    if (histByPort.length > 1) histByPort[c.portIndex].record(ts - sent);
  } else unparsed++;
  if (++received === target) process.send({ ev: 'complete', name: phase });
}

function settle(c, ok, err) {
  if (c.done) return;
  c.done = true;
  inFlight--;
  if (ok) {
    c.subscribed = true;
    subscribed++;
  } else {
    const e = err || new Error('failed');
    noteError(e);
    if (c.attempts === 1) {
      firstTryFailed++;
      noteError(e, firstTryErrors);
    }
    c.lastError = e;
    if (cfg.retry && c.attempts < cfg.retry.maxAttempts && !stopped) scheduleRetry(c);
    else giveUp(c);
  }
  launchNext();
}

function giveUp(c) {
  failed++;
  noteError(c.lastError, finalErrors);
}

/**
 * A failed connect or subscribe is made again after a backoff, as a client SDK reconnects (src/client/backoff.ts:
 * exponential with full jitter, minDelay · 2^(attempt) capped at maxDelay). The attempt's socket is closed first.
 */
function scheduleRetry(c) {
  try {
    if (cfg.mode === 'ws') c.handle?.terminate();
    else c.handle?.destroy();
  } catch {}
  c.handle = null;
  clearTimeout(c.timer);
  const { minDelay, maxDelay } = cfg.retry;
  const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(c.attempts, 31));
  backingOff.add(c);
  c.retryTimer = setTimeout(() => {
    backingOff.delete(c);
    retryReady.push(c);
    launchNext();
  }, Math.round(minDelay + Math.random() * (ceiling - minDelay)));
}

/** One attempt of connection `c`: a fresh socket, parser state and subscribe replies. */
function attempt(c) {
  c.attempts++;
  attempts++;
  if (c.attempts > 1) retries++;
  inFlight++;
  c.done = false;
  c.replies = 0;
  c.bindRetries = 0;
  c.rest = '';
  c.event = null;
  c.data = null;
  if (cfg.mode === 'ws') openWs(c);
  else openSse(c);
}

// Source ports. Each load generator binds its connections to its own 127.0.0.x with an explicit port, taken in turn
// from [PORT_MIN, PORT_MAX): with port 0 the kernel searches the address's ephemeral range for a free port on every
// bind(), which grows with the connections already open (about 0.8 ms of system CPU per connection at 9,000 open on
// one address, and worse beyond): the load generator, not the server, then set the connect rate.
const PORT_MIN = 10000;
const PORT_MAX = 65000;
let nextPort = 0;
function takePort() {
  if (!cfg.localAddress) return undefined;
  const p = PORT_MIN + ((cfg.portOffset + nextPort++) % (PORT_MAX - PORT_MIN));
  return p;
}
/** A port in use (another process's socket on it): the attempt is made again on the next port, a few times. */
function retryBind(c, err, handle) {
  if (c.done || c.handle !== handle || (err?.code !== 'EADDRINUSE' && err?.code !== 'EADDRNOTAVAIL') || c.bindRetries >= 20) return false;
  c.bindRetries = (c.bindRetries ?? 0) + 1;
  c.handle = null;
  clearTimeout(c.timer);
  if (cfg.mode === 'ws') openWs(c);
  else openSse(c);
  return true;
}

function lost(c, err) {
  if (!c.done) return settle(c, false, err || new Error('closed before subscribed'));
  if (c.subscribed && !c.gone) {
    c.gone = true;
    disconnected++;
    if (err) noteError(err);
  }
}

// ---- WebSocket --------------------------------------------------------------------------------------------------
function openWs(c) {
  if (cfg.dialect === 'socketio') return openSocketIo(c);
  const nchan = cfg.dialect === 'nchan';
  const url = nchan ? `ws://${HOST}:${c.port}/ws?channel=${encodeURIComponent(c.channel)}` : `ws://${HOST}:${c.port}/ws?user=bench-${c.id}`;
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    skipUTF8Validation: true,
    localAddress: cfg.localAddress,
    localPort: takePort(),
    handshakeTimeout: cfg.connectTimeoutMs,
  });
  c.handle = ws;
  const timer = (c.timer = setTimeout(() => {
    if (!c.done) {
      settle(c, false, new Error('subscribe timeout'));
      ws.terminate();
    }
  }, cfg.connectTimeoutMs));
  ws.on('open', () => {
    // Nchan subscribes with the URL: open means subscribed.
    if (nchan) {
      clearTimeout(timer);
      settle(c, true);
    } else {
      ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: c.channel } }));
      if (cfg.allChannel) ws.send(JSON.stringify({ id: 2, method: 'subscribe', params: { channel: cfg.allChannel } }));
    }
  });
  ws.on('message', (data) => {
    const t = data.toString('latin1');
    if (c.subscribed) return onPublication(c, t);
    let o;
    try {
      o = JSON.parse(t);
    } catch {
      return;
    }
    if (o.id === 1 || o.id === 2) {
      // Subscribed once every subscribe (one, or two with allChannel) is answered.
      if (o.result && ++c.replies < (cfg.allChannel ? 2 : 1)) return;
      clearTimeout(timer);
      if (o.result) settle(c, true);
      else {
        settle(c, false, new Error('subscribe error: ' + JSON.stringify(o.error)));
        ws.terminate();
      }
    } else if (o.push === 'publication') {
      onPublication(c, t);
    }
  });
  ws.on('error', (e) => {
    clearTimeout(timer);
    if (!retryBind(c, e, ws) && c.handle === ws) lost(c, e);
  });
  ws.on('close', (code) => {
    clearTimeout(timer);
    if (c.handle === ws) lost(c, code !== 1000 && code !== 1005 ? new Error('ws close ' + code) : null);
  });
}

// ---- Socket.IO (bench/peers/socketio-server.js) ----------------------------------------------------------------
let ioClient = null; // socket.io-client's io(), loaded on first use: the other dialects do not need it installed

function openSocketIo(c) {
  const s = ioClient(`http://${HOST}:${c.port}`, {
    transports: ['websocket'], reconnection: false, forceNew: true, timeout: cfg.connectTimeoutMs,
  });
  c.handle = s;
  const timer = setTimeout(() => {
    if (!c.done) {
      settle(c, false, new Error('subscribe timeout'));
      s.disconnect();
    }
  }, cfg.connectTimeoutMs);
  s.on('connect', () => {
    s.emit('subscribe', c.channel, (r) => {
      clearTimeout(timer);
      settle(c, r?.ok === true, r?.ok ? null : new Error('subscribe refused'));
    });
  });
  // Socket.IO hands the data over parsed: no text to scan.
  s.on('message', (d) => record(c, now(), Number(d?.sent), Number(d?.seq)));
  s.on('connect_error', (e) => {
    clearTimeout(timer);
    lost(c, e);
  });
  s.on('disconnect', (reason) => lost(c, reason === 'io client disconnect' ? null : new Error('socket.io ' + reason)));
}

// ---- SSE --------------------------------------------------------------------------------------------------------
function sseDispatch(c) {
  const data = c.data;
  const event = c.event;
  c.data = null;
  c.event = null;
  if (data === null) return;
  if (c.subscribed) {
    if (event !== 'connected') onPublication(c, data);
  } else if (event === 'connected') {
    settle(c, true);
  }
}

function sseChunk(c, chunk) {
  const s = c.rest.length ? c.rest + chunk : chunk;
  let pos = 0;
  for (;;) {
    const nl = s.indexOf('\n', pos);
    if (nl < 0) break;
    let end = nl;
    if (end > pos && s.charCodeAt(end - 1) === 13) end--;
    if (end === pos) {
      sseDispatch(c);
    } else {
      const c0 = s.charCodeAt(pos);
      if (c0 === 100 /* d */ && s.startsWith('data:', pos)) {
        let v = pos + 5;
        if (s.charCodeAt(v) === 32) v++;
        const d = s.slice(v, end);
        c.data = c.data === null ? d : c.data + '\n' + d;
      } else if (c0 === 101 /* e */ && s.startsWith('event:', pos)) {
        let v = pos + 6;
        if (s.charCodeAt(v) === 32) v++;
        c.event = s.slice(v, end);
      }
      // ':' comments (heartbeats), id:, retry: are ignored
    }
    pos = nl + 1;
  }
  c.rest = pos < s.length ? s.slice(pos) : '';
}

function openSse(c) {
  const req = http.get({
    host: HOST,
    port: c.port,
    path: `/events?channel=${encodeURIComponent(c.channel)}${cfg.allChannel ? `&channel=${encodeURIComponent(cfg.allChannel)}` : ''}&user=bench-${c.id}`,
    agent: false,
    localAddress: cfg.localAddress,
    localPort: takePort(),
    headers: { accept: 'text/event-stream' },
  });
  c.handle = req;
  const timer = (c.timer = setTimeout(() => {
    if (!c.done) {
      settle(c, false, new Error('subscribe timeout'));
      req.destroy();
    }
  }, cfg.connectTimeoutMs));
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      clearTimeout(timer);
      settle(c, false, new Error('HTTP ' + res.statusCode));
      res.resume();
      req.destroy();
      return;
    }
    res.setEncoding('latin1');
    // Nchan sends no event of its own on connect: the 200 means subscribed.
    if (cfg.dialect === 'nchan') {
      clearTimeout(timer);
      settle(c, true);
    }
    res.on('data', (chunk) => {
      sseChunk(c, chunk);
      if (c.subscribed) clearTimeout(timer);
    });
    res.on('end', () => c.handle === req && lost(c, new Error('SSE stream ended')));
    res.on('error', (e) => c.handle === req && lost(c, e));
  });
  req.on('error', (e) => {
    clearTimeout(timer);
    if (!retryBind(c, e, req) && c.handle === req) lost(c, e);
  });
  req.on('close', () => {
    if (c.handle === req) lost(c, null);
  });
}

// ---- connect pool -----------------------------------------------------------------------------------------------
let nextIndex = 0;
let connectStart = 0;
let readySent = false;

/** Connecting stopped (the connect budget is spent): no new connection, no further retry. */
let stopped = false;

function launchNext() {
  // Retries first (their connections were started earlier), then new connections.
  while (inFlight < cfg.concurrency && retryReady.length > 0) attempt(retryReady.shift());
  while (nextIndex < cfg.count && inFlight < cfg.concurrency) {
    const i = nextIndex++;
    const id = cfg.idBase + i;
    const channel = cfg.channels > 1 ? `${cfg.channelPrefix}${id % cfg.channels}` : cfg.channelName;
    const c = new Conn(id, channel, id % cfg.ports.length);
    conns.push(c);
    attempt(c);
  }
  if (!readySent && subscribed + failed === cfg.count) {
    readySent = true;
    clearInterval(progressTimer);
    process.send({
      ev: 'ready',
      connected: subscribed,
      failed,
      errors: Object.fromEntries(errorSamples),
      firstTryErrors: Object.fromEntries(firstTryErrors),
      finalErrors: Object.fromEntries(finalErrors),
      attempts,
      retries,
      firstTryFailed,
      connectMs: performance.now() - connectStart,
    });
  }
}

let progressTimer;

function startConnecting() {
  connectStart = performance.now();
  progressTimer = setInterval(() => {
    process.send({ ev: 'progress', connected: subscribed, failed, opened: nextIndex, retries, firstTryFailed });
  }, 1000);
  launchNext();
}

process.on('message', (m) => {
  switch (m.cmd) {
    case 'start':
      cfg = {
        channelName: 'bench', channelPrefix: 'ch-', channels: 1, concurrency: 200, connectTimeoutMs: 30000, portOffset: 0, ...m,
      };
      if (!cfg.ports) cfg.ports = [cfg.port];
      allPrefix = cfg.allChannel ? PUB_PREFIX + ',"channel":' + JSON.stringify(cfg.allChannel) + ',' : null;
      if (cfg.dialect === 'socketio') {
        import('socket.io-client').then(
          (mod) => {
            ioClient = mod.io;
            startConnecting();
          },
          (e) => {
            console.error('socket.io-client is not installed (npm install):', e.message);
            process.exit(4);
          },
        );
      } else startConnecting();
      break;
    case 'phase':
      phase = m.name;
      phaseChannel = m.channel;
      hist = new Histogram();
      histByPort = cfg.ports.map(() => new Histogram());
      received = 0;
      firstRecv = lastRecv = 0;
      unparsed = 0;
      stray = 0;
      for (const c of conns) c.offs = [];
      if (m.expectByChannel) {
        target = 0;
        for (const c of conns) if (c.subscribed) target += m.expectByChannel[phaseChannel ?? c.channel] ?? 0;
      } else target = m.expect > 0 ? m.expect * subscribed : Infinity;
      cpuAtPhase = process.cpuUsage();
      process.send({ ev: 'phase-ack', name: phase, target: Number.isFinite(target) ? target : 0 });
      if (target === 0) process.send({ ev: 'complete', name: phase });
      break;
    case 'stop-connecting':
      // No new connection attempts and no more retries; those under way settle (subscribed, failed or timed out),
      // those waiting to retry are given up on, then 'ready'.
      if (!cfg) break;
      stopped = true;
      cfg.count = nextIndex;
      for (const c of [...backingOff, ...retryReady.splice(0)]) {
        clearTimeout(c.retryTimer);
        backingOff.delete(c);
        giveUp(c);
      }
      launchNext();
      break;
    case 'report':
      process.send(report(m.offsets || [], m.offsetsByChannel));
      break;
    case 'close':
      for (const c of conns) {
        try {
          if (cfg.dialect === 'socketio') c.handle?.disconnect();
          else if (cfg.mode === 'ws') c.handle?.terminate();
          else c.handle?.destroy();
        } catch {}
      }
      setTimeout(() => process.exit(0), 50);
      break;
  }
});

function report(all, byChannel) {
  const cpu = process.cpuUsage(cpuAtPhase);
  // Expected offsets, their positions and a seen-mark per list (one list, or one per channel).
  const lists = new Map();
  const listOf = (ch) => {
    const key = byChannel ? ch : '';
    let l = lists.get(key);
    if (!l) {
      const expected = byChannel ? byChannel[ch] ?? [] : all;
      const index = new Map();
      expected.forEach((o, i) => index.set(o, i));
      l = { expected, index, mark: new Uint8Array(expected.length) };
      lists.set(key, l);
    }
    return l;
  };
  let lostTotal = 0;
  let dup = 0;
  let unexpected = 0;
  let complete = 0;
  let connsWithLoss = 0;
  for (const c of conns) {
    if (!c.subscribed) continue;
    const { expected, index, mark } = listOf(phaseChannel ?? c.channel);
    mark.fill(0);
    let seen = 0;
    const others = new Set();
    for (const o of c.offs) {
      const i = index.get(o);
      if (i === undefined) {
        unexpected++;
        if (others.has(o)) dup++;
        else others.add(o);
      } else if (mark[i]) dup++;
      else {
        mark[i] = 1;
        seen++;
      }
    }
    const l = expected.length - seen;
    lostTotal += l;
    if (l === 0) complete++;
    else connsWithLoss++;
  }
  return {
    ev: 'report',
    phase,
    connected: subscribed,
    failed,
    disconnected,
    received,
    hist: hist.toJSON(),
    histByPort: histByPort.length > 1 ? histByPort.map((h) => h.toJSON()) : [],
    firstRecv,
    lastRecv,
    lost: lostTotal,
    dup,
    unexpected,
    unparsed,
    stray,
    complete,
    connsWithLoss,
    errors: Object.fromEntries(errorSamples),
    cpuUs: cpu.user + cpu.system,
  };
}
