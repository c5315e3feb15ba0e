/**
 * SDK errors: one class per failure, each with a stable `code` to branch on (messages may be reworded).
 * Errors the server sent keep the server's code (docs/protocol.md, "Error codes") in `ServerError`.
 */
import type { ErrorCode } from '../protocol/errors.js';

/** Base class of every error the SDK throws, rejects with or emits. */
export class SwitchboardError extends Error {
  override name = 'SwitchboardError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The server answered with `{"error": {"code", "message"}}`; `code` is one of the server's stable codes (its error
 * table, docs/protocol.md "Error codes"), or a newer server's code this SDK does not know yet.
 */
export class ServerError extends SwitchboardError {
  override name = 'ServerError';
  declare readonly code: ErrorCode | (string & {});
}

/** No reply arrived within the `timeout` option (ms). The command may or may not have taken effect. */
export class TimeoutError extends SwitchboardError {
  override name = 'TimeoutError';
  constructor(what: string, ms: number) {
    super('timeout', `${what}: no reply within ${ms} ms (option "timeout")`);
  }
}

/** The connection ended after the command was sent and before its reply: it may or may not have taken effect. */
export class ConnectionLostError extends SwitchboardError {
  override name = 'ConnectionLostError';
  constructor(what: string) {
    super('connection_lost', `${what}: the connection closed before the reply; the command may or may not have run`);
  }
}

/** The client was disconnected by the app (`disconnect()`) or for good by the server: pending work is dropped. */
export class ClientClosedError extends SwitchboardError {
  override name = 'ClientClosedError';
  constructor(what: string) {
    super('client_closed', `${what}: the client is disconnected; call connect() first`);
  }
}

/** An option has a wrong type or value; the message names the option and what it accepts. */
export class OptionError extends SwitchboardError {
  override name = 'OptionError';
  constructor(option: string, rule: string) {
    super('invalid_option', `option "${option}" ${rule}`);
  }
}

/** The `getToken` callback threw or returned something that is not a string. */
export class TokenError extends SwitchboardError {
  override name = 'TokenError';
  constructor(message: string, cause?: unknown) {
    super('token_failed', message, { cause });
  }
}

/** No WebSocket (or EventSource / fetch) implementation is available; the message says which option to pass. */
export class UnsupportedError extends SwitchboardError {
  override name = 'UnsupportedError';
  constructor(message: string) {
    super('unsupported', message);
  }
}

/**
 * The error of a refused HTTP request (an SSE stream, or a WebSocket upgrade in Node): the server's `{"error":
 * {"code","message"}}` body as a ServerError, else (a proxy's page) just the status.
 */
export function httpRefusal(status: number, body: string): SwitchboardError {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
    if (parsed.error?.code) return new ServerError(parsed.error.code, `HTTP ${status}: ${parsed.error.message ?? ''}`);
  } catch {
    // Not a Switchboard error body: reported by status.
  }
  return new SwitchboardError('http_error', `HTTP ${status}`);
}
