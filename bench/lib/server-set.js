// The server processes of one benchmark target (bench/run.js): one process, several nodes on several ports
// (`nodes`), or a `serve --workers N` primary with its workers sharing one port (`workers`). The runner measures the
// set as a whole (CPU and RSS summed over every process) and per process (CPU, sockets).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childPids, cpuMicros, rssBytes, socketCount } from './proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const HOST = '127.0.0.1';
// Per server process (a --workers primary's workers each load the code): six workers on a loaded 2-core machine
// took over 20 s to all answer /readyz.
const READY_TIMEOUT_MS = 20_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** GET on 127.0.0.1; resolves { status, body } (status 0 on a network error or timeout). */
export function httpGet(port, p, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Still one of ours: started with this directory's parent-watch.js preloaded (guards against a reused pid). */
const ours = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join(HERE, 'parent-watch.js'));
  } catch {
    return false;
  }
};

export class ServerSet {
  /**
   * @param target  { label, script, args(port, ctx), env?(), nodes?, workers?, redis? }
   * @param ports   one free port per node
   * @param ctx     { prefix } passed to target.args (the run's Redis key prefix)
   * @param track   registers a child process so the runner kills it on exit
   */
  constructor(target, { ports, ctx, logBase, track }) {
    this.target = target;
    this.ports = ports;
    this.ctx = ctx;
    this.logBase = logBase;
    this.track = track;
    this.children = [];
    this.workerPids = [];
    /** `tree` targets (a wrapper in front of nginx): every process below the wrapper, counted with it. */
    this.treePids = [];
  }

  logFile(i) {
    return this.ports.length > 1 ? `${this.logBase}.${String.fromCharCode(97 + i)}.log` : `${this.logBase}.log`;
  }

  async start() {
    const t = this.target;
    for (const [i, port] of this.ports.entries()) {
      const fd = openSync(this.logFile(i), 'w');
      const child = this.track(
        spawn(
          process.execPath,
          [
            // Extra node flags for the server under test, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
            ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
            '--import', pathToFileURL(path.join(HERE, 'parent-watch.js')).href, t.script, ...t.args(port, this.ctx),
          ],
          { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, ...(t.env ? t.env() : {}), BENCH_PARENT_PID: String(process.pid) } },
        ),
      );
      closeSync(fd);
      child.exitedEarly = null;
      child.once('exit', (code, sig) => (child.exitedEarly = `exited early (code ${code}, signal ${sig}); see ${this.logFile(i)}`));
      this.children.push(child);
    }
    const readyMs = READY_TIMEOUT_MS * Math.max(1, t.workers ?? 1);
    const deadline = performance.now() + readyMs;
    const check = () => {
      const dead = this.children.find((c) => c.exitedEarly);
      if (dead) throw new Error(`${t.label} ${dead.exitedEarly}`);
      if (performance.now() > deadline) throw new Error(`${t.label} not ready within ${readyMs / 1000} s; see ${this.logBase}*.log`);
    };
    for (const port of this.ports) {
      while ((await httpGet(port, '/readyz', 1000)).status !== 200) {
        check();
        await sleep(100);
      }
    }
    const workers = t.workers ?? 1;
    if (workers > 1) {
      for (;;) {
        this.workerPids = childPids(this.children[0].pid);
        if (this.workerPids.length >= workers) break;
        check();
        await sleep(100);
      }
    }
    if (t.tree) this.treePids = descendants(this.children[0].pid);
    // With Redis, every node reports itself to the registry (every 2 s): wait until all have, so that each node of
    // the set (in particular each worker) is up and taking connections before the load generators connect.
    if (t.redis) {
      const want = this.ports.length * workers;
      for (;;) {
        const r = await httpGet(this.ports[0], '/api/stats', 1000);
        let n = 0;
        try {
          n = JSON.parse(r.body).nodes?.length ?? 0;
        } catch {}
        if (n >= want) break;
        check();
        await sleep(250);
      }
    }
  }

  /** Every process with a role: one server, node A/B, or the primary and its workers. */
  procs() {
    if (!this.children.length) return [];
    if (this.treePids.length) {
      return [{ role: 'wrapper', pid: this.children[0].pid }, ...this.treePids.map((pid, i) => ({ role: `child ${i + 1}`, pid }))];
    }
    if (this.workerPids.length) {
      return [{ role: 'primary', pid: this.children[0].pid }, ...this.workerPids.map((pid, i) => ({ role: `worker ${i + 1}`, pid }))];
    }
    if (this.children.length > 1) return this.children.map((c, i) => ({ role: `node ${String.fromCharCode(65 + i)}`, pid: c.pid }));
    return [{ role: 'server', pid: this.children[0].pid }];
  }

  /** True when a worker was replaced since start (it died): the figures then mix processes. */
  workersChanged() {
    if (!this.workerPids.length) return false;
    const now = childPids(this.children[0].pid);
    return now.length !== this.workerPids.length || now.some((p) => !this.workerPids.includes(p));
  }

  /** CPU µs per pid (utime + stime). */
  cpu() {
    return new Map(this.procs().map(({ pid }) => [pid, alive(pid) ? cpuMicros(pid) : 0]));
  }

  rss() {
    return this.procs().reduce((a, { pid }) => a + (alive(pid) ? rssBytes(pid) : 0), 0);
  }

  /**
   * One full GC in a single-process node server (bench/lib/parent-watch.js answers SIGUSR2), then its RSS; null for
   * a target of several processes or one that is not node (nginx).
   */
  async rssAfterGc() {
    const procs = this.procs();
    if (procs.length !== 1 || this.treePids.length) return null;
    const pid = procs[0].pid;
    if (!alive(pid)) return null;
    process.kill(pid, 'SIGUSR2');
    await sleep(1000);
    return alive(pid) ? rssBytes(pid) : null;
  }

  /** Open sockets per pid. */
  sockets() {
    return new Map(this.procs().map(({ pid }) => [pid, alive(pid) ? socketCount(pid) : 0]));
  }

  async stop() {
    const pids = this.procs().map((p) => p.pid);
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }),
    );
    // Workers normally drain and exit with their primary; one that did not (primary killed) goes now.
    for (const pid of pids) {
      if (ours(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  }
}

/** Every process below `pid`, depth first. */
function descendants(pid) {
  return childPids(pid).flatMap((c) => [c, ...descendants(c)]);
}

/** CPU µs of a set between two cpu() snapshots: total and per pid. */
export function cpuDelta(before, after) {
  const byPid = new Map();
  let total = 0;
  for (const [pid, us] of after) {
    const d = us - (before.get(pid) ?? us);
    byPid.set(pid, d);
    total += d;
  }
  return { total, byPid };
}
