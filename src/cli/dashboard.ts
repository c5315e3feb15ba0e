import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { embeddedFiles } from '../http/embedded.js';
import type { Command } from './command.js';

/** deploy/grafana/switchboard.json from dist/cli (an install) or src/cli (tsx): two levels below the package root. */
const DASHBOARD_FILE = fileURLToPath(new URL('../../deploy/grafana/switchboard.json', import.meta.url));

/**
 * `switchboard dashboard > switchboard.json`: the Grafana dashboard (docs/operations.md), from the executable itself
 * (the single executable embeds it) or the installed package, so a user without the repository can import it.
 */
export const dashboardCommand: Command = {
  name: 'dashboard',
  usage: '',
  summary: 'print the Grafana dashboard (JSON, import it in Grafana; see docs/operations.md)',
  async run(args) {
    if (args.length > 0) {
      process.stderr.write(`switchboard dashboard: unexpected argument "${args[0]}" (it takes none; redirect its output to a file)\n`);
      return 2;
    }
    const body = embeddedFiles()?.read('deploy/grafana/switchboard.json') ?? readFileSync(DASHBOARD_FILE);
    process.stdout.write(body);
    return 0;
  },
};
