/**
 * A private 3-master Redis Cluster for tests: three `redis-server --cluster-enabled yes` processes on free loopback
 * ports (each also needs port + 10000 free, its cluster bus), joined with `redis-cli --cluster create`, no
 * persistence, state files in a temp dir. Stopped by pid (SIGKILL) and the temp dir removed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);

export interface RedisClusterHandle {
  readonly ports: number[];
  /** Seed URLs joined by commas, as `redis.url` takes them with `redis.cluster`. */
  readonly url: string;
  /** `redis-cli` against one node (`-c`: follows redirects). */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The port of the master that serves `key`'s slot. */
  ownerOf(key: string): Promise<number>;
  /** Sends a signal to the node on `port`: SIGSTOP freezes it, SIGCONT thaws it, SIGKILL ends it. */
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void;
  stop(): Promise<void>;
}

/** True when something can listen on 127.0.0.1:port right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port from 20000..49999 that is free, with its cluster bus port (+10000) free too, and not in `taken`. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    if (taken.has(port) || taken.has(port + 10000) || taken.has(port - 10000)) continue;
    if ((await canListen(port)) && (await canListen(port + 10000))) return port;
  }
  throw new Error('no free port pair (P, P + 10000) found on 127.0.0.1');
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-redis-cluster-'));
  const procs: ChildProcess[] = [];
  const taken = new Set<number>();
  const cli = async (port: number, ...args: string[]) => (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;
  const stop = async () => {
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = once(p, 'exit');
        process.kill(p.pid!, 'SIGCONT');
        process.kill(p.pid!, 'SIGKILL');
        await exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freeClusterPort(taken);
      taken.add(port);
      ports.push(port);
      procs.push(
        spawn(
          'redis-server',
          ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--port', String(port),
            '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const [i, port] of ports.entries()) {
      await waitFor(async () => {
        if (procs[i]!.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${procs[i]!.exitCode}`);
        return (await cli(port, 'ping')).trim() === 'PONG';
      }, `redis-server on port ${port} to answer PING`);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must agree that all slots are served, and know the other two masters, before clients discover it.
    await waitFor(async () => {
      for (const port of ports) {
        if (!(await cli(port, 'cluster', 'info')).includes('cluster_state:ok')) return false;
        const masters = (await cli(port, 'cluster', 'nodes')).split('\n').filter((l) => l.includes('master') && !l.includes('fail'));
        if (masters.length !== 3) return false;
      }
      return true;
    }, 'cluster_state:ok on all three nodes');
    return {
      ports,
      url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','),
      cli,
      async ownerOf(key: string) {
        const slot = Number((await cli(ports[0]!, 'cluster', 'keyslot', key)).trim());
        for (const line of (await cli(ports[0]!, 'cluster', 'nodes')).split('\n')) {
          const f = line.trim().split(' ');
          if (!f[2]?.includes('master')) continue;
          for (const range of f.slice(8)) {
            const [from, to = from] = range.split('-').map(Number);
            if (slot >= from! && slot <= to!) return Number(f[1]!.split(':')[1]!.split('@')[0]);
          }
        }
        throw new Error(`no master serves slot ${slot}`);
      },
      signal(port, signal) {
        const p = procs[ports.indexOf(port)];
        if (p?.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, signal);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
