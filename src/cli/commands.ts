/** The subcommand table: help output and dispatch both read it. */
import type { Command } from './command.js';
import { checkConfigCommand } from './check-config.js';
import { dashboardCommand } from './dashboard.js';
import { publishCommand } from './publish.js';
import { serveCommand } from './serve.js';
import { subscribeCommand } from './subscribe.js';
import { tokenCommand } from './token.js';

export const commands: readonly Command[] = [serveCommand, publishCommand, subscribeCommand, tokenCommand, checkConfigCommand, dashboardCommand];
