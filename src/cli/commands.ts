/** The subcommand table: help output and dispatch both read it. Later: publish, subscribe, token. */
import type { Command } from './command.js';
import { checkConfigCommand } from './check-config.js';
import { serveCommand } from './serve.js';

export const commands: readonly Command[] = [serveCommand, checkConfigCommand];
