/**
 * The single-executable check (CI, its own step): builds `switchboard` with scripts/build-exe.mjs into a temp folder
 * (after `npm run build`, which it runs when dist/ is not built), copies it ALONE into an empty folder, and runs it there with a PATH that has no `node`:
 *   - `--version`, `--help`, `dashboard` (the embedded Grafana dashboard);
 *   - `serve` on a free port, with tracing on (OTLP exporter loaded): the embedded demo page and its assets,
 *     `/switchboard.min.js`, `/metrics`; start-up time to /readyz measured;
 *   - `subscribe` + `publish` with the executable itself, over WebSocket and SSE;
 *   - `serve --workers 2` on the shared Redis (127.0.0.1:6379, own key prefix) when one answers: the bundled Redis
 *     client works, and cluster workers start from the executable.
 * Prints size and start-up time. Bounded in time; children killed and temp folders removed at the end.
 * `--exe <file>`: check that executable instead of building one.
 */
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, cleanup, freePort, get, publishAndSubscribe, run, startServer, step, tempDir } from './lib/smoke.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEADLINE_MS = 4 * 60_000;

async function main() {
  const args = process.argv.slice(2);
  let built;
  if (args.includes('--exe')) built = args[args.indexOf('--exe') + 1];
  else {
    if (!existsSync(join(root, 'dist/web/index.html')) || !existsSync(join(root, 'dist/client/switchboard.min.js'))) {
      step('npm run build (dist/ is not built)');
      await run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], { cwd: root, timeoutMs: 3 * 60_000 });
    }
    step('build the executable (scripts/build-exe.mjs)');
    built = join(tempDir('sb-exe-build-'), 'switchboard');
    const r = await run(process.execPath, [join(root, 'scripts/build-exe.mjs'), '--out', built, '--json'], { cwd: root, timeoutMs: 3 * 60_000 });
    const info = JSON.parse(r.stdout.trim().split('\n').at(-1));
    step(`built in ${(info.totalMs / 1000).toFixed(1)} s`);
  }
  const dir = tempDir('sb-exe-run-');
  const exe = join(dir, 'switchboard');
  copyFileSync(built, exe);
  const size = statSync(exe).size;
  step(`copied alone into ${dir}: ${(size / 1e6).toFixed(1)} MB`);
  // No node on PATH, no node_modules around: only the executable and the system's basics.
  const env = { PATH: '/usr/bin/env-does-not-exist', NODE_PATH: '', NODE_OPTIONS: '' };
  const cli = [exe];
  const opts = { cwd: dir, env };

  const version = await run(exe, ['--version'], opts);
  check(/^\d+\.\d+\.\d+/.test(version.stdout), `--version printed ${version.stdout}`);
  const help = await run(exe, ['--help'], opts);
  check(/serve/.test(help.stdout), `--help printed ${help.stdout}`);
  const dashboard = JSON.parse((await run(exe, ['dashboard'], opts)).stdout);
  check(Array.isArray(dashboard.panels) && dashboard.panels.length > 0, 'dashboard printed no panels');
  step('--version, --help and dashboard');

  // Tracing on, to a port where nothing listens: the OTLP exporter must load in the executable (exports just fail).
  const otlp = `http://127.0.0.1:${await freePort()}`;
  const { server, url, readyMs } = await startServer(cli, { cwd: dir, env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: otlp } });
  step(`serve: ready after ${readyMs} ms (process start to /readyz 200)`);
  const page = await get(`${url}/`);
  check(page.status === 200 && page.type.startsWith('text/html'), `GET / answered ${page.status} ${page.type}`);
  for (const asset of page.text.match(/\/demo\/[\w.-]+/g) ?? []) {
    const a = await get(`${url}${asset}`);
    check(a.status === 200, `GET ${asset} answered ${a.status}`);
  }
  const sdk = await get(`${url}/switchboard.min.js`);
  check(sdk.status === 200 && /createClient/.test(sdk.text), `GET /switchboard.min.js answered ${sdk.status}`);
  const metrics = await get(`${url}/metrics`);
  check(metrics.status === 200 && /switchboard_/.test(metrics.text), `GET /metrics answered ${metrics.status}`);
  step('demo page, /switchboard.min.js and /metrics');
  await publishAndSubscribe(cli, url, opts);
  await publishAndSubscribe(cli, url, { ...opts, sse: true });
  step('subscribe + publish (WebSocket and SSE)');
  const stopped = await server.stop();
  check(!/Error|require\(\) provided to the main script/.test(stopped.stderr), `serve wrote to stderr:\n${stopped.stderr}`);

  if (await redisAnswers()) {
    const r = await startServer(cli, { cwd: dir, args: ['--redis.url', 'redis://127.0.0.1:6379', '--redis.prefix', `sb-exe-check-${process.pid}`, '--workers', '2', '--history.metaTtl', '60s', '--history.ttl', '60s'], env });
    await publishAndSubscribe(cli, r.url, opts);
    await r.server.stop();
    step('serve --workers 2 on Redis: subscribe + publish');
  } else step('no Redis on 127.0.0.1:6379: Redis step skipped');
  process.stdout.write(`single executable: ${(size / 1e6).toFixed(1)} MB, ready ${readyMs} ms after start\n`);
  step('single-executable check passed');
}

function redisAnswers() {
  return new Promise((resolve) => {
    const s = connect(6379, '127.0.0.1');
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

setTimeout(() => {
  process.stderr.write(`single-executable check: still running after ${DEADLINE_MS / 1000} s; stopping\n`);
  cleanup();
  process.exit(1);
}, DEADLINE_MS).unref();

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`single-executable check FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    cleanup();
    process.exit(1);
  },
);
