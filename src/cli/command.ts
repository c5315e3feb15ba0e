/** One `switchboard <name>` subcommand. Adding a command = one file exporting a Command + one line in commands.ts. */
export interface Command {
  readonly name: string;
  /** Arguments after the name, e.g. "<file> [--option value ...]". */
  readonly usage: string;
  /** One line for `switchboard --help`. */
  readonly summary: string;
  /** Longer text for `switchboard <name> --help`. */
  readonly details?: () => string;
  /**
   * Resolves to the exit code, or undefined when the command keeps the process alive (serve) and exits by itself.
   * A thrown ConfigError is printed without a stack and exits with code 2.
   */
  run(args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number | undefined>;
}
