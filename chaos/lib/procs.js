// The processes a chaos run owns: one private redis-server (a free loopback port, no persistence, so a restart comes
// back empty) and two `serve` nodes sharing it. Each can be killed with SIGKILL and started again on the same port;
// Redis can also be frozen (SIGSTOP) and thawed. Every process is killed when the run ends, also on SIGINT and on
// error; a watchdog kills redis-server if the runner itself is SIGKILLed (the nodes preload bench/lib/parent-watch.js
// for the same reason). The shared Redis at 127.0.0.1:6379 is never touched.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
const PARENT_WATCH = pathToFileURL(path.join(ROOT, 'bench/lib/parent-watch.js')).href;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** VmHWM (peak resident set) of a live process in bytes, or 0 when it is gone. */
export function peakRss(pid) {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function pingRedis(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function httpStatus(port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** One restartable child process; `peak` keeps the highest VmHWM seen over all its incarnations. */
class Managed {
  constructor(role, spawnFn) {
    this.role = role;
    this.spawnFn = spawnFn;
    this.child = null;
    this.peak = 0;
    this.frozen = false;
    this.starts = 0;
  }
  get pid() {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : null;
  }
  sample() {
    if (this.pid) this.peak = Math.max(this.peak, peakRss(this.pid));
  }
  start() {
    this.child = this.spawnFn(this.starts++);
    this.child.on('error', () => {});
  }
  async kill() {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.sample();
    const gone = once(c, 'exit');
    // SIGKILL ends a stopped process too; no SIGCONT first, which would let a frozen Redis run what it had buffered.
    process.kill(c.pid, 'SIGKILL');
    this.frozen = false;
    await gone;
  }
  freeze() {
    if (this.pid) {
      process.kill(this.pid, 'SIGSTOP');
      this.frozen = true;
    }
  }
  thaw() {
    if (this.pid) process.kill(this.pid, 'SIGCONT');
    this.frozen = false;
  }
}

export class Cluster {
  constructor({ logDir, historySize, log }) {
    this.logDir = logDir;
    this.historySize = historySize;
    this.log = log;
    this.redis = null;
    this.nodes = [];
    this.ports = [];
  }

  async start() {
    const rport = await freePort();
    this.redisPort = rport;
    this.redis = new Managed('redis', () => {
      const c = spawn('redis-server', ['--port', String(rport), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      // Kills this redis-server when the runner disappears without cleaning up (SIGKILL).
      spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${c.pid}`], { stdio: 'ignore', detached: true }).unref();
      return c;
    });
    await this.startRedis();
    this.ports = [await freePort(), await freePort()];
    this.nodes = this.ports.map((port, i) => {
      const name = `node ${'AB'[i]}`;
      return new Managed(name, (n) => {
        const fd = openSync(path.join(this.logDir, `chaos.${'ab'[i]}.log`), n === 0 ? 'w' : 'a');
        const c = spawn(process.execPath, ['--import', PARENT_WATCH, path.join(ROOT, 'dist/cli/main.js'), ...this.serveArgs(port)], {
          cwd: ROOT,
          stdio: ['ignore', fd, fd],
          env: { ...process.env, BENCH_PARENT_PID: String(process.pid) },
        });
        closeSync(fd);
        return c;
      });
    });
    await Promise.all(this.nodes.map((_, i) => this.startNode(i)));
  }

  serveArgs(port) {
    return [
      'serve', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn', '--workers', '1',
      '--redis.url', `redis://127.0.0.1:${this.redisPort}`, '--redis.prefix', 'chaos',
      '--history.size', String(this.historySize), '--shutdown.timeout', '2s',
      // Every client comes from 127.0.0.1 and reconnect storms are the point: per-IP and rate limits off.
      '--limits.connectRate', '0', '--limits.connectionsPerIp', '0', '--limits.sseStreamsPerIp', '0', '--limits.commandRate', '0',
    ];
  }

  async startRedis() {
    this.redis.start();
    const deadline = Date.now() + 5000;
    while (!(await pingRedis(this.redisPort))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.redisPort} did not answer PING within 5 s`);
      await sleep(20);
    }
  }

  /** Starts node i and waits for /readyz (20 s). */
  async startNode(i) {
    const node = this.nodes[i];
    node.start();
    const deadline = Date.now() + 20_000;
    while ((await httpStatus(this.ports[i], '/readyz')) !== 200) {
      if (!node.pid) throw new Error(`${node.role} exited at start; see ${this.logDir}/chaos.${'ab'[i]}.log`);
      if (Date.now() > deadline) throw new Error(`${node.role} not ready within 20 s`);
      await sleep(100);
    }
  }

  alivePorts() {
    return this.ports.filter((_, i) => this.nodes[i].pid);
  }

  all() {
    return [this.redis, ...this.nodes].filter(Boolean);
  }

  sample() {
    for (const p of this.all()) p.sample();
  }

  async stop() {
    await Promise.all(this.all().map((p) => p.kill().catch(() => {})));
  }

  /** Synchronous last resort (process 'exit'): SIGKILL whatever still runs. */
  killSync() {
    for (const p of this.all()) {
      const pid = p.pid;
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
}
