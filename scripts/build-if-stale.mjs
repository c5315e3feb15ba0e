/**
 * `npm start` and `npm run dev` build only what changed: each build step (TypeScript → dist, the browser SDK bundle,
 * the demo page) runs only when one of its inputs is newer than the step's last successful run (a stamp file under
 * dist/.build/, so deleting dist/ rebuilds everything), or its output is missing. tsc itself runs incrementally
 * (its .tsbuildinfo sits in dist/.build/ too). Prints one line per step it runs, or nothing when all is current.
 * `npm run build` still builds everything unconditionally.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `--root <dir>`: another checkout (the test builds a small fake project this way).
const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? process.argv[rootArg + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');
const STAMPS = join(root, 'dist/.build');

/** Each step: what it reads, what must exist after it, and how it runs. */
export const STEPS = [
  {
    name: 'typescript',
    inputs: ['src', 'tsconfig.json', 'package.json'],
    output: 'dist/cli/main.js',
    run: () => spawn([join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', 'dist/.build/tsconfig.tsbuildinfo']),
  },
  {
    name: 'sdk bundle',
    inputs: ['src/client', 'src/protocol', 'scripts/build-client.mjs'],
    output: 'dist/client/switchboard.min.js',
    run: () => spawn(['scripts/build-client.mjs', '--quiet']),
  },
  {
    name: 'demo page',
    inputs: ['web', 'src/client', 'src/protocol', 'scripts/build-web.mjs'],
    output: 'dist/web/index.html',
    run: () => spawn(['scripts/build-web.mjs', '--quiet']),
  },
];

function spawn(args) {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

/** Newest mtime (ms) of a file, or of any file below a directory; 0 when absent. */
export function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted file shows only as its directory's mtime
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const stampFile = (step) => join(STAMPS, step.name.replace(/\s/g, '-'));

/**
 * The steps whose inputs changed since their last successful run, or whose output is missing. A step with no stamp
 * whose output is newer than all its inputs was built by `npm run build`: it is current (and stamped now).
 */
export function staleSteps() {
  return STEPS.filter((step) => {
    const output = newest(join(root, step.output));
    if (output === 0) return true;
    const inputs = Math.max(...step.inputs.map((input) => newest(join(root, input))));
    const stamp = newest(stampFile(step));
    if (stamp === 0 && output >= inputs) return void writeStamp(step, new Date(output)), false;
    return stamp === 0 || inputs > stamp;
  });
}

function writeStamp(step, time) {
  mkdirSync(STAMPS, { recursive: true });
  writeFileSync(stampFile(step), `${time.toISOString()}\n`);
  utimesSync(stampFile(step), time, time);
}

/** Runs the stale steps in order; false when one failed (its stamp is left as it was, so it runs again next time). */
export function buildIfStale({ quiet = false } = {}) {
  for (const step of staleSteps()) {
    const started = new Date();
    if (!quiet) process.stdout.write(`building: ${step.name} (sources changed)\n`);
    const t0 = Date.now();
    if (!step.run()) return false;
    if (!quiet) process.stdout.write(`built: ${step.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    // The stamp carries the start time: a file saved during the build is newer, so the next check rebuilds.
    writeStamp(step, started);
  }
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    // Prints the stale steps; exit 1 when something would be built (for tests and curious people).
    const stale = staleSteps().map((s) => s.name);
    process.stdout.write(stale.length ? `stale: ${stale.join(', ')}\n` : 'up to date\n');
    process.exitCode = stale.length ? 1 : 0;
  } else if (!buildIfStale()) {
    process.exitCode = 1;
  }
}
