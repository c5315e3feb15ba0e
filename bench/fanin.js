// Small, bounded measurements behind docs/scaling.md (issue #15), each on a private redis-server (random loopback
// port, no persistence, stopped by pid at the end):
//
//   redis  Redis CPU per publication as a function of how many nodes subscribe to its channel (M broker instances,
//          each with its own subscriber connection, as M Switchboard nodes would have), and the subscribing side's
//          CPU per publication received. One publisher broker in this process publishes `--pubs` publications of
//          ~100 bytes to one channel, 32 in flight; the M subscribers run in one child process.
//   node   A Switchboard node's CPU per publication it receives from Redis, for K local WebSocket subscribers of that
//          channel (the load generator, bench/loadgen.js): the fixed cost of a publication reaching a node, and the
//          event-loop time of one broadcast to K sockets. Publications come straight from a broker in this process,
//          as from another node, slowly enough that each is its own write round.
//
//   presence  Redis CPU per presence write (`--pubs` of them, 32 in flight, over 100 channels): every subscription
//          writes one, and its node rewrites it every `redis.presenceTtl` / 3 while it lasts.
//
//   npm run build && node bench/fanin.js [--part redis|node|presence|all] [--pubs 10000] [--rounds 2] [--nodes 0,1,4,16,64]
//
// CPU is read from /proc (utime + stime, 10 ms ticks); each figure is over enough work to span many ticks.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/free-port.js';
import { cpuMicros } from './lib/proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const PAD = 'x'.repeat(48);
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
};
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

async function createBroker(url, extra = {}) {
  const { createRedisBroker } = await import(path.join(ROOT, 'dist/broker/redis.js'));
  return createRedisBroker({
    url, prefix: 'fanin', history: { size: 100, ttlMs: 60_000 }, metaTtlMs: 600_000, presenceTtlMs: 60_000,
    logger: { warn: () => {}, error: (...a) => console.error(...a) }, ...extra,
  });
}
const nullHandler = (onPub) => ({ onPublication: onPub, onJoin() {}, onLeave() {}, onControl() {}, onGap() {} });

// ---- runner -----------------------------------------------------------------------------------------------------

async function startRedis() {
  const port = await freePort();
  const logfile = path.join(os.tmpdir(), `fanin-redis-${port}.log`);
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', logfile], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await sleep(25);
  }
  return {
    port, url: `redis://127.0.0.1:${port}`, pid: proc.pid,
    /** Clients Redis closed for exceeding an output buffer limit (a pub/sub subscriber that fell behind). */
    outputBufferKills: () => (readFileSync(logfile, 'utf8').match(/output buffer limits/g) ?? []).length,
    stop: () => {
      proc.kill('SIGKILL');
      rmSync(logfile, { force: true });
    },
  };
}

const nextMessage = (child, ev) => new Promise((resolve, reject) => {
  const on = (m) => {
    if (m.ev === ev) {
      child.off('message', on);
      resolve(m);
    }
  };
  child.on('message', on);
  child.once('exit', (code) => reject(new Error(`child exited (${code}) before ${ev}`)));
});

/** `n` publications to channel c, `inflight` at a time. */
async function publishBurst(pub, n, inflight) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const seq = next++;
      await pub.publish({ channel: 'c', event: 'message', data: `{"sent":${now()},"seq":${seq},"pad":"${PAD}"}` });
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
}

async function redisPart(pubs, rounds) {
  const rows = [];
  for (let round = 1; round <= rounds; round++) for (const m of (arg('--nodes') ?? '0,1,4,16,64').split(',').map(Number)) {
    const redis = await startRedis();
    const pub = await createBroker(redis.url);
    await pub.start(nullHandler(() => {}));
    let child;
    try {
      if (m > 0) {
        child = fork(fileURLToPath(import.meta.url), ['--subscribers', String(m), '--url', redis.url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        await nextMessage(child, 'ready');
      }
      await publishBurst(pub, 200, 32); // warm-up: scripts loaded, connections busy once
      await sleep(300);
      let doneP;
      if (child) {
        child.send({ cmd: 'go', expect: pubs * m });
        doneP = nextMessage(child, 'done');
        await nextMessage(child, 'going');
      }
      const r0 = cpuMicros(redis.pid);
      const me0 = process.cpuUsage();
      const t0 = performance.now();
      await publishBurst(pub, pubs, 32);
      const subs = child ? await doneP : null;
      const ms = performance.now() - t0;
      const redisUs = cpuMicros(redis.pid) - r0;
      const me = process.cpuUsage(me0);
      const row = {
        round, nodes: m, pubs, ms: Math.round(ms),
        redisUsPerPub: +(redisUs / pubs).toFixed(2),
        publisherUsPerPub: +((me.user + me.system) / pubs).toFixed(2),
        subscriberUsPerReceived: subs ? +(subs.cpuMicros / Math.max(1, subs.received)).toFixed(2) : null,
        received: subs ? `${subs.received} of ${pubs * m}${subs.gaps ? `, ${subs.gaps} gaps` : ''}` : null,
        subscribersClosedByRedis: redis.outputBufferKills(),
        ...(subs && Object.keys(subs.warnings).length ? { brokerWarnings: subs.warnings } : {}),
      };
      log(JSON.stringify(row));
      rows.push(row);
    } finally {
      child?.send({ cmd: 'close' });
      await pub.close();
      redis.stop();
    }
  }
  return rows;
}

async function nodePart(rounds) {
  const plan = [
    { k: 1, pubs: 1000, rate: 200 },
    { k: 1, pubs: 5000, rate: 0 }, // as fast as the broker takes them, 8 in flight: reads from Redis batch
    { k: 100, pubs: 500, rate: 100 },
    { k: 1000, pubs: 100, rate: 10 },
    { k: 4000, pubs: 60, rate: 5 },
  ];
  const rows = [];
  for (let round = 1; round <= rounds; round++) for (const { k, pubs, rate } of plan) {
    const redis = await startRedis();
    const port = await freePort();
    const node = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'serve', '--port', String(port), '--workers', '1', '--log-level', 'warn',
      '--limits.connectRate', '0', '--limits.connectionsPerIp', '0', '--limits.sseStreamsPerIp', '0'], {
      env: { ...process.env, SWITCHBOARD_REDIS_URL: redis.url, SWITCHBOARD_REDIS_PREFIX: 'fanin' }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    const pub = await createBroker(redis.url);
    await pub.start(nullHandler(() => {}));
    const gen = fork(path.join(HERE, 'loadgen.js'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    try {
      for (let i = 0; i < 300; i++) {
        try {
          if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
        } catch {}
        await sleep(100);
      }
      gen.send({ cmd: 'start', mode: 'ws', ports: [port], count: k, idBase: 0, channels: 1, channelName: 'c', concurrency: 100 });
      const ready = await nextMessage(gen, 'ready');
      if (ready.connected !== k) throw new Error(`only ${ready.connected} of ${k} subscribed: ${JSON.stringify(ready.errors)}`);
      await publishBurst(pub, 20, 1); // warm-up
      await sleep(1500);
      gen.send({ cmd: 'phase', name: 'm', expect: pubs });
      await nextMessage(gen, 'phase-ack');
      // Idle CPU (timers, health-check PINGs, Redis's own cron) over a quiet stretch, subtracted per second below.
      const i0 = [cpuMicros(node.pid), cpuMicros(redis.pid), performance.now()];
      await sleep(5000);
      const idleSec = (performance.now() - i0[2]) / 1000;
      const idleNode = (cpuMicros(node.pid) - i0[0]) / idleSec;
      const idleRedis = (cpuMicros(redis.pid) - i0[1]) / idleSec;
      const complete = nextMessage(gen, 'complete');
      const c0 = cpuMicros(node.pid);
      const r0 = cpuMicros(redis.pid);
      const start = performance.now();
      if (rate === 0) await publishBurst(pub, pubs, 8);
      else for (let i = 0; i < pubs; i++) {
        const wait = start + (i * 1000) / rate - performance.now();
        if (wait > 0.5) await sleep(wait);
        await pub.publish({ channel: 'c', event: 'message', data: `{"sent":${now()},"seq":${i},"pad":"${PAD}"}` });
      }
      await Promise.race([complete, sleep(20_000).then(() => { throw new Error('not every publication arrived in 20 s'); })]);
      const sec = (performance.now() - start) / 1000;
      const nodeUs = cpuMicros(node.pid) - c0 - idleNode * sec;
      const redisUs = cpuMicros(redis.pid) - r0 - idleRedis * sec;
      const row = {
        round, subscribers: k, pubs, rate: rate || `burst ${Math.round(pubs / sec)}/s`,
        nodeUsPerPub: Math.round(nodeUs / pubs), nodeUsPerDelivery: +(nodeUs / (pubs * k)).toFixed(2),
        redisUsPerPub: +(redisUs / pubs).toFixed(1),
        idleNodeCpuPct: +(idleNode / 1e4).toFixed(2), idleRedisCpuPct: +(idleRedis / 1e4).toFixed(2),
      };
      log(JSON.stringify(row));
      rows.push(row);
    } finally {
      gen.send({ cmd: 'close' });
      await pub.close();
      node.kill('SIGTERM');
      await Promise.race([once(node, 'exit'), sleep(3000)]);
      if (node.exitCode === null) node.kill('SIGKILL');
      redis.stop();
    }
  }
  return rows;
}

/** Redis CPU per presence write (a subscription's entry, rewritten every presenceTtl / 3 while it lasts). */
async function presencePart(writes, rounds) {
  const rows = [];
  for (let round = 1; round <= rounds; round++) {
    const redis = await startRedis();
    const b = await createBroker(redis.url);
    await b.start(nullHandler(() => {}));
    try {
      const write = async (n) => {
        let next = 0;
        const worker = async () => {
          while (next < n) {
            const i = next++;
            await b.addPresence(`room-${i % 100}`, { user: `u${i}`, client: `c${i}`, info: { name: `user ${i}` } });
          }
        };
        await Promise.all(Array.from({ length: 32 }, worker));
      };
      await write(200);
      const r0 = cpuMicros(redis.pid);
      const me0 = process.cpuUsage();
      await write(writes);
      const me = process.cpuUsage(me0);
      const row = { round, writes, redisUsPerWrite: +((cpuMicros(redis.pid) - r0) / writes).toFixed(2), nodeUsPerWrite: +((me.user + me.system) / writes).toFixed(2) };
      log(JSON.stringify(row));
      rows.push(row);
    } finally {
      await b.close();
      redis.stop();
    }
  }
  return rows;
}

async function main() {
  const part = arg('--part', 'all');
  const pubs = Number(arg('--pubs', '10000'));
  const rounds = Number(arg('--rounds', '2'));
  const out = {};
  if (part === 'redis' || part === 'all') out.redis = await redisPart(pubs, rounds);
  if (part === 'node' || part === 'all') out.node = await nodePart(rounds);
  if (part === 'presence' || part === 'all') out.presence = await presencePart(pubs, rounds);
  console.log(JSON.stringify(out, null, 1));
}

// ---- child: M subscribing brokers --------------------------------------------------------------------------------
async function subscribersChild() {
  const url = arg('--url');
  const m = Number(arg('--subscribers'));
  let received = 0;
  let gaps = 0;
  let target = Infinity;
  let cpu0;
  let stall;
  const brokers = [];
  // Done when every broker got every publication, or 10 s after the last one arrived (a broker that replaced its
  // connection on this loaded machine may report a gap instead): the report says how many arrived.
  const done = () => {
    clearTimeout(stall);
    const u = process.cpuUsage(cpu0);
    process.send({ ev: 'done', cpuMicros: u.user + u.system, received, gaps, warnings: Object.fromEntries(warnings) });
    target = Infinity;
  };
  const onPub = () => {
    if (++received === target) return done();
    if (target !== Infinity) stall.refresh();
  };
  const warnings = new Map();
  const logger = {
    warn: (...a) => {
      const k = String(a.at(-1)).slice(0, 100);
      warnings.set(k, (warnings.get(k) ?? 0) + 1);
    },
    error: (...a) => console.error(...a),
  };
  for (let i = 0; i < m; i++) {
    const b = await createBroker(url, { logger });
    await b.start({ ...nullHandler(onPub), onGap: () => gaps++ });
    await b.subscribe('c');
    brokers.push(b);
  }
  process.on('message', async (msg) => {
    if (msg.cmd === 'go') {
      received = 0;
      gaps = 0;
      target = msg.expect;
      cpu0 = process.cpuUsage();
      stall = setTimeout(done, 10_000);
      process.send({ ev: 'going' });
    } else if (msg.cmd === 'close') {
      setTimeout(() => process.exit(0), 1000).unref(); // a broker still reconnecting must not keep the child
      await Promise.all(brokers.map((b) => b.close()));
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ev: 'ready' });
}

if (process.argv.includes('--subscribers')) await subscribersChild();
else await main();
