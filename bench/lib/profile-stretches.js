// What holds the event loop, from a V8 CPU profile (node --cpu-prof): splits the timeline into busy stretches
// (consecutive non-idle samples) and, for the stretches of at least --min ms (default 20),
// prints where their time went: inclusive time per function (each function counted once per sample) and self time.
//   node bench/lib/profile-stretches.js <file.cpuprofile> [--min 20] [--top 25]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const MIN_MS = opt('--min', 20);
const TOP = opt('--top', 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map();
for (const n of prof.nodes) byId.set(n.id, n);
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const cf = n.callFrame;
  const f = cf.url ? cf.url.replace(/^.*\/(dist|node_modules|bench)\//, '$1/') : '';
  return `${cf.functionName || '(anonymous)'}${f ? ` ${f}:${cf.lineNumber + 1}` : ''}`;
};
const isIdle = (id) => {
  const fn = byId.get(id).callFrame.functionName;
  return fn === '(idle)' || fn === '(program)';
};

// Sample times (µs from start).
const times = [];
let t = prof.startTime;
for (const d of prof.timeDeltas) times.push((t += d));

const stretches = [];
let cur = null;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  // An idle sample ends a stretch. Gaps between busy samples are not: under CPU contention the sampler itself runs
  // late (deltas of several ms), and the loop was busy all along.
  if (isIdle(id)) {
    if (cur) stretches.push(cur);
    cur = null;
    continue;
  }
  if (!cur) cur = { start: times[i - 1] ?? times[i], lastT: times[i], idx: [] };
  cur.lastT = times[i];
  cur.idx.push(i);
}
if (cur) stretches.push(cur);

const long = stretches.filter((s) => (s.lastT - s.start) / 1000 >= MIN_MS);
const incl = new Map();
const self = new Map();
let total = 0;
for (const s of long) {
  for (const i of s.idx) {
    const dt = (times[i + 1] ?? times[i]) - times[i];
    total += dt;
    const n = byId.get(prof.samples[i]);
    self.set(label(n), (self.get(label(n)) ?? 0) + dt);
    const seen = new Set();
    for (let id = n.id; id !== undefined; id = parent.get(id)) {
      const l = label(byId.get(id));
      if (seen.has(l)) continue;
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + dt);
    }
  }
}
const busyAll = stretches.reduce((a, s) => a + (s.lastT - s.start), 0);
const span = (times.at(-1) - times[0]) / 1e6;
const lens = long.map((s) => (s.lastT - s.start) / 1000).sort((a, b) => a - b);
console.log(`${file}: ${span.toFixed(1)} s profiled, ${stretches.length} busy stretches (${(busyAll / 1e6).toFixed(1)} s), ` +
  `${long.length} of ≥${MIN_MS} ms (${(total / 1e6).toFixed(1)} s; median ${lens[lens.length >> 1]?.toFixed(1)} ms, max ${lens.at(-1)?.toFixed(1)} ms)`);
const show = (m, title) => {
  console.log(`\n${title} in stretches ≥${MIN_MS} ms:`);
  for (const [l, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${l}`);
};
show(incl, 'inclusive');
show(self, 'self');
