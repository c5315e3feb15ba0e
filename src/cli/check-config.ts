import { loadConfig } from '../config/index.js';
import type { Command } from './command.js';

/**
 * Validates a config file without starting anything, for CI and deploy hooks. The environment is deliberately not
 * applied, so the verdict is about the file (plus any flags given after it), not about the machine running the check.
 */
export const checkConfigCommand: Command = {
  name: 'check-config',
  usage: '<file> [--option value ...]',
  summary: 'validate a JSON or YAML config file; prints "ok" or the problems (exit code 2)',
  async run(args) {
    const [file, ...flags] = args;
    if (file === undefined || file.startsWith('--')) {
      process.stderr.write('switchboard check-config: missing <file>. Usage: switchboard check-config switchboard.yaml\n');
      return 2;
    }
    loadConfig({ file, argv: flags }); // throws ConfigError: main prints it and exits with 2
    process.stdout.write('ok\n');
    return 0;
  },
};
