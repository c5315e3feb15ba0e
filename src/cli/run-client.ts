import { RemoteError, UsageError } from './remote.js';

/** Runs a client-side command: usage problems exit 2, server problems exit 1, each as one line on stderr. */
export async function runClientCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      process.stderr.write(`switchboard ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    if (err instanceof RemoteError) {
      process.stderr.write(`switchboard ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** node:util parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed options. */
function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
