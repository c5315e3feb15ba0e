/** Help texts. Option lists come from the config schema, so help, docs and behaviour agree. */
import { configOptions } from '../config/index.js';
import type { Command } from './command.js';

const DOCS = 'docs/configuration.md';
const pad = (s: string, n: number) => (s.length >= n ? `${s}  ` : s.padEnd(n));
const option = (path: string) => configOptions.find((o) => o.path === path)!;

export function renderHelp(commands: readonly Command[]): string {
  const port = option('port');
  const host = option('host');
  const level = option('logLevel');
  return `switchboard: real-time messaging server (WebSocket and Server-Sent Events)

Usage:
  switchboard <command> [options]

Commands:
${commands.map((c) => `  ${pad(c.name, 16)}${c.summary}`).join('\n')}

Run "switchboard <command> --help" for a command's options ("serve --help" lists every config option).

Main options (after the command):
  --config <file>       JSON or YAML config file (env SWITCHBOARD_CONFIG)
  --port <n>            HTTP port, default ${port.default} (env SWITCHBOARD_PORT or PORT)
  --host <address>      bind address, default ${host.default} (env SWITCHBOARD_HOST)
  --log-level <level>   ${level.type.replace(/`/g, '')}; default ${level.default} (env SWITCHBOARD_LOG_LEVEL or LOG_LEVEL)
  --<option> <value>    any config option by its dotted name, e.g. --history.size 500 or --websocket.pingInterval=30s
  -h, --help            show this help
  --version             print the version

Environment:
  SWITCHBOARD_<OPTION>  any config option in upper snake case, e.g. SWITCHBOARD_HISTORY_SIZE=500
  SWITCHBOARD_CONFIG    config file path
  PORT, LOG_LEVEL       honoured below their SWITCHBOARD_ names

Precedence: defaults < config file < environment < flags.
Every option, its default and formats: ${DOCS}
`;
}

export function renderCommandHelp(command: Command): string {
  return `Usage: switchboard ${command.name} ${command.usage}\n\n${command.summary}\n${command.details ? `\n${command.details()}` : ''}`;
}

/** Every option as flag, env variable and default: the short form of ${DOCS}. */
export function optionsHelp(): string {
  const flags = configOptions.map((o) => `${o.flag} <${o.kind}>`);
  const width = (xs: string[]) => Math.max(...xs.map((x) => x.length)) + 2;
  const [fw, ew] = [width(flags), width(configOptions.map((o) => o.env))];
  const rows = configOptions.map((o, i) => `  ${flags[i].padEnd(fw)}${o.env.padEnd(ew)}default ${JSON.stringify(o.default)}`);
  return `Options (flag, environment variable, default; precedence defaults < --config file < env < flags):\n${rows.join('\n')}\n\nDescriptions and formats: ${DOCS}\n`;
}
