// Standing chaos suite (`npm run chaos`, docs/reliability.md): SDK and raw WebSocket and SSE subscribers on two nodes
// sharing a private Redis, publishers on the server API and over WebSocket, while clients are cut at random, a node is
// killed with SIGKILL and restarted, Redis is frozen and restarted empty. At the end every acknowledged publication
// is checked against what each subscriber delivered (chaos/lib/checker.js). Exit code 1 when anything was lost,
// duplicated, out of order or mismatched; 2 on a harness error.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Ledger } from './lib/checker.js';
import { Latency } from './lib/latency.js';
import { Cluster, peakRss, ROOT } from './lib/procs.js';
import { startFaults } from './lib/faults.js';
import { httpPublisher, runPublisher } from './lib/publishers.js';
import { rawSseSubscriber, rawWsSubscriber } from './lib/raw-clients.js';
import { createRng } from './lib/rng.js';
import { sdkSseSubscriber, sdkWsPublisher, sdkWsSubscriber } from './lib/sdk-clients.js';
import { quietTail } from './lib/quiet-tail.js';
import { printReport } from './lib/report.js';

const USAGE = `usage: node chaos/run.js [--short] [--duration S] [--deliveries N] [--seed N] [--clients N] [--channels N]
                         [--per-client N] [--quiet N] [--publishers N] [--rate N] [--payload N] [--history N]
                         [--drain S] [--tail N] [--out DIR] [--sabotage N]
  --short          CI mode: 90 s of publishing, drains of at most 15 s (the whole run under 3 min with the build)
  --duration S     seconds of publishing under faults (default 900; the run stops earlier at --deliveries)
  --deliveries N   stop publishing once subscribers delivered N publications (default 1000000; 0: no limit)
  --seed N         seed of the fault schedule and client choices (default: from the clock; printed)
  --clients N      subscribers of each kind: SDK WebSocket, SDK SSE, raw WebSocket, raw SSE (default 6)
  --channels N     busy channels (default 8); --per-client N: channels per subscriber (default 3)
  --quiet N        quiet channels besides, one publication every 2 s each (default 2); every subscriber takes one
  --publishers N   publishers of each kind: HTTP API and WebSocket (default 2)
  --rate N         publications per second, all publishers together (default 300)
  --payload N      padding of each payload: 0 to N random bytes (default 256)
  --history N      history.size of the nodes (default 1000)
  --drain S        longest wait for subscribers to catch up, at the end and in the quiet tail (default 30; 15 in --short)
  --tail N         channels of the quiet tail (default 8; 0 skips it): every subscriber takes them all, and their only
                   publications come at the very end: after a last Redis restart, then after an 11 s freeze
  --out DIR        node logs (default .chaos-out)
  --sabotage N     self-test: raw subscribers swallow one publication in N and repeat one in N; the run must FAIL`;

function parseArgs(argv) {
  const o = { short: false, duration: null, deliveries: null, seed: null, clients: 6, channels: 8, quiet: 2, payload: 256, perClient: 3, publishers: 2, rate: 300, history: 1000, drain: null, tail: 8, out: '.chaos-out', sabotage: 0 };
  const num = (a, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) usage(`${a} needs a number ≥ 0, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--short') o.short = true;
    else if (a === '--duration') o.duration = num(a, v());
    else if (a === '--deliveries') o.deliveries = num(a, v());
    else if (a === '--seed') o.seed = num(a, v());
    else if (a === '--clients') o.clients = Math.max(1, num(a, v()));
    else if (a === '--channels') o.channels = Math.max(1, num(a, v()));
    else if (a === '--quiet') o.quiet = num(a, v());
    else if (a === '--payload') o.payload = num(a, v());
    else if (a === '--per-client') o.perClient = Math.max(1, num(a, v()));
    else if (a === '--publishers') o.publishers = Math.max(1, num(a, v()));
    else if (a === '--rate') o.rate = Math.max(1, num(a, v()));
    else if (a === '--history') o.history = num(a, v());
    else if (a === '--drain') o.drain = num(a, v());
    else if (a === '--tail') o.tail = num(a, v());
    else if (a === '--out') o.out = v();
    else if (a === '--sabotage') o.sabotage = num(a, v());
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown flag ${a}`);
  }
  o.duration ??= o.short ? 90 : 900;
  o.drain ??= o.short ? 15 : 30;
  o.deliveries ??= o.short ? 0 : 1_000_000;
  o.seed ??= Date.now() % 1_000_000;
  o.perClient = Math.min(o.perClient, o.channels);
  return o;
}

function usage(msg) {
  if (msg) console.error(msg);
  console.error(USAGE);
  process.exit(msg ? 2 : 0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js')) || !existsSync(path.join(ROOT, 'dist/client/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm run chaos does)');
  }
  const out = path.resolve(ROOT, o.out);
  mkdirSync(out, { recursive: true });
  log(`seed ${o.seed}; ${o.duration} s of publishing at ${o.rate}/s${o.deliveries ? ` (or until ${o.deliveries} deliveries)` : ''}; ` +
    `${o.clients} subscribers of each of 4 kinds on ${o.perClient} of ${o.channels} busy channels, 1 of ${o.quiet} quiet ones and ${o.tail} tail channels; ${o.publishers} HTTP + ${o.publishers} WebSocket publishers`);

  const rng = createRng(o.seed);
  const cluster = new Cluster({ logDir: out, historySize: o.history, log });
  // Whatever happens, no child outlives the run: a hard deadline, signals, errors and exit all kill them.
  const hardStop = setTimeout(() => {
    console.error('chaos: hard deadline passed, stopping');
    cluster.killSync();
    process.exit(2);
  }, (o.duration + 3 * o.drain + 180) * 1000);
  process.on('exit', () => cluster.killSync());
  for (const ev of ['uncaughtException', 'unhandledRejection']) {
    process.on(ev, (err) => {
      console.error(`chaos: harness error (${ev}):`, err?.stack ?? err);
      cluster.killSync();
      process.exit(2);
    });
  }
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      cluster.killSync();
      process.exit(130);
    });
  }

  await cluster.start();
  log(`Redis on port ${cluster.redisPort}, nodes on ports ${cluster.ports.join(', ')} (logs in ${o.out}/chaos.{a,b}.log)`);

  const busy = Array.from({ length: o.channels }, (_, i) => `chaos.${i}`);
  // Quiet channels: a publication that slips past a node (e.g. while its pub/sub connection reconnects) is noticed
  // only when the next one arrives, seconds later, or never if it was the last.
  const quiet = Array.from({ length: o.quiet }, (_, i) => `chaos.quiet${i}`);
  const tail = Array.from({ length: o.tail }, (_, i) => `chaos.tail${i}`);
  const quietShare = Math.min(0.5, (o.quiet * 0.5) / o.rate);
  const pickChannel = () => (quiet.length && rng.next() < quietShare ? rng.pick(quiet) : rng.pick(busy));
  let stopped = false;
  const ctx = {
    ledger: new Ledger(),
    streams: [],
    ack: new Latency(),
    delivery: new Latency(),
    rng,
    ports: cluster.ports,
    pickPort: () => rng.pick(cluster.ports),
    stopped: () => stopped,
    sabotage: o.sabotage,
    stats: { subscribeErrors: 0, clientGaps: 0, early: 0, badLastEventId: 0, publishErrors: {}, faults: {}, faultLog: [] },
  };

  const subscribers = [];
  const kinds = [['sdk-ws', sdkWsSubscriber], ['sdk-sse', sdkSseSubscriber], ['raw-ws', rawWsSubscriber], ['raw-sse', rawSseSubscriber]];
  for (const [kind, make] of kinds) {
    for (let i = 0; i < o.clients; i++) subscribers.push(make({ name: `${kind}-${i}`, channels: [...rng.sample(busy, o.perClient), ...(quiet.length ? [rng.pick(quiet)] : []), ...tail], ctx }));
  }
  const waitUntil = async (cond, ms) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await sleep(100);
    return cond();
  };
  if (!(await waitUntil(() => ctx.streams.every((s) => s.cur), 20_000))) throw new Error('subscribers not all subscribed within 20 s');
  log(`${subscribers.length} subscribers, ${ctx.streams.length} subscriptions live`);

  const publisherClients = [];
  for (let i = 0; i < o.publishers; i++) {
    publisherClients.push(httpPublisher({ name: `http${i}`, ctx, timeoutMs: 10_000 }));
    publisherClients.push(sdkWsPublisher({ name: `ws${i}`, ctx }));
  }
  const rate = o.rate / publisherClients.length;
  const loops = publisherClients.map((p) => runPublisher(p, { pickChannel, rate, payload: o.payload, ctx, timeoutMs: 11_000 }));
  const faults = startFaults({ cluster, clients: [...subscribers, ...publisherClients.filter((p) => p.kind !== 'http-publisher')], rng, log, stats: ctx.stats, publishSeconds: o.duration,
    // --short: closer together, so that each of the four server faults happens within 90 s.
    gap: o.short ? [8, 14] : [12, 25] });

  const delivered = () => ctx.streams.reduce((a, s) => a + s.count, 0);
  const pubStart = Date.now();
  let selfPeak = 0;
  const sampler = setInterval(() => {
    cluster.sample();
    selfPeak = Math.max(selfPeak, peakRss(process.pid));
  }, 1000);
  let lastReport = Date.now();
  while ((Date.now() - pubStart) / 1000 < o.duration && !(o.deliveries && delivered() >= o.deliveries)) {
    await sleep(250);
    if (Date.now() - lastReport >= 15_000) {
      lastReport = Date.now();
      log(`acknowledged ${ctx.ledger.acked}, publish failures ${ctx.ledger.failed}, delivered ${delivered()}, resets ${ctx.streams.reduce((a, s) => a + s.resets, 0)}`);
    }
  }
  const publishSeconds = (Date.now() - pubStart) / 1000;
  log('publishing phase over: stopping faults (undoing one under way)');
  await faults.stop();
  for (const [i, n] of cluster.nodes.entries()) if (!n.pid) await cluster.startNode(i);
  await Promise.all(loops.map((l) => l.stop()));
  log(`publishers stopped; draining (up to ${o.drain} s)`);
  const drain = async () => {
    const start = Date.now();
    const ok = await waitUntil(() => ctx.streams.every((s) => s.caughtUp()), o.drain * 1000);
    const secs = (Date.now() - start) / 1000;
    log(ok ? `every subscriber caught up after ${secs.toFixed(1)} s` : `drain timed out: ${ctx.streams.filter((s) => !s.caughtUp()).length} subscriptions behind`);
    return { ok, secs };
  };
  let { ok: drained, secs: drainSeconds } = await drain();
  if (tail.length) {
    await quietTail({ cluster, channels: tail, ctx, log, drain });
    ({ ok: drained, secs: drainSeconds } = await drain());
  }

  stopped = true;
  clearInterval(sampler);
  cluster.sample();
  selfPeak = Math.max(selfPeak, peakRss(process.pid));
  for (const c of [...subscribers, ...publisherClients]) c.close();
  const peaks = { ...Object.fromEntries(cluster.all().map((p) => [p.role, p.peak])), runner: selfPeak };
  await cluster.stop();
  clearTimeout(hardStop);

  const ok = printReport({ o, ctx, peaks, publishSeconds, drainSeconds, drained, totalSeconds: (Date.now() - t0) / 1000 });
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error('chaos: harness error:', err?.stack ?? err);
  process.exit(2);
});
