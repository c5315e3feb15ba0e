/**
 * Switchboard client SDK (`switchboard/client`): a WebSocket client and a receive-only SSE client for browsers and
 * Node ≥ 20. No runtime dependencies; in Node 20 the WebSocket client loads the `ws` package when it needs it.
 * OpenTelemetry (trace context on publishes, client spans) lives in `switchboard/client/otel`. Guide: docs/client.md.
 */
export { createClient, type Client } from './client.js';
export { createSseClient, type SseClient, type SseClientOptions, type SseSubscriptionOptions } from './sse-client.js';
export type { ClientOptions, CommonOptions, TokenOptions } from './options.js';
export type { Subscription, ReceiveSubscription, SubscriptionOptions } from './subscription.js';
export type { KeyedSubscription, KeyedReceiveSubscription, KeyedState } from './keyed.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket-impl.js';
export type { EventSourceConstructor, EventSourceLike, FetchLike } from './sse-stream.js';
export type { ClientTracing, ConnectionTracing, TracedTransport } from './tracing.js';
export type * from './types.js';
export { ClientCodes } from './codes.js';
export { backoffDelay, backoffCeiling, type BackoffBounds } from './backoff.js';
export {
  SwitchboardError, ServerError, TimeoutError, ConnectionLostError, ClientClosedError, OptionError, TokenError, UnsupportedError,
} from './errors.js';
