/**
 * Turns zod issues into ConfigProblems that read like the rest: the option as the user wrote it, where its value came
 * from, what is wrong and the fix. zod's own wording ("Invalid input: expected boolean, received string") never
 * reaches the user.
 */
import type { z } from 'zod';
import { optionProblem, type ConfigProblem } from './errors.js';
import { configOptions, configSchema } from './schema.js';
import { closest } from './suggest.js';

/** A value as the user wrote it (string from env/flags, anything from a file) and where it came from. */
export interface Setting { readonly raw: unknown; readonly source: string }
export type Settings = Map<string, Setting>;

const byPath = new Map(configOptions.map((o) => [o.path, o]));

/** One problem per option: a union or refine can report the same path twice. */
export function dedupe(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const seen = new Set<string>();
  const key = (i: z.core.$ZodIssue) => (nestedIn(i) ? i.path.join('.') : issuePath(i));
  return issues.filter((i) => !seen.has(key(i)) && seen.add(key(i)));
}

/** The structured (JSON) option an issue is inside of, when it is about a part of that option's value. */
function nestedIn(issue: z.core.$ZodIssue) {
  const owner = ownerOption(issue.path);
  return owner && owner.kind === 'json' && issue.path.length > owner.path.split('.').length ? owner : undefined;
}

/** An element of a list option (`proxy.trusted.1`) is the option (`proxy.trusted`); fields inside elements stay. */
function issuePath(issue: z.core.$ZodIssue): string {
  const keys = [...issue.path];
  while (typeof keys.at(-1) === 'number') keys.pop();
  return keys.join('.');
}

/**
 * `coerced` is the input that was validated (values after env/flag coercion), used to show what a field inside a
 * structured option (namespaces) holds.
 */
export function describeIssue(issue: z.core.$ZodIssue, settings: Settings, coerced: Record<string, unknown>): ConfigProblem {
  const owner = nestedIn(issue);
  if (owner) return describeNested(issue, owner.path, settings, coerced);
  const path = issuePath(issue);
  const option = byPath.get(path);
  const setting = settings.get(path);
  const source = setting?.source ?? relatedSource(issue, settings) ?? 'default';
  // Secrets are never echoed: a wrong value may still be close to the real one.
  const secret = /secret|apikey/i.test(path);
  const got = secret ? '(a value, not shown)' : show(setting ? setting.raw : option?.default);
  const fix = issue.code === 'custom' ? (issue.params as { fix?: string } | undefined)?.fix : undefined;
  if (fix) return optionProblem(path, source, `${issue.message}, got ${got}`, fix);
  if (!option) return optionProblem(path || '(root)', source, reword(issue, undefined), 'see docs/configuration.md');
  const example = option.example === undefined ? '' : ` such as ${show(option.example)}`;
  return optionProblem(path, source, `expected ${option.expect}, got ${got}`, `set it to ${option.hint}${example}`);
}

/** A field inside a structured option, e.g. `namespaces[0].publish`: its source is the option's. */
function describeNested(issue: z.core.$ZodIssue, optionPath: string, settings: Settings, coerced: Record<string, unknown>): ConfigProblem {
  const inner = issue.path.slice(optionPath.split('.').length);
  const shown = optionPath + inner.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
  const source = settings.get(optionPath)?.source ?? 'default';
  const value = issue.path.reduce<unknown>((v, k) => (isRecord(v) ? v[k as string] : undefined), coerced);
  if (issue.code === 'unrecognized_keys') {
    const known = fieldNames(issue.path);
    const fixes = issue.keys.map((k) => {
      const guess = closest(k, known);
      return guess ? `rename "${k}" to "${guess}"` : `remove "${k}"`;
    });
    return optionProblem(shown, source, `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
      `${fixes.join(', ')} (fields: ${known.join(', ')})`);
  }
  const field = inner.at(-1);
  // A field holding a secret (`pusher.apps[0].secret`) is never echoed, as secret options are not.
  const shownValue = typeof field === 'string' && /secret/i.test(field) && value !== undefined ? '(a value, not shown)' : value;
  const own = issue.code === 'custom' ? (issue.params as { fix?: string } | undefined)?.fix : undefined;
  if (own) return optionProblem(shown, source, `${issue.message}, got ${show(shownValue)}`, own);
  const fix = issue.code === 'invalid_type' && value === undefined && typeof field === 'string' ? `add "${field}"`
    : issue.code === 'invalid_value' ? 'set it to one of those'
    : `correct it (docs/configuration.md describes "${optionPath}")`;
  return optionProblem(shown, source, reword(issue, shownValue), fix);
}

/** zod's issue in the words of the other messages: "expected …, got …". */
function reword(issue: z.core.$ZodIssue, value: unknown): string {
  const got = value === undefined ? 'nothing' : show(value);
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `missing (expected ${article(issue.expected)})` : `expected ${article(issue.expected)}, got ${got}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}, got ${got}`;
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `expected at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'items' : 'characters'}, got ${got}`
        : `expected a number ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}, got ${got}`;
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `expected at most ${String(issue.maximum)} ${issue.origin === 'array' ? 'items' : 'characters'}, got ${issue.origin === 'array' && Array.isArray(value) ? `${value.length} items` : got}`
        : `expected a number ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}, got ${got}`;
    default:
      // Our own messages (custom refinements, regex messages) are already sentences about the value.
      return `${issue.message.replace(/\.+$/, '')}, got ${got}`;
  }
}

function article(type: string): string {
  const names: Record<string, string> = { int: 'a whole number', number: 'a number', boolean: 'true or false', string: 'a string',
    array: 'a list', object: 'a mapping of fields' };
  return names[type] ?? type;
}

/** The longest prefix of an issue path that is an option: `namespaces` for `namespaces.0.name`. */
function ownerOption(keys: readonly PropertyKey[]) {
  for (let n = keys.length; n > 0; n--) {
    const option = byPath.get(keys.slice(0, n).join('.'));
    if (option) return option;
  }
  return undefined;
}

/** Cross-option checks (one path must differ from another) name the other options; the first one set is the source. */
function relatedSource(issue: z.core.$ZodIssue, settings: Settings): string | undefined {
  if (issue.code !== 'custom') return undefined;
  const related = (issue.params as { related?: readonly string[] } | undefined)?.related ?? [];
  for (const path of related) {
    const s = settings.get(path);
    if (s) return `default; ${path} from ${s.source}`;
  }
  return undefined;
}

/** Field names of the object schema found at `keys` in configSchema (walking through lists and defaults). */
function fieldNames(keys: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = configSchema;
  const unwrap = (s: z.core.$ZodType | undefined): z.core.$ZodType | undefined => {
    let cur = s;
    for (let i = 0; cur && i < 10; i++) {
      const def = cur._zod.def as unknown as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; element?: z.core.$ZodType };
      if (def.innerType) cur = def.innerType;
      else if (def.type === 'pipe' && def.in) cur = def.in;
      else break;
    }
    return cur;
  };
  for (const k of keys) {
    const def = unwrap(schema)?._zod.def as unknown as { type: string; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> } | undefined;
    schema = def?.type === 'array' ? def.element : def?.shape?.[k as string];
  }
  const def = unwrap(schema)?._zod.def as unknown as { shape?: Record<string, unknown> } | undefined;
  return Object.keys(def?.shape ?? {});
}

export function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isRecord(v: unknown): v is Record<PropertyKey, unknown> {
  return typeof v === 'object' && v !== null;
}
