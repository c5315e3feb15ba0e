/** One thing wrong with the configuration: which option, where its value came from, and the whole sentence. */
export interface ConfigProblem {
  /** Dotted option path, env variable or flag as the user wrote it, or the config file path. */
  readonly option: string;
  /** e.g. "env SWITCHBOARD_HISTORY_SIZE", "file ./switchboard.yaml", "flag --port". */
  readonly source: string;
  /** `config option "…" (from …): <what is wrong>. Fix: <how to fix it>.` */
  readonly message: string;
}

/**
 * Thrown by loadConfig with every problem found (not just the first), one per line of `message`, so an operator can
 * fix them all in one go. The CLI prints the message without a stack and exits with code 2.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super(problems.map((p) => p.message).join('\n'), options);
  }
}

export function problem(subject: string, option: string, source: string, what: string, fix: string): ConfigProblem {
  return { option, source, message: `${subject} (from ${source}): ${what}. Fix: ${fix}.` };
}

export function optionProblem(option: string, source: string, what: string, fix: string): ConfigProblem {
  return problem(`config option "${option}"`, option, source, what, fix);
}
