/**
 * The shape of every proxy's answer (docs/proxy.md): `{"result": {...}}` or `{"error": {"code", "message"}}`, with
 * an optional `cache_ttl` (seconds) saying how long Switchboard may reuse it. Anything else is `backend_invalid`.
 */
import { ErrorCode, ReplyError } from '../../protocol/index.js';

/** A result or a refusal; `size` is the answer's length in characters (what a cached copy costs). */
export type ProxyAnswer =
  | { readonly ok: true; readonly result: Readonly<Record<string, unknown>>; readonly cacheTtlMs: number; readonly size: number }
  | { readonly ok: false; readonly error: ReplyError; readonly cacheTtlMs: number; readonly size: number };

/** Codes a backend may refuse with; any other (or none) becomes `permission_denied`. */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  ErrorCode.PermissionDenied,
  ErrorCode.Unauthorized,
  ErrorCode.TokenExpired,
  ErrorCode.BadRequest,
  ErrorCode.NotFound,
  ErrorCode.LimitExceeded,
  ErrorCode.TooManyRequests,
  ErrorCode.Unavailable,
]);
/** Longest refusal message passed on to the client, in characters. */
const MAX_MESSAGE = 512;
/** Longest `cache_ttl` honoured, seconds (1 day): a typo cannot pin an answer for ever. */
const MAX_CACHE_TTL_S = 86_400;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(why: string): ReplyError {
  return new ReplyError(ErrorCode.BackendInvalid, `the proxy's answer ${why}`);
}

/** Parses an answer's text; throws `backend_invalid` for anything not of the documented shape. */
export function parseAnswer(text: string): ProxyAnswer {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalid('is not valid JSON');
  }
  if (!isObject(v)) throw invalid('must be a JSON object');
  const ttl = v.cache_ttl ?? 0;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) throw invalid('has a "cache_ttl" that is not a number of seconds >= 0');
  const cacheTtlMs = Math.round(Math.min(ttl, MAX_CACHE_TTL_S) * 1000);
  if (v.error !== undefined) {
    if (!isObject(v.error)) throw invalid('has an "error" that is not an object');
    const { code, message } = v.error;
    const c = typeof code === 'string' && REFUSAL_CODES.has(code) ? (code as ErrorCode) : ErrorCode.PermissionDenied;
    const m = typeof message === 'string' && message !== '' ? message.slice(0, MAX_MESSAGE) : 'refused by the application backend';
    return { ok: false, error: new ReplyError(c, m), cacheTtlMs, size: text.length };
  }
  if (v.result === undefined) return { ok: true, result: {}, cacheTtlMs, size: text.length };
  if (!isObject(v.result)) throw invalid('has a "result" that is not an object');
  return { ok: true, result: v.result, cacheTtlMs, size: text.length };
}
