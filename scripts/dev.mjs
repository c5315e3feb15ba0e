/**
 * `npm run dev [-- serve options]`: builds what is stale, runs `switchboard serve`, and on every change under src/
 * or web/ rebuilds what changed (scripts/build-if-stale.mjs) and restarts the server. A build that fails leaves the
 * running server alone and says so; the next save tries again. Ctrl-C stops both. No dependency beyond Node's
 * recursive fs.watch.
 */
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIfStale } from './build-if-stale.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
/** Editors save in bursts (temp file, rename, chmod): one rebuild per burst. */
const DEBOUNCE_MS = 200;

let server;
let stopping = false;
let restarting = false;
let again = false;

function start() {
  server = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'serve', ...args], { cwd: root, stdio: 'inherit' });
  server.once('exit', (code, signal) => {
    if (!stopping && !restarting) process.stdout.write(`dev: server exited (${signal ?? code}); waiting for a change\n`);
    server = undefined;
  });
}

function stopServer() {
  return new Promise((resolve) => {
    if (!server) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGTERM'); // the server drains (clients are told to reconnect) and exits 0
  });
}

async function rebuild() {
  if (restarting) return void (again = true);
  restarting = true;
  do {
    again = false;
    if (!buildIfStale()) {
      process.stdout.write('dev: build failed; the running server is unchanged\n');
      continue;
    }
    process.stdout.write('dev: restarting the server\n');
    await stopServer();
    if (!stopping) start();
  } while (again);
  restarting = false;
}

if (!buildIfStale()) process.stdout.write('dev: build failed; fix it and save: the server starts once it builds\n');
else start();

let timer;
for (const dir of ['src', 'web']) {
  watch(join(root, dir), { recursive: true }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void rebuild(), DEBOUNCE_MS);
  });
}

/** Ctrl-C reaches the server too (same process group), so it is not signalled twice; SIGTERM is passed on. */
const quit = (forward) => {
  if (stopping) process.exit(1);
  stopping = true;
  const done = new Promise((resolve) => (server ? server.once('exit', resolve) : resolve()));
  if (forward) server?.kill('SIGTERM');
  void done.then(() => process.exit(0));
};
process.on('SIGINT', () => quit(false));
process.on('SIGTERM', () => quit(true));
