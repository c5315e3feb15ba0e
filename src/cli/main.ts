#!/usr/bin/env node
/**
 * The `switchboard` executable (dist/cli/main.js). Exit codes: 0 ok, 1 unexpected failure, 2 usage or config error.
 */
import { createRequire } from 'node:module';
import { ConfigError } from '../config/index.js';
import { closest } from '../config/suggest.js';
import { commands } from './commands.js';
import { renderCommandHelp, renderHelp } from './help.js';

// src/cli/main.ts (via tsx) and dist/cli/main.js both sit two levels below package.json.
const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

async function main(argv: readonly string[]): Promise<number | undefined> {
  const [name, ...args] = argv;
  if (name === undefined) {
    process.stderr.write(renderHelp(commands)); // no default command: starting a server should be explicit
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') return void process.stdout.write(renderHelp(commands)), 0;
  if (name === '--version' || name === '-v') return void process.stdout.write(`${version}\n`), 0;
  const command = commands.find((c) => c.name === name);
  if (!command) {
    const guess = closest(name, commands.map((c) => c.name));
    const hint = name.startsWith('-') ? ` Options go after the command, e.g. switchboard serve ${name}.`
      : guess ? ` Did you mean "${guess}"?` : '';
    process.stderr.write(`switchboard: unknown command "${name}".${hint}\nRun "switchboard --help" for the commands.\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(renderCommandHelp(command)), 0;
  return command.run(args, process.env);
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== undefined) process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`); // the message is the whole story: no stack
      process.exitCode = 2;
    } else {
      process.stderr.write(`switchboard: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1); // a half-started server may hold handles open
    }
  },
);
