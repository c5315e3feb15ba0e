import { reconnects } from '../protocol/reconnect.js';
import type { ErrorCode } from '../protocol/errors.js';

/**
 * Disconnect codes. The server's codes (docs/protocol.md, "Disconnects and close codes") decide by range:
 * 1000-1999 and 4000-4499 reconnect, 4500-4999 do not. The SDK adds its own codes in 3000-3099 for ends it decides.
 */
export const ClientCodes = {
  /** `disconnect()` was called. No reconnect. */
  DisconnectCalled: 3000,
  /** Nothing arrived for `pingInterval` and then `pingTimeout` ms after a ping: the connection is dead. Reconnects. */
  PingTimeout: 3001,
  /** The server did not say `connected` within `timeout` ms of the attempt. Reconnects. */
  ConnectTimeout: 3002,
  /** `getToken` returned an empty string: the app has no token for this user. No reconnect. */
  NoToken: 3003,
  /** A subscribe got no reply within `timeout` ms: the SDK starts over on a fresh connection. Reconnects. */
  SubscribeTimeout: 3005,
  /** Refreshing the token was refused (expired or invalid): reconnect with a fresh token. Reconnects. */
  RefreshFailed: 3006,
  /** The channel set of an SSE stream changed: the stream is reopened with the new channels. Reconnects. */
  ChannelsChanged: 3007,
  /** SSE: no bytes (not even a heartbeat) for `heartbeatTimeout` ms. Reconnects. */
  HeartbeatTimeout: 3008,
  /**
   * The server refused with an HTTP error status: an SSE stream, or a WebSocket upgrade in Node (browsers only see
   * 1006 there). Reconnects unless 4xx other than 408/429 (401: only when the token is a function).
   */
  HttpError: 3009,
  /** SSE: a gap or epoch change in the live stream: the stream is reopened from the last positions. Reconnects. */
  Resync: 3010,
} as const;

/** The server's rule (src/protocol/reconnect.ts): 4500-4999 mean "do not reconnect"; everything else reconnects. */
export const serverSaysReconnect: (code: number) => boolean = reconnects;

/**
 * The server's error codes the SDK acts on, checked against the server's error table at compile time (type-only
 * import: the table's doc lines stay out of the browser bundle).
 */
export const ServerCodes = {
  TokenExpired: 'token_expired',
  AlreadySubscribed: 'already_subscribed',
} as const satisfies Record<string, ErrorCode>;
