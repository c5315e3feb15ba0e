/**
 * loadConfig: defaults < file < env < flags < values given in code, validated once by configSchema, returned deeply frozen.
 * Every value remembers where it came from, so an error can say "from env SWITCHBOARD_HISTORY_SIZE".
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, optionProblem, problem, type ConfigProblem } from './errors.js';
import { dedupe, describeIssue, show, type Settings } from './issues.js';
import { configOptions, configSchema, type Config, type ConfigOption } from './schema.js';
import { closest } from './suggest.js';

export interface LoadConfigInput {
  /** Option flags, e.g. `["--port", "9000", "--history.size=500"]`. Omitted: none. */
  argv?: readonly string[];
  /** Usually `process.env`. Omitted: none, so tests and embedders are not affected by the host's environment. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Config file (.json, .yaml, .yml); wins over `--config` and SWITCHBOARD_CONFIG. */
  file?: string;
  /**
   * Options given in code (library use), nested or dotted like a file, e.g. `{ port: 0, history: { size: 500 } }`.
   * They win over everything else.
   */
  values?: Readonly<Record<string, unknown>>;
}

const CONFIG_ENV = 'SWITCHBOARD_CONFIG';
/** Read by the client-side commands (publish, subscribe), not server options: never "unknown option" errors. */
const CLIENT_ENV = new Set(['SWITCHBOARD_URL', 'SWITCHBOARD_TOKEN']);
/** Conventional names set by platforms (PORT) and tools (LOG_LEVEL); their SWITCHBOARD_ twins win over them. */
const PLAIN_ENV = { PORT: 'port', LOG_LEVEL: 'logLevel' } as const;

const byPath = new Map(configOptions.map((o) => [o.path, o]));
const byEnv = new Map(configOptions.map((o) => [o.env, o]));
/** Every group path, nested ones too (`proxy`, `proxy.connect`). */
const groups = new Set(configOptions.flatMap((o) => o.path.split('.').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('.'))));
const paths = configOptions.map((o) => o.path);
const lastSegment = (path: string) => path.slice(path.lastIndexOf('.') + 1);

/** Where each option of a loaded Config came from (options left at their default are absent). */
const sourcesOf = new WeakMap<Config, ReadonlyMap<string, string>>();

/**
 * Where `path` of a Config returned by loadConfig was set, e.g. "flag --host", "env SWITCHBOARD_HOST",
 * "file ./switchboard.yaml"; "default" when it was not set (or the Config was not made by loadConfig).
 * Lets later checks (the server's safe-binding rule) name the real source in their errors.
 */
export function configSource(config: Config, path: string): string {
  return sourcesOf.get(config)?.get(path) ?? 'default';
}

export function loadConfig(input: LoadConfigInput = {}): Config {
  const env = input.env ?? {};
  const problems: ConfigProblem[] = [];
  const settings: Settings = new Map();
  const flags = parseFlags(input.argv ?? [], problems);
  const file = input.file !== undefined ? { path: input.file, source: 'argument' }
    : flags.config ?? (env[CONFIG_ENV] ? { path: env[CONFIG_ENV], source: `env ${CONFIG_ENV}` } : undefined);
  if (file) readFile(file.path, file.source, settings, problems);
  readEnv(env, settings, problems);
  for (const [path, setting] of flags.settings) settings.set(path, setting);
  if (input.values !== undefined) flatten(input.values as Record<string, unknown>, '', 'code', settings, problems);
  // Validate what is known even when something is unknown: every problem is reported in one go.
  const validated = nest(settings);
  const result = configSchema.safeParse(validated);
  if (!result.success) problems.push(...dedupe(result.error.issues).map((i) => describeIssue(i, settings, validated)));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const config = deepFreeze(result.data);
  sourcesOf.set(config, new Map([...settings].map(([path, s]) => [path, s.source])));
  return config;
}

/** Strings (env, flags, and strings in files) become the option's type; anything unparseable is left for the schema to reject. */
function coerce(option: ConfigOption, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const s = raw.trim();
  switch (option.kind) {
    case 'int': return /^[+-]?\d+$/.test(s) ? Number(s) : raw;
    case 'fraction': return /^\d+(\.\d+)?$/.test(s) ? Number(s) : raw;
    case 'duration': return /^\d+(\.\d+)?$/.test(s) ? Number(s) : s; // "250" is ms; "5m" is parsed by the schema
    case 'boolean': {
      const l = s.toLowerCase();
      return l === 'true' || l === '1' ? true : l === 'false' || l === '0' ? false : raw;
    }
    case 'list': return s.split(',').map((x) => x.trim()).filter((x) => x !== '');
    case 'json': {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        return raw; // the schema reports it, naming the option
      }
    }
    default: return raw;
  }
}

function parseFlags(argv: readonly string[], problems: ConfigProblem[]) {
  const settings: Settings = new Map();
  let config: { path: string; source: string } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      problems.push(problem(`argument "${arg}"`, arg, 'command line', 'not an option', 'pass options as --name value, e.g. --port 8080'));
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const path = name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()); // --log-level → logLevel
    const source = `flag --${name}`;
    const option = byPath.get(path);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    const next = argv[i + 1];
    if (path !== 'config' && !option) {
      problems.push(unknownOption(`--${name}`, source, path, (p) => `--${p}`));
      if (value === undefined && next !== undefined && !next.startsWith('--')) i++; // skip its value, not a second error
      continue;
    }
    if (value === undefined) {
      // A bare boolean flag means true; "--channel.presence false" still reads the value after it.
      if (option?.kind === 'boolean' && (next === undefined || typeof coerce(option, next) !== 'boolean')) value = 'true';
      else if (next === undefined || next.startsWith('--')) {
        problems.push(optionProblem(`--${name}`, source, 'missing value', `write --${name} <value> or --${name}=<value>`));
        continue;
      } else value = argv[++i];
    }
    if (path === 'config') config = { path: value, source };
    else settings.set(path, { raw: value, source });
  }
  return { settings, config };
}

function readEnv(env: Readonly<Record<string, string | undefined>>, settings: Settings, problems: ConfigProblem[]): void {
  for (const [name, path] of Object.entries(PLAIN_ENV)) {
    if (env[name]) settings.set(path, { raw: env[name], source: `env ${name}` });
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SWITCHBOARD_') || name === CONFIG_ENV || CLIENT_ENV.has(name) || value === undefined) continue;
    const option = byEnv.get(name);
    if (!option) {
      const guess = closest(name, [...byEnv.keys()], (e) => `SWITCHBOARD_${lastSegment(byEnv.get(e)!.path)}`);
      problems.push(optionProblem(name, `env ${name}`, 'unknown option',
        guess ? `rename it to ${guess} (option "${byEnv.get(guess)!.path}")` : 'remove it; docs/configuration.md lists every option'));
    } else if (value !== '') {
      // An empty value counts as unset: `VAR=` in shells and compose files usually means "not configured".
      settings.set(option.path, { raw: value, source: `env ${name}` });
    }
  }
}

function readFile(path: string, fileSource: string, settings: Settings, problems: ConfigProblem[]): void {
  const fail = (what: string, fix: string) => problems.push(problem(`config file "${path}"`, path, fileSource, what, fix));
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') return void fail(`unsupported extension "${ext}"`, 'use a .json, .yaml or .yml file');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return void fail(`cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 'check the path and the file permissions');
  }
  let data: unknown;
  try {
    data = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    return void fail(`invalid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0].replace(/:$/, '')}`, 'correct the syntax there');
  }
  if (data === null || data === undefined) return; // an empty file means "all defaults"
  if (!isPlainObject(data)) return void fail('the top level is not a mapping of options', 'write options as key: value pairs, e.g. port: 8080');
  flatten(data, '', `file ${path}`, settings, problems);
}

/** Nested objects and dotted keys ("history.size": 5) both reach the same option. */
function flatten(obj: Record<string, unknown>, prefix: string, source: string, settings: Settings, problems: ConfigProblem[]): void {
  for (const [key, value] of Object.entries(obj)) {
    const path = prefix + key;
    if (byPath.has(path)) settings.set(path, { raw: value, source });
    else if (!groups.has(path)) problems.push(unknownOption(path, source, path, (p) => p, isPlainObject(value)));
    else if (isPlainObject(value)) flatten(value, `${path}.`, source, settings, problems);
    else if (value !== null) { // "history:" with nothing under it is an empty group
      const first = configOptions.find((o) => o.path.startsWith(`${path}.`))!;
      problems.push(optionProblem(path, source, `expected a group of options, got ${show(value)}`,
        `nest its options under it, e.g. ${path}: { ${lastSegment(first.path)}: ${show(first.default)} }`));
    }
  }
}

/**
 * `isGroup`: the value is a mapping (`histroy: { size: 5 }` in a file), so the closest group name is the likely fix;
 * otherwise an option name is, then a group.
 */
function unknownOption(shown: string, source: string, path: string, format: (p: string) => string, isGroup = false): ConfigProblem {
  const group = closest(path, [...groups]);
  const guess = isGroup ? group : closest(path, paths, lastSegment) ?? group;
  const what = guess !== undefined && groups.has(guess) ? `"${format(guess)}" (a group of options)` : `"${format(guess ?? '')}"`;
  return optionProblem(shown, source, isGroup ? 'unknown group of options' : 'unknown option',
    guess ? `rename it to ${what}` : 'remove it; docs/configuration.md lists every option');
}

function nest(settings: Settings): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, { raw }] of settings) {
    const keys = path.split('.');
    let node = root;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[keys[keys.length - 1]] = coerce(byPath.get(path)!, raw);
  }
  return root;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
