/**
 * `switchboard serve` as a person starts it (issue #12, "the first hour"): a busy port is one line naming the option
 * and exit 1; on a terminal the start-up says in words where to go, the mode, and where spans go, with readable log
 * lines; without a terminal every stdout line stays JSON. Real processes (dist/cli/main.js, built by `npm test`);
 * the terminal is a real pty from util-linux `script`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { withTimeout } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'dist/cli/main.js';
const cleanEnv = Object.fromEntries(Object.entries(process.env)
  .filter(([k]) => !k.startsWith('SWITCHBOARD_') && !k.startsWith('OTEL_') && k !== 'PORT' && k !== 'LOG_LEVEL' && k !== 'NO_COLOR'));
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** Every process started, so a failed test still ends them (SIGKILL to the group after each test). */
const live = new Set<{ pid: number; done: boolean }>();
afterEach(() => {
  for (const p of live) {
    if (!p.done) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
});

interface Run {
  output(): string;
  /** Resolves once the output matches `re`; rejects if the process exits first. */
  until(re: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Starts `command` (argv) in its own process group; `tty`: inside `script`, so its stdout is a terminal. */
function run(args: string[], env: Record<string, string> = {}, tty = false, argv = [process.execPath, MAIN, ...args]): Run {
  const child = tty
    ? spawn('script', ['-qfec', argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), '/dev/null'], { cwd: ROOT, env: { ...cleanEnv, ...env }, detached: true })
    : spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...cleanEnv, ...env }, detached: true });
  const entry = { pid: child.pid!, done: false };
  live.add(entry);
  child.once('exit', () => (entry.done = true));
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => setImmediate(() => resolve({ code, stdout, stderr }))));
  return {
    output: () => stdout,
    exited,
    until: (re) => withTimeout(new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = stdout.match(re);
        if (m) resolve(m);
      };
      waiters.push(check);
      check();
      void exited.then(() => reject(new Error(`exited before ${re}: ${stdout}${stderr}`)));
    }), 20_000, `output matching ${re}`),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGTERM');
      const stopped = await withTimeout(exited, 10_000, 'serve to stop').then(() => true, () => false);
      if (!stopped) process.kill(-child.pid!, 'SIGKILL');
    },
  };
}

describe('switchboard serve on a busy port', () => {
  let holder: Server;
  let port: number;
  before(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    port = (holder.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  for (const [how, args, env, source] of [
    ['--port', ['--port', 'PORT_'], {}, 'flag --port'],
    ['PORT', [], { PORT: 'PORT_' }, 'env PORT'],
    ['SWITCHBOARD_PORT', [], { SWITCHBOARD_PORT: 'PORT_' }, 'env SWITCHBOARD_PORT'],
  ] as const) {
    it(`says so in one line naming --port and PORT, and exits 1 (port from ${how})`, async () => {
      const fill = (s: string) => s.replace('PORT_', String(port));
      const r = run(['serve', ...args.map(fill)], Object.fromEntries(Object.entries(env).map(([k, v]) => [k, fill(v)])));
      const { code, stderr } = await withTimeout(r.exited, 20_000, 'serve to exit');
      assert.equal(code, 1, stderr);
      assert.equal(stderr, `switchboard: port ${port} on 127.0.0.1 is already in use (port from ${source}). Stop the other process, `
        + 'or choose another port: --port 8080 (or PORT=8080, SWITCHBOARD_PORT=8080).\n');
    });
  }
});

describe('switchboard serve start-up output', () => {
  it('without a terminal: JSON lines only, with the listening entry and whether tracing is on', async () => {
    const r = run(['serve', '--port', '0']);
    await r.until(/"msg":"tracing off[^"]*"/);
    await r.stop();
    const entries = r.output().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(entries.some((e) => e.msg === 'switchboard listening' && typeof e.port === 'number'));
    const tracing = entries.find((e) => typeof e.msg === 'string' && e.msg.startsWith('tracing'))!;
    assert.equal(tracing.tracing, false);
    assert.match(String(tracing.msg), /set OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('with OTEL_EXPORTER_OTLP_ENDPOINT the JSON says where spans go', async () => {
    const r = run(['serve', '--port', '0'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    const [line] = await r.until(/\{[^\n]*"msg":"tracing on[^\n]*\}/);
    await r.stop();
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.tracing, true);
    assert.equal(entry.url, 'http://127.0.0.1:9/v1/traces');
    assert.equal(entry.msg, 'tracing on: spans go to http://127.0.0.1:9/v1/traces (OTLP http/protobuf), sampler parentbased_always_on');
  });

  it('on a terminal: the URL to open, the mode and tracing in words; readable log lines, no JSON', { skip: !hasScript && 'util-linux "script" is missing' }, async () => {
    const r = run(['serve', '--port', '0'], { NO_COLOR: '1' }, true);
    const [, port] = await r.until(/listening on http:\/\/127\.0\.0\.1:(\d+) — demo at \/, development mode: no auth[^\n]*\r?\n/);
    await r.until(/tracing off \(set OTEL_EXPORTER_OTLP_ENDPOINT[^\n]*\n/);
    // The README shows these two lines as they are printed (on port 8080).
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const shown = /```\n(listening on [^\n]*\ntracing [^\n]*)\n```/.exec(readme);
    assert.ok(shown, 'README shows the start lines');
    assert.ok(r.output().replace(/\r/g, '').includes(shown[1].replace(':8080 ', `:${port} `)), `README's start lines are what serve prints:\n${r.output()}`);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    await r.stop();
    const out = r.output();
    assert.match(out, /^\d\d:\d\d:\d\d WARN  INSECURE DEVELOPMENT MODE/m);
    assert.doesNotMatch(out, /\{"level"/);
    assert.doesNotMatch(out, /\x1b\[/, 'NO_COLOR turns colors off');
  });

  it('--log-format json keeps JSON on a terminal; --log-format pretty gives lines without one', { skip: !hasScript && 'util-linux "script" is missing' }, async () => {
    const json = run(['serve', '--port', '0', '--log-format', 'json'], {}, true);
    await json.until(/"msg":"tracing off/);
    await json.stop();
    assert.doesNotMatch(json.output(), /listening on http/);
    const pretty = run(['serve', '--port', '0', '--log-format', 'pretty']);
    await pretty.until(/listening on http:\/\/127\.0\.0\.1:\d+ — /);
    await pretty.stop();
    assert.doesNotMatch(pretty.output(), /\{"level"/);
  });
});

describe("README's quick start", () => {
  const upToDate = spawnSync(process.execPath, ['scripts/build-if-stale.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' }).status === 0;
  it('npm start on a current build starts the server without building anything', { skip: !upToDate && 'dist is older than the sources (run npm run build)' }, async () => {
    const started = Date.now();
    const r = run([], {}, false, ['npm', 'start', '--silent', '--', '--port', '0']);
    await r.until(/"msg":"switchboard listening"/);
    const ms = Date.now() - started;
    await r.stop();
    assert.doesNotMatch(r.output(), /building:/);
    assert.ok(ms < 15_000, `npm start took ${ms} ms`);
  });
});
