/**
 * Stable error codes sent in command replies (`{"id", "error": {"code", "message"}}`) and in HTTP API errors
 * (`{"error": {"code", "message"}}`). Codes never change meaning; messages may be reworded.
 */
export const ErrorCode = {
  /** The frame is not valid JSON or not a JSON object. */
  InvalidJson: 'invalid_json',
  /** The frame parsed but a field is missing or has the wrong type or value. */
  BadRequest: 'bad_request',
  /** The `method` (or seed `type` / `action`) is not one we know. */
  UnknownMethod: 'unknown_method',
  /** The frame or payload is larger than the configured limit. */
  MessageTooLarge: 'message_too_large',
  /** Binary frames are not accepted by this server. */
  BinaryNotAllowed: 'binary_not_allowed',
  /** The channel name is empty, too long or has characters outside the allowed set. */
  InvalidChannel: 'invalid_channel',
  /** The event name is empty, too long or has characters outside the allowed set. */
  InvalidEvent: 'invalid_event',
  /** A keyed channel's key is missing, empty or too long, or a key was given for a channel that is not keyed. */
  InvalidKey: 'invalid_key',
  /** The connection is already subscribed to this channel. */
  AlreadySubscribed: 'already_subscribed',
  /** The connection is not subscribed to this channel. */
  NotSubscribed: 'not_subscribed',
  /** A configured limit (subscriptions per connection, ...) was reached. */
  LimitExceeded: 'limit_exceeded',
  /** The caller may not do this. */
  PermissionDenied: 'permission_denied',
  /** Authentication is required or failed. */
  Unauthorized: 'unauthorized',
  /** The requested resource does not exist (HTTP API). */
  NotFound: 'not_found',
  /** The feature is turned off in this server's configuration (e.g. presence). */
  FeatureDisabled: 'feature_disabled',
  /** The channel's prefix names a namespace the server does not declare. */
  UnknownNamespace: 'unknown_namespace',
  /** Too many commands too fast (limits.commandRate). */
  TooManyRequests: 'too_many_requests',
  /** The token has expired (connection or refresh). */
  TokenExpired: 'token_expired',
  /** The server is starting or draining, or its broker is unavailable. */
  Unavailable: 'unavailable',
  /**
   * The broker got the request but did not answer within its deadline (`redis.commandTimeout`), or the connection
   * was lost before the reply: a write may or may not have taken effect. Check (e.g. read history) before retrying.
   */
  OutcomeUnknown: 'outcome_unknown',
  /**
   * The application's backend (a proxy, docs/proxy.md) could not be reached, answered with an HTTP status other than
   * 200, or too many proxy calls were in flight (`proxy.maxConcurrency`): nothing was decided; retry later.
   */
  BackendUnavailable: 'backend_unavailable',
  /** The backend did not answer within `proxy.timeout`. An `rpc` may or may not have run there. */
  BackendTimeout: 'backend_timeout',
  /** The backend's answer was not JSON of the documented shape, or was over `proxy.maxResponseSize`. */
  BackendInvalid: 'backend_invalid',
  /** A bug or an unexpected failure on the server. */
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

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

/**
 * Why the server ended a connection. WebSocket close codes carry `code` and `reason`; SSE streams get a
 * `disconnect` event with the same fields before they end. The code range decides whether a client should
 * reconnect: 1000-1999 and 4000-4499 reconnect (with backoff), 4500-4999 do not.
 */
export interface Disconnect {
  readonly code: number;
  readonly reason: string;
  readonly reconnect: boolean;
}

function disconnect(code: number, reason: string): Disconnect {
  return Object.freeze({ code, reason, reconnect: code < 4500 });
}

export const Disconnects = {
  /** The client closed the connection, or the server ended it normally. */
  Normal: disconnect(1000, 'normal'),
  /** The server is shutting down; reconnect (to another node). */
  Shutdown: disconnect(1001, 'shutdown'),
  /** The outbound queue filled because the client read too slowly; reconnect and resume from the last position. */
  Slow: disconnect(4001, 'slow'),
  /** No pong arrived within the pong timeout. */
  Stale: disconnect(4002, 'stale'),
  /** Writing to the socket failed or timed out. */
  WriteError: disconnect(4003, 'write error'),
  /** The server was unable to keep the subscription consistent (e.g. a gap in the live stream); resume. */
  InsufficientState: disconnect(4004, 'insufficient state'),
  /** The connection's token expired; reconnect with a fresh token. */
  TokenExpired: disconnect(4005, 'token expired'),
  /** The connection kept sending commands over its rate limit after being refused; reconnect later. */
  RateLimited: disconnect(4006, 'rate limited'),
  /** The client sent frames the protocol does not allow (binary, too large, or too many bad frames). */
  BadProtocol: disconnect(4500, 'bad protocol'),
  /** Authentication failed. */
  Unauthorized: disconnect(4501, 'unauthorized'),
  /** The server API disconnected this user. */
  ForceDisconnect: disconnect(4502, 'disconnected by server'),
  /** A connection limit was reached. */
  ConnectionLimit: disconnect(4503, 'connection limit'),
} as const;
