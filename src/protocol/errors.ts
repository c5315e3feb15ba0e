/**
 * Stable error codes sent in command replies (`{"id", "error": {"code", "message"}}`) and in HTTP errors
 * (`{"error": {"code", "message"}}`). Codes never change meaning; messages may be reworded.
 *
 * `ERRORS` is the one table of them: the server API takes its HTTP statuses from it, spans their `error.type`, and
 * the SDK types the codes it acts on against it. docs/protocol.md ("Error codes") shows the same rows, and
 * test/unit/error-codes.test.ts holds the two to each other both ways.
 */

/** Where a failure came from, recorded as `error.type` on spans and in logs (docs/operations.md, "Errors"). */
export type ErrorClass = 'protocol' | 'auth' | 'business' | 'connection';

export interface ErrorInfo {
  /** The code on the wire. */
  readonly code: string;
  /**
   * The HTTP status an HTTP answer with this code carries (server API, refused upgrade or SSE request), where the
   * docs name no other; absent for codes never sent over HTTP (WebSocket replies, SSE event fields).
   */
  readonly status?: number;
  readonly class: ErrorClass;
  /** What the code means, word for word the "Meaning" column of docs/protocol.md. */
  readonly doc: string;
}

export const ERRORS = {
  InvalidJson: { code: 'invalid_json', status: 400, class: 'protocol', doc: 'the frame or body is not valid JSON, or (WebSocket) is not a JSON object' },
  BadRequest: { code: 'bad_request', status: 400, class: 'protocol', doc: 'a field is missing or has the wrong type or value' },
  UnknownMethod: { code: 'unknown_method', class: 'protocol', doc: 'the `method` (or seed `type` / `action`) is not known' },
  MessageTooLarge: { code: 'message_too_large', status: 413, class: 'protocol', doc: 'the frame or body is larger than the limit' },
  BinaryNotAllowed: { code: 'binary_not_allowed', class: 'protocol', doc: 'binary frames are refused' },
  InvalidChannel: {
    code: 'invalid_channel', status: 400, class: 'protocol',
    doc: 'the channel name is empty, too long, not a string, or has characters outside the allowed set',
  },
  InvalidKey: {
    code: 'invalid_key', status: 400, class: 'protocol',
    doc: "a keyed channel's key is missing, malformed or too long, or a key was given for a channel that is not keyed, or `op` without `key`",
  },
  InvalidEvent: {
    code: 'invalid_event', status: 400, class: 'protocol',
    doc: 'the event name is empty, longer than 64 characters, not a string, has characters outside the allowed set, or is reserved (`connected`, `disconnect`, `stream_error`, `ping`, `join`, `leave`, `caught_up`, `skip`)',
  },
  AlreadySubscribed: { code: 'already_subscribed', class: 'business', doc: 'the connection is already subscribed to the channel' },
  NotSubscribed: { code: 'not_subscribed', class: 'business', doc: 'the connection is not subscribed to the channel' },
  LimitExceeded: { code: 'limit_exceeded', status: 429, class: 'business', doc: 'a configured limit was reached' },
  PermissionDenied: { code: 'permission_denied', status: 403, class: 'auth', doc: 'the caller may not do this' },
  UnknownNamespace: { code: 'unknown_namespace', status: 400, class: 'business', doc: "the channel's prefix is not a declared namespace" },
  TooManyRequests: { code: 'too_many_requests', class: 'business', doc: 'more commands per second than `limits.commandRate`' },
  TokenExpired: { code: 'token_expired', status: 401, class: 'auth', doc: 'the token has expired' },
  Unauthorized: { code: 'unauthorized', status: 401, class: 'auth', doc: 'authentication is required or failed' },
  ForbiddenOrigin: { code: 'forbidden_origin', status: 403, class: 'auth', doc: "the request's browser `Origin` is not allowed here" },
  NotFound: { code: 'not_found', status: 404, class: 'business', doc: 'no such resource' },
  MethodNotAllowed: { code: 'method_not_allowed', status: 405, class: 'protocol', doc: 'the HTTP method is not allowed on this path' },
  FeatureDisabled: { code: 'feature_disabled', status: 404, class: 'business', doc: 'the feature is turned off in the configuration' },
  Unavailable: {
    code: 'unavailable', status: 503, class: 'connection',
    doc: 'the server is starting or draining, or its broker is unavailable; the command was not done (or was a read): retry later',
  },
  OutcomeUnknown: {
    code: 'outcome_unknown', status: 504, class: 'connection',
    doc: 'a write was sent to the broker but no answer came within its deadline (`redis.commandTimeout`, default 5 s), or the broker connection was lost before the answer: it may or may not have taken effect (a publication may have been stored and delivered). Check, e.g. with `history`, before repeating it',
  },
  BackendUnavailable: {
    code: 'backend_unavailable', status: 503, class: 'connection',
    doc: "the application's backend (proxy.md) cannot be reached, answered an HTTP status other than 200, or too many proxy calls are in flight (`proxy.maxConcurrency`): nothing was decided, retry later",
  },
  BackendTimeout: {
    code: 'backend_timeout', status: 504, class: 'connection',
    doc: 'the backend did not answer within `proxy.timeout` (default 5 s). An `rpc` may or may not have run',
  },
  BackendInvalid: {
    code: 'backend_invalid', status: 502, class: 'connection',
    doc: "the backend's answer was not JSON of the documented shape, or larger than `proxy.maxResponseSize`",
  },
  Internal: { code: 'internal', status: 500, class: 'connection', doc: 'a bug or an unexpected failure' },
  BadLastEventId: {
    code: 'bad_last_event_id', class: 'protocol',
    doc: 'the `Last-Event-ID` / `lastEventId` could not be used; the stream starts from now',
  },
} as const satisfies Record<string, ErrorInfo>;

type Errors = typeof ERRORS;
export type ErrorCode = Errors[keyof Errors]['code'];

/** The codes by name (`ErrorCode.BadRequest` is `'bad_request'`), derived from the table. */
export const ErrorCode = Object.fromEntries(Object.entries(ERRORS).map(([name, e]) => [name, e.code])) as {
  readonly [K in keyof Errors]: Errors[K]['code'];
};

const BY_CODE: ReadonlyMap<string, ErrorInfo> = new Map(Object.values(ERRORS).map((e: ErrorInfo) => [e.code, e]));

/** The table row of a code, or undefined for a code this server does not define. */
export function errorInfo(code: string): ErrorInfo | undefined {
  return BY_CODE.get(code);
}

/** The HTTP status for a code, or `fallback` when the table gives none. */
export function httpStatusOf(code: string, fallback: number): number {
  return BY_CODE.get(code)?.status ?? fallback;
}

/** The class (`error.type`) of a code; a code outside the table counts as `business`. */
export function errorClassOf(code: string): ErrorClass {
  return BY_CODE.get(code)?.class ?? 'business';
}

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
}

/** An error to send back to the caller as data. */
export class ReplyError extends Error {
  override readonly name = 'ReplyError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
  toJSON(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

/** `unknown_namespace` for a channel whose prefix no namespace declares, as the node, the API and the console word it. */
export function unknownNamespace(channel: string): ReplyError {
  return new ReplyError(ErrorCode.UnknownNamespace, `channel "${channel}" is in a namespace this server does not declare (namespaces)`);
}
