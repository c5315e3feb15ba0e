/**
 * What the package check (check-package.mjs) and the single-executable check (check-exe.mjs) share: running the
 * installed `switchboard` as a user would, every child bounded in time and killed at the end (each in its own
 * process group, so `npx`'s child goes too), temporary folders removed, free loopback ports.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set();
const dirs = new Set();

/** Kills what is still running and removes the temp folders; runs on exit and on SIGINT/SIGTERM. */
export function cleanup() {
  for (const child of children) killGroup(child);
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(1); });

function killGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A new folder under the system temp dir, removed by cleanup(). */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function step(text) {
  process.stdout.write(`- ${text}\n`);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts a command in its own process group; its output is collected. stop() kills the group. */
export function start(cmd, args, { cwd, env } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => {
    children.delete(child);
    resolve({ code, signal, ...out });
  }));
  child.on('error', (err) => (out.stderr += String(err)));
  return {
    child,
    out,
    exited,
    stop: async () => {
      killGroup(child);
      return exited;
    },
  };
}

/** Runs a command to its end, killed after timeoutMs; throws unless it exits 0. */
export async function run(cmd, args, { cwd, env, timeoutMs = 60_000 } = {}) {
  const p = start(cmd, args, { cwd, env });
  const timer = setTimeout(() => p.stop(), timeoutMs);
  const r = await p.exited;
  clearTimeout(timer);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code ?? r.signal}${r.signal ? ` (killed after ${timeoutMs} ms?)` : ''}\n${r.stdout}${r.stderr}`);
  }
  return r;
}

/** Polls until the condition returns a truthy value, or throws after timeoutMs. */
export async function waitFor(what, condition, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await condition().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET url → { status, type, text }. */
export async function get(url, headers = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

export function check(ok, message) {
  if (!ok) throw new Error(message);
}

/**
 * Starts `serve` with `cli` (an argv prefix, e.g. ['npx', '--no', 'switchboard']) on a free port and waits for
 * /readyz. Returns the server's handle and URL.
 */
export async function startServer(cli, { cwd, args = [], env } = {}) {
  const port = await freePort();
  const t0 = Date.now();
  const server = start(cli[0], [...cli.slice(1), 'serve', '--port', String(port), ...args], { cwd, env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz (server output so far:\n${server.out.stdout}${server.out.stderr})`, async () => {
    if (server.child.exitCode !== null) throw new Error(`serve exited with ${server.child.exitCode}:\n${server.out.stdout}${server.out.stderr}`);
    return (await get(`${url}/readyz`)).status === 200;
  });
  return { server, url, port, readyMs: Date.now() - t0 };
}

/**
 * `subscribe` (WebSocket, --count 1) in the background, then `publish` with the same CLI: the subscriber must print
 * the publication and exit 0.
 */
export async function publishAndSubscribe(cli, url, { cwd, env, sse = false } = {}) {
  const channel = `smoke-${process.pid}-${Date.now()}-${sse ? 'sse' : 'ws'}`;
  const sub = start(cli[0], [...cli.slice(1), 'subscribe', channel, '--user', 'smoke', '--url', url, '--count', '1', '--timeout', '20s', ...(sse ? ['--sse'] : [])], { cwd, env });
  await waitFor(`subscribe to report "subscribed" (stderr so far: ${sub.out.stderr})`, async () => {
    if (sub.child.exitCode !== null) throw new Error(`subscribe exited early with ${sub.child.exitCode}: ${sub.out.stderr}`);
    return sub.out.stderr.includes('"subscribed"');
  });
  const pub = await run(cli[0], [...cli.slice(1), 'publish', channel, '{"title":"Hello"}', '--url', url], { cwd, env, timeoutMs: 20_000 });
  check(/"offset":1\b/.test(pub.stdout), `publish printed ${pub.stdout}`);
  const timer = setTimeout(() => sub.stop(), 25_000);
  const r = await sub.exited;
  clearTimeout(timer);
  check(r.code === 0, `subscribe exited with ${r.code ?? r.signal}: ${r.stderr}`);
  const line = JSON.parse(r.stdout.trim().split('\n').at(-1));
  check(line.channel === channel && line.data?.title === 'Hello' && line.offset === 1, `subscribe printed ${r.stdout}`);
}
