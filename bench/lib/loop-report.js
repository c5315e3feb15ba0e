// Summarizes loop-probe.js output: node bench/lib/loop-report.js <probe dir or file.json>... [--from ms --to ms]
// For each server process: event-loop utilization and delay, how many stretches held the loop for 15-30, 30-60,
// 60-100 and ≥100 ms, how their starts fall within the second (a 1 s timer shows up as one crowded tenth) and
// GC pauses over the same window.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
let from = -Infinity;
let to = Infinity;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--from') from = Number(args[++i]);
  else if (args[i] === '--to') to = Number(args[++i]);
  else if (statSync(args[i]).isDirectory()) for (const f of readdirSync(args[i])) f.endsWith('.json') && files.push(path.join(args[i], f));
  else files.push(args[i]);
}

const r = (v) => (Math.round(v * 10) / 10).toString();
for (const f of files) {
  let p;
  try {
    p = JSON.parse(readFileSync(f, 'utf8'));
  } catch {
    continue;
  }
  if (!p.stalls) continue;
  const stalls = p.stalls.filter(([t]) => t >= from && t <= to);
  const buckets = [15, 30, 60, 100, Infinity];
  const counts = buckets.slice(0, -1).map((lo, i) => stalls.filter(([, d]) => d >= lo && d < buckets[i + 1]).length);
  const tenths = new Array(10).fill(0);
  for (const [t, d] of stalls) if (d >= 30) tenths[Math.floor((t % 1000) / 100)]++;
  const held = stalls.reduce((a, [, d]) => a + d, 0);
  const gcs = p.gcs.filter(([t]) => t >= from && t <= to);
  const gcMs = gcs.reduce((a, [, d]) => a + d, 0);
  const gcMax = gcs.reduce((a, [, d]) => Math.max(a, d), 0);
  console.log(`${path.basename(f)}  ${p.argv.map((a) => path.basename(a)).join(' ').slice(0, 60)}`);
  console.log(`  ELU ${r(p.elu * 100)} %, loop delay p50 ${r(p.delayMs.p50)} p99 ${r(p.delayMs.p99)} max ${r(p.delayMs.max)} ms`);
  console.log(`  stalls ≥${p.stallMs} ms: ${stalls.length} (15-30: ${counts[0]}, 30-60: ${counts[1]}, 60-100: ${counts[2]}, ≥100: ${counts[3]}), ${r(held)} ms held in them`);
  console.log(`  stalls ≥30 ms by tenth of the wall-clock second: ${tenths.join(' ')}`);
  console.log(`  GC: ${gcs.length} pauses, ${r(gcMs)} ms total, max ${r(gcMax)} ms`);
  const longest = [...stalls].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  longest: ${longest.map(([t, d]) => `${new Date(t).toISOString().slice(17, 23)} ${r(d)}ms`).join(', ')}`);
}
