/**
 * Why the server ended a connection. WebSocket close codes carry `code` and `reason`; SSE streams get a
 * `disconnect` event with the same fields before they end. The code range decides whether a client should
 * reconnect (`reconnects`, docs/protocol.md "Disconnects and close codes").
 */
import { reconnects } from './reconnect.js';

export interface Disconnect {
  readonly code: number;
  readonly reason: string;
  readonly reconnect: boolean;
}

function disconnect(code: number, reason: string): Disconnect {
  return Object.freeze({ code, reason, reconnect: reconnects(code) });
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
