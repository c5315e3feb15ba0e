import { loadConfig } from '../config/index.js';
import type { Switchboard } from '../server.js';
import type { Command } from './command.js';
import { optionsHelp } from './help.js';

/** Past shutdown.timeout the server should have closed everything; this much more and we stop waiting. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Loads the config, starts the server and owns process signals: the first SIGTERM/SIGINT drains (shutdown()) and exits
 * 0, a second one exits 1 at once. Prints nothing itself: the server logs its address.
 */
export async function serve(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<Switchboard> {
  const config = loadConfig({ argv, env });
  // Loaded lazily so `--help` and `check-config` never pay for (or break on) the server's imports.
  const { createSwitchboard } = await import('../server.js');
  const app = createSwitchboard({ config });
  await app.listen();
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
