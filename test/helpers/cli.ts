/**
 * The real `switchboard serve` process, started from the sources with tsx, for tests that need separate processes
 * (shutdown, several nodes). The host's SWITCHBOARD_* variables are not passed on; `env` adds the test's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'src/cli/main.ts';

export interface Cli {
  child: ChildProcess;
  port: number;
  logs: Record<string, any>[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL (if still running) and wait for the exit. */
  kill(): Promise<void>;
}

/** Starts `switchboard serve` and resolves with the port from its `switchboard listening` log line. */
export async function startCli(flags: string[], env: Record<string, string> = {}): Promise<Cli> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--port', '0', '--log-level', 'info', ...flags], {
    cwd: ROOT,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_') && !k.startsWith('OTEL_') && k !== 'PORT' && k !== 'LOG_LEVEL')),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cli: Partial<Cli> = { child, logs: [], stderr: '' };
  cli.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  cli.kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await withTimeout(cli.exited!, 5000, 'CLI kill');
  };
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (cli.stderr += s));
  let buf = '';
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (s: string) => {
        buf += s;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const entry = JSON.parse(line) as Record<string, any>;
            cli.logs!.push(entry);
            if (entry.msg === 'switchboard listening') resolve(entry.port as number);
          } catch {
            /* not a log line */
          }
        }
      });
      void cli.exited!.then((e) => reject(new Error(`CLI exited early (${JSON.stringify(e)}): ${cli.stderr}`)));
    }),
    20_000,
    'the CLI to log "switchboard listening"',
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { ...(cli as Cli), port };
}
