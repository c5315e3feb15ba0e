import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfig, type Config } from '../config/index.js';
import { createLogger } from '../observability/logger.js';
import type { Switchboard } from '../server.js';
import type { Command } from './command.js';
import { optionsHelp } from './help.js';
import { listenErrorLine, probePort } from './listen-error.js';
import { prettyDestination } from './pretty-log.js';
import { listeningLine, tracingState } from './start-banner.js';

/** Past shutdown.timeout the server should have closed everything; this much more and we stop waiting. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Loads the config, starts the server and owns process signals: the first SIGTERM/SIGINT drains (shutdown()) and exits
 * 0, a second one exits 1 at once. Logs JSON, or on a terminal (logFormat auto/pretty) readable lines and a start
 * line with the URL to open. A port in use (or not allowed) is one line on stderr and exit code 1, not a stack.
 */
export async function serve(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<Switchboard | undefined> {
  const config = loadConfig({ argv, env });
  const workers = workerCount(config);
  if (workers > 1 && cluster.isPrimary) {
    // Workers bind through the primary: a busy port would fail every worker, and each would be replaced forever.
    const busy = await probePort(config);
    if (busy) return void fail(busy);
    runPrimary(workers, config);
    return undefined;
  }
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true);
  const logger = createLogger(config.logLevel, pretty
    ? prettyDestination(process.stdout, { color: process.stdout.isTTY === true && !env.NO_COLOR, hide: new Set(['switchboard listening']) })
    : undefined);
  const tracing = tracingState(env);
  // Loaded lazily so `--help` and `check-config` never pay for (or break on) the server's imports.
  const { createSwitchboard } = await import('../server.js');
  const app = createSwitchboard({ config, logger });
  let port: number;
  try {
    ({ port } = await app.listen());
  } catch (err) {
    const line = listenErrorLine(err, config);
    if (line) return void fail(line);
    throw err;
  }
  if (pretty) process.stdout.write(`${listeningLine(config, port)}\n${tracing.line}\n`);
  else logger.info({ tracing: tracing.on, exporters: tracing.exporters, url: tracing.url, sampler: tracing.sampler }, tracing.line);
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(1); // a second signal: the operator is done waiting for the drain
    stopping = true;
    // Backstop: the server bounds its own drain by shutdown.timeout; a hang past that must not keep the process up.
    setTimeout(() => {
      process.stderr.write(`switchboard: shutdown still running after ${config.shutdown.timeout + SHUTDOWN_GRACE_MS} ms; exiting\n`);
      process.exit(1);
    }, config.shutdown.timeout + SHUTDOWN_GRACE_MS).unref();
    app.shutdown().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`switchboard: shutdown failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return app;
}

/** Exit 1 with one line: the server could not listen (nothing to drain yet). */
function fail(line: string): never {
  process.stderr.write(`switchboard: ${line}\n`);
  process.exit(1);
}

/** `workers`, with 0 meaning one per core when Redis is configured, else 1. */
function workerCount(config: Config): number {
  if (config.workers > 0) return config.workers;
  return config.redis.url ? availableParallelism() : 1;
}

/**
 * The primary of `--workers N`: forks N processes that share the port (Node's cluster module hands connections
 * round-robin), each a full node on the shared Redis broker. A worker that dies is replaced (at most once a second);
 * the first SIGTERM/SIGINT is passed on to every worker, and the primary exits 0 once they all have drained.
 */
function runPrimary(workers: number, config: Config): void {
  let stopping = false;
  let lastFork = 0;
  const fork = () => cluster.fork();
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(`switchboard: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    const wait = Math.max(0, 1000 - (Date.now() - lastFork));
    lastFork = Date.now() + wait;
    setTimeout(fork, wait);
  });
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), config.shutdown.timeout + 2 * SHUTDOWN_GRACE_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export const serveCommand: Command = {
  name: 'serve',
  usage: '[--config file] [--option value ...]',
  summary: 'start the server (WebSocket, SSE and the server HTTP API)',
  details: optionsHelp,
  async run(args, env) {
    await serve(args, env);
    return undefined; // keeps running until a signal
  },
};
