/**
 * A private redis-server for tests that kill and restart Redis: a free loopback port, no persistence (a restart comes
 * back empty, like a lost Redis), stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: no goodbye to clients, like a crash) and waits for the process to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it answers PING. */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open but nothing is answered, like a peer that died silently. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
}

/** A port the OS had free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** True when a RESP PING on the port gets +PONG within 500 ms. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function spawnServer(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
}

async function waitReady(port: number, proc: ChildProcess, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ping(port))) {
    if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let proc: ChildProcess | undefined = spawnServer(port);
  await waitReady(port, proc);
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = once(p, 'exit');
      process.kill(p.pid!, 'SIGKILL');
      await exited;
    },
    pause() {
      if (proc?.pid) process.kill(proc.pid, 'SIGSTOP');
    },
    resume() {
      if (proc?.pid) process.kill(proc.pid, 'SIGCONT');
    },
    async restart() {
      await server.stop();
      proc = spawnServer(port);
      await waitReady(port, proc);
    },
  };
  return server;
}
