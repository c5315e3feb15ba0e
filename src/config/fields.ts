/**
 * Builders for config leaves. Each leaf is a zod schema with its default (a `prefault`, so the default goes through
 * the same parsing as user input: "5m" becomes 300000) plus an entry in `optionRegistry` that carries what docs,
 * env coercion and error messages need. One call per option keeps the schema, docs and errors from drifting apart.
 */
import { z } from 'zod';
import { parseTrusted } from '../core/client-address.js';
import { isValidChannel } from '../protocol/names.js';

/** How a string from env/flags is coerced before validation. */
export type OptionKind = 'int' | 'fraction' | 'duration' | 'boolean' | 'enum' | 'string' | 'list' | 'json';

export interface OptionMeta {
  readonly kind: OptionKind;
  /** Docs "type" column, e.g. "integer 0–65535". */
  readonly type: string;
  /** Completes "expected …" in errors, e.g. "an integer >= 0". */
  readonly expect: string;
  /** Completes "Fix: set it to … such as <example>", e.g. "a whole number". */
  readonly hint: string;
  /** Default in input form, as documented ("5m", not 300000). */
  readonly default: unknown;
  /** Value after "such as" in fixes (the default unless that is empty); undefined: no example. */
  readonly example: unknown;
  readonly description: string;
}

export const optionRegistry = z.registry<OptionMeta>();

function leaf<S extends z.ZodType>(schema: S, meta: OptionMeta): S {
  optionRegistry.add(schema, meta);
  return schema;
}

export function int(def: number, description: string, min = 0, max?: number, type?: string) {
  const base = z.number().int().min(min);
  const range = max === undefined ? `>= ${min}` : `from ${min} to ${max}`;
  return leaf((max === undefined ? base : base.max(max)).prefault(def), {
    kind: 'int', type: type ?? (max === undefined ? `integer ≥ ${min}` : `integer ${min}–${max}`),
    expect: `an integer ${range}`, hint: 'a whole number', default: def, example: def, description,
  });
}

/** A number from 0 to 1 (a rate, e.g. a sampling fraction). */
export function fraction(def: number, description: string) {
  return leaf(z.number().min(0).max(1).prefault(def), {
    kind: 'fraction', type: 'number 0–1', expect: 'a number from 0 to 1', hint: 'a fraction', default: def, example: def, description,
  });
}

/** Byte sizes are plain integers (no "512KiB" strings): only the documented type differs. */
export function bytes(def: number, description: string) {
  return int(def, description, 1, undefined, 'bytes (integer ≥ 1)');
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
/** Timers overflow past 2^31-1 ms (~24.8 days: Node then fires them after 1 ms), so longer durations are refused. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Milliseconds for 250, "250", "500ms", "30s", "5m", "1h", "7d"; undefined when malformed, negative or too long. */
export function parseDuration(value: unknown): number | undefined {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const m = DURATION.exec(value.trim());
    if (m) ms = Number(m[1]) * UNIT_MS[(m[2] ?? 'ms') as keyof typeof UNIT_MS];
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > MAX_DURATION_MS) return undefined;
  return Math.round(ms);
}

export function duration(def: string, description: string) {
  const schema = z.union([z.number(), z.string()])
    .refine((v) => parseDuration(v) !== undefined)
    .transform((v) => parseDuration(v)!);
  return leaf(schema.prefault(def), {
    kind: 'duration', type: 'duration',
    expect: 'a duration: milliseconds or a number with a unit ms, s, m, h or d (at most 24d)',
    hint: 'a duration', default: def, example: def, description,
  });
}

export function bool(def: boolean, description: string) {
  return leaf(z.boolean().prefault(def), {
    kind: 'boolean', type: 'boolean', expect: 'true or false', hint: 'true or false (env and flags also take 1 or 0)',
    default: def, example: undefined, description,
  });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, def: T[number], description: string) {
  const list = values.join(', ');
  return leaf(z.enum(values).prefault(def as never), {
    kind: 'enum', type: values.map((v) => `\`${v}\``).join(', '), expect: `one of ${list}`, hint: 'one of those',
    default: def, example: def, description,
  });
}

export function str(def: string, description: string, example = def) {
  return leaf(z.string().prefault(def), {
    kind: 'string', type: 'string', expect: 'a string', hint: 'a string', default: def, example, description,
  });
}

/** A secret: empty (unset) or at least 32 bytes, so an HMAC key cannot be guessed offline from one token. */
export function secret(description: string) {
  return leaf(z.string().refine((v) => v === '' || Buffer.byteLength(v) >= 32).prefault(''), {
    kind: 'string', type: 'string (≥ 32 bytes)', expect: 'empty, or a secret of at least 32 bytes', hint: 'a long random string (openssl rand -hex 32)',
    default: '', example: undefined, description,
  });
}

export function nonEmpty(def: string, description: string) {
  return leaf(z.string().trim().min(1).prefault(def), {
    kind: 'string', type: 'string', expect: 'a non-empty string', hint: 'a string', default: def, example: def,
    description,
  });
}

/** URL path: routes are matched on it, so it must be absolute. */
export function urlPath(def: string, description: string) {
  return leaf(z.string().startsWith('/').prefault(def), {
    kind: 'string', type: 'path', expect: 'a URL path starting with "/"', hint: 'a path', default: def, example: def,
    description,
  });
}

export function channel(def: string, description: string) {
  return leaf(z.string().refine((v) => isValidChannel(v)).prefault(def), {
    kind: 'string', type: 'channel name',
    expect: 'a channel name (1–255 letters, digits and _ - . : # @ / = or comma)', hint: 'a channel name',
    default: def, example: def, description,
  });
}

export function stringList(description: string, example: string[], def: string[] = []) {
  return leaf(z.array(z.string()).prefault(def), {
    kind: 'list', type: 'list of strings', expect: 'a list of strings',
    hint: 'a list (comma-separated in env and flags)', default: def, example, description,
  });
}

/** True for an absolute `http:` or `https:` URL. */
export function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** An optional HTTP(S) URL: empty (off) or absolute `http://` / `https://`. */
export function httpUrl(description: string, example: string) {
  return leaf(z.string().refine((v) => v === '' || isHttpUrl(v)).prefault(''), {
    kind: 'string', type: 'URL', expect: 'empty, or an absolute http:// or https:// URL', hint: 'a URL',
    default: '', example, description,
  });
}

/** A list of IP addresses and CIDR ranges (trusted proxies). */
export function addressList(description: string, example: string[]) {
  return leaf(z.array(z.string().refine((v) => parseTrusted(v) !== undefined)).prefault([]), {
    kind: 'list', type: 'list of IP addresses / CIDR ranges', expect: 'a list of IP addresses or CIDR ranges (10.0.0.5, 10.0.0.0/8, fd00::/8)',
    hint: 'a list of addresses or ranges (comma-separated in env and flags)', default: [], example, description,
  });
}

/**
 * A structured option (a list of objects, e.g. namespaces): natural in a file; in env and flags it is given as JSON
 * text.
 */
export function jsonValue<S extends z.ZodType>(schema: S, def: z.input<S>, type: string, description: string, example: unknown) {
  return leaf(schema.prefault(def as never), {
    kind: 'json', type, expect: type, hint: 'JSON text in env and flags', default: def, example, description,
  });
}

/** A group of options; `prefault({})` lets a file omit the whole group and still get every default. */
export function group<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(shape).prefault({} as never);
}
