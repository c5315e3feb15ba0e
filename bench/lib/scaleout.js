// Scale-out targets of bench/run.js (`--target scaleout`): Switchboard on the Redis broker as one node, two nodes on
// two ports, and `serve --workers N` sharing one port; plus the verdicts of issue #5 computed from one run's results.
import os from 'node:os';
import { REDIS_URL } from './redis.js';

/**
 * @param script  dist/cli/main.js
 * @param sbArgs  (port) => the memory-broker Switchboard's serve arguments
 * Every target runs with an explicit --workers: 0 (the default) would mean one worker per core with Redis.
 */
export function scaleoutTargets(script, sbArgs) {
  const redis = (port, ctx, workers) => [...sbArgs(port), '--redis.url', REDIS_URL, '--redis.prefix', ctx.prefix, '--workers', String(workers)];
  return {
    'redis-1node': { label: 'Redis, 1 node', script, args: (port, ctx) => redis(port, ctx, 1), redis: true },
    // Two processes on two ports sharing Redis; the load generators alternate their connections over both and the
    // runner publishes through node A's API.
    'redis-2nodes': { label: 'Redis, 2 nodes', script, args: (port, ctx) => redis(port, ctx, 1), redis: true, nodes: 2 },
    // `--workers 1` runs the node in the serving process (no primary): the same configuration as redis-1node, so
    // the two columns also show run-to-run spread.
    'workers-1': { label: '--workers 1', script, args: (port, ctx) => redis(port, ctx, 1), redis: true },
    // A primary and two workers sharing one port: node:cluster's primary accepts and hands connections round-robin.
    'workers-2': { label: '--workers 2', script, args: (port, ctx) => redis(port, ctx, 2), redis: true, workers: 2 },
    // Six workers for the 100,000-connection run (bench/run.js connections-100k): a process may hold 20,000
    // descriptors here, so each worker takes about 16,700 connections.
    'workers-6': { label: '--workers 6', script, args: (port, ctx) => redis(port, ctx, 6), redis: true, workers: 6 },
  };
}

export const SCALEOUT_GROUP = ['switchboard', 'redis-1node', 'redis-2nodes', 'workers-1', 'workers-2'];

const MODERATE_P99_MS = 50;
const REDIS_EXTRA_CPU_US = 1;
const WORKERS_SPEEDUP = 1.6;
/** Load generators above this CPU % (of one core each) are taken as the bottleneck of a saturation run. */
const LOADGEN_BOUND_PCT = 85;

/** " (other processes N % CPU)" when a run was disturbed, so a verdict is read with that in mind. */
const noise = (...rs) => {
  const pct = Math.max(...rs.map((r) => r.otherCpuPct ?? 0));
  return pct > 15 ? ` [other processes ${Math.round(pct)} % CPU]` : '';
};
const f = (v, d = 3) => (typeof v === 'number' && Number.isFinite(v) ? Number(v.toPrecision(d)).toString() : '—');

const sign = (v) => (v >= 0 ? '+' : '') + f(v);

/** The targets, met or missed, from this run's figures (a line each, markdown). */
export function scaleoutVerdicts(results) {
  const get = (scn, t) => results.find((r) => r.scenario === scn && r.target === t && !r.error);
  const verdict = (ok) => (ok ? 'met' : 'MISSED');
  const out = [];

  for (const t of SCALEOUT_GROUP) {
    const r = get('moderate-ws-5k', t);
    if (!r) continue;
    const p99 = r.latencyMs?.p99;
    const ok = r.complete && p99 <= MODERATE_P99_MS;
    out.push(`moderate-ws-5k p99 ≤ ${MODERATE_P99_MS} ms, ${t}: ${f(p99)} ms, ${verdict(ok)}` +
      (r.complete ? '' : ' (not all delivered)') + noise(r));
  }

  for (const scn of ['saturation-ws', 'moderate-ws', 'moderate-ws-5k']) {
    const base = get(scn, 'switchboard');
    for (const t of ['redis-1node', 'redis-2nodes']) {
      const r = get(scn, t);
      if (!base || !r) continue;
      const d = r.cpuUsPerDelivery - base.cpuUsPerDelivery;
      out.push(`${scn}, ${t}: server CPU/delivery ${f(r.cpuUsPerDelivery)} µs vs ${f(base.cpuUsPerDelivery)} µs with the ` +
        `memory broker = ${sign(d)} µs (≤ +${REDIS_EXTRA_CPU_US} µs: ${verdict(d <= REDIS_EXTRA_CPU_US)}); ` +
        `with Redis's own CPU ${sign(d + (r.redisCpuUsPerDelivery ?? 0))} µs` + noise(base, r));
    }
  }

  const w1 = get('saturation-ws', 'workers-1');
  const w2 = get('saturation-ws', 'workers-2');
  if (w1 && w2) {
    const x = w2.deliveredPerSec / w1.deliveredPerSec;
    const genBound = w2.loadgenCpuPct / (w2.loadgens || 1) > LOADGEN_BOUND_PCT;
    const cores = os.cpus().length;
    const machineBound = w2.machineCpuPct > cores * 100 * 0.9;
    const perWorker = w2.perProcess.filter((p) => p.role.startsWith('worker')).map((p) => f(p.cpuUsPerDelivery));
    let line = `saturation-ws, --workers 2 vs 1: ${f(x)}× delivered msg/s (≥ ${WORKERS_SPEEDUP}×: ${verdict(x >= WORKERS_SPEEDUP)}); ` +
      `load generator ${f(w2.loadgenCpuPct)} % CPU over ${w2.loadgens} process(es), machine ${f(w2.machineCpuPct)} % of ${cores * 100} %`;
    if (genBound || machineBound) {
      line += ` — ${genBound ? 'the load generator' : 'the machine'} is saturated, so this is not a measure of the ` +
        `server's scaling; per-worker CPU per delivery ${perWorker.join(' / ')} µs vs ${f(w1.cpuUsPerDelivery)} µs with one worker`;
    }
    out.push(line + noise(w1, w2));
  }

  const publishRuns = results.filter((r) => !r.error && r.kind === 'publish');
  const bad = publishRuns.filter((r) => r.lost || r.dup);
  if (publishRuns.length) {
    out.push('lost 0 / duplicated 0: ' +
      (bad.length ? 'MISSED in ' + bad.map((r) => `${r.scenario}/${r.target} (${r.lost} lost, ${r.dup} dup)`).join(', ') : 'met in every run'));
  }
  return out;
}
