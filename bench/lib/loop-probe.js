// Event-loop probe, preloaded into a server under test to find what holds its loop:
//   BENCH_LOOP_PROBE=/tmp/probe BENCH_SERVER_NODE_ARGS="--import ./bench/lib/loop-probe.js" node bench/run.js ...
// A 2 ms timer chain notes every stretch in which it could not run for STALL_MS or more (wall-clock start and
// length), GC pauses come from a PerformanceObserver, and monitorEventLoopDelay gives the distribution. On exit
// it writes <BENCH_LOOP_PROBE>/<pid>.json; bench/lib/loop-report.js reads it. Costs ~1 % of a core.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const dir = process.env.BENCH_LOOP_PROBE;
const STALL_MS = Number(process.env.BENCH_LOOP_STALL_MS || 15);
const PERIOD_MS = 2;

if (dir) {
  const wall = () => performance.timeOrigin + performance.now();
  const stalls = []; // [startWallMs, lengthMs]
  const gcs = []; // [startWallMs, lengthMs, kind]
  const hist = monitorEventLoopDelay({ resolution: 10 });
  hist.enable();
  let last = performance.now();
  const tick = () => {
    const t = performance.now();
    const gap = t - last - PERIOD_MS;
    if (gap >= STALL_MS && stalls.length < 200_000) stalls.push([Math.round((performance.timeOrigin + last) * 10) / 10, Math.round(gap * 10) / 10]);
    last = t;
    setTimeout(tick, PERIOD_MS).unref();
  };
  setTimeout(tick, PERIOD_MS).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (gcs.length < 100_000) gcs.push([Math.round((performance.timeOrigin + e.startTime) * 10) / 10, Math.round(e.duration * 100) / 100, e.detail?.kind ?? 0]);
    }
  }).observe({ entryTypes: ['gc'] });
  const elu0 = performance.eventLoopUtilization();
  process.on('exit', () => {
    hist.disable();
    const pct = (p) => hist.percentile(p) / 1e6;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, `${process.pid}.json`),
      JSON.stringify({
        pid: process.pid, argv: process.argv.slice(1), end: wall(), stallMs: STALL_MS,
        elu: performance.eventLoopUtilization(elu0).utilization,
        delayMs: { p50: pct(50), p99: pct(99), max: hist.max / 1e6, mean: hist.mean / 1e6 },
        stalls, gcs,
      }),
    );
  });
}
