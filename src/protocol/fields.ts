import { ErrorCode } from './errors.js';
import { DEFAULT_MAX_KEY_LENGTH, EVENT_RULE, isValidChannel, isValidEvent, isValidKey, KEY_RULE, TRACEPARENT_PATTERN } from './names.js';

/**
 * One rule per field that both the WebSocket decoder (commands.ts) and the HTTP API's schemas (src/api/schemas.ts)
 * accept: each returns undefined for a good value, else the code and the message (it follows the field's name:
 * `"channel" must be ...` on the WebSocket, `channel: must be ...` in the API). The API refines its zod schemas with
 * these functions, so the two can only disagree on how the name is quoted. Pure and zod-free: the SDK imports
 * protocol/.
 */
export interface FieldProblem {
  readonly code: ErrorCode;
  readonly message: string;
}

/** The configured bounds the rules need. */
export interface FieldLimits {
  /** Longest channel name accepted (`channel.maxLength`; default 255). */
  maxChannelLength: number;
  /** Largest `limit` a history read may ask for (`api.maxHistoryLimit`; default 1000). */
  maxHistoryLimit: number;
  /** Longest key of a keyed channel (`keyed.maxKeyLength`); default 256. */
  maxKeyLength?: number;
}

/** Longest `tracestate` accepted, in characters (W3C allows 32 members of at most 256; real ones are short). */
export const MAX_TRACESTATE_LENGTH = 512;

/** A required field that is absent. */
export const REQUIRED: FieldProblem = { code: ErrorCode.BadRequest, message: 'is required' };

export function channelProblem(v: unknown, maxLength: number): FieldProblem | undefined {
  if (isValidChannel(v, maxLength)) return undefined;
  return { code: ErrorCode.InvalidChannel, message: `must be 1-${maxLength} characters of letters, digits and _-.:#@/=,` };
}

/** Longest `idempotency_key` accepted, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
/** Printable ASCII without spaces: a UUID, a ULID, a hash or `order-123:attempt` all fit. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/** `idempotency_key` of a publish (docs/api.md "Idempotent publish"). */
export function idempotencyKeyProblem(v: unknown): FieldProblem | undefined {
  if (typeof v === 'string' && IDEMPOTENCY_KEY.test(v)) return undefined;
  return { code: ErrorCode.BadRequest, message: `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters without spaces` };
}

/** Longest connection id accepted where one is named (`exclude` of an API publish), in characters. */
export const MAX_CLIENT_ID_LENGTH = 64;

/** A connection id, as `connected.client` and `GET /api/connections` give it (API `exclude`). */
export function clientIdProblem(v: unknown): FieldProblem | undefined {
  if (typeof v === 'string' && v.length >= 1 && v.length <= MAX_CLIENT_ID_LENGTH) return undefined;
  return { code: ErrorCode.BadRequest, message: `must be a connection id: a string of 1-${MAX_CLIENT_ID_LENGTH} characters` };
}

/** A flag such as `exclude_self`: true or false (null and absent mean false where the field is optional). */
export function booleanProblem(v: unknown): FieldProblem | undefined {
  return typeof v === 'boolean' ? undefined : { code: ErrorCode.BadRequest, message: 'must be a boolean' };
}

export function eventProblem(v: unknown): FieldProblem | undefined {
  return isValidEvent(v) ? undefined : { code: ErrorCode.InvalidEvent, message: `must be ${EVENT_RULE}` };
}

export function keyProblem(v: unknown, maxLength = DEFAULT_MAX_KEY_LENGTH): FieldProblem | undefined {
  return isValidKey(v, maxLength) ? undefined : { code: ErrorCode.InvalidKey, message: `must be 1-${maxLength} ${KEY_RULE}` };
}

/** `op` of a keyed publish: `upsert` or `delete`, and only beside a `key`. Checked before the key itself. */
export function opProblem(op: unknown, key: unknown): FieldProblem | undefined {
  if (op === undefined) return undefined;
  if (op !== 'upsert' && op !== 'delete') return { code: ErrorCode.BadRequest, message: 'must be "upsert" or "delete"' };
  if (key === undefined) return { code: ErrorCode.InvalidKey, message: 'needs a "key"' };
  return undefined;
}

export function traceparentProblem(v: unknown): FieldProblem | undefined {
  if (typeof v === 'string' && TRACEPARENT_PATTERN.test(v)) return undefined;
  return { code: ErrorCode.BadRequest, message: 'must be a W3C trace context such as 00-<32 hex>-<16 hex>-01' };
}

export function tracestateProblem(v: unknown): FieldProblem | undefined {
  return stringProblem(v, MAX_TRACESTATE_LENGTH);
}

export function stringProblem(v: unknown, max: number): FieldProblem | undefined {
  if (typeof v === 'string' && v.length <= max) return undefined;
  return { code: ErrorCode.BadRequest, message: `must be a string of at most ${max} characters` };
}

/** `limit` of a history read: an integer from 0 to `api.maxHistoryLimit`. */
export function historyLimitProblem(v: unknown, max: number): FieldProblem | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max) return undefined;
  return { code: ErrorCode.BadRequest, message: `must be an integer from 0 to ${max}` };
}

/** Publication data: any JSON value, but present (a keyed `delete` needs none). */
export function dataProblem(v: unknown): FieldProblem | undefined {
  return v === undefined ? { code: ErrorCode.BadRequest, message: 'is required (any JSON value)' } : undefined;
}
