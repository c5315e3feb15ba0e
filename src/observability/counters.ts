/**
 * Plain integer counters bumped on the hot path; the metrics exporter reads them on collection (observable
 * instruments), so counting costs an increment and never allocates. Labeled counters are maps keyed by the label
 * values joined with `|` (few distinct keys: transports, close codes, routes).
 */
export class Counters {
  /** Connections accepted, by transport (`websocket`, `sse`). */
  readonly connects = new Map<string, number>();
  /** Connections ended, by `transport|code` (close code, e.g. `websocket|1000`, `sse|4001`). */
  readonly disconnects = new Map<string, number>();
  /**
   * Messages (WebSocket frames, SSE events) and bytes written to clients, by transport: one object per transport,
   * shared by all its connections' outbound queues (sendTally), which add to it on every flush. A map update per
   * flush (two hash lookups and a store, through a tally object of each connection's own) was measurable in the
   * flush at moderate load (issue #15).
   */
  readonly sent = new Map<string, { messages: number; bytes: number }>();
  /** Frames received from WebSocket clients and their bytes. */
  messagesReceived = 0;
  bytesReceived = 0;
  /** Client commands handled, by `method|outcome` (outcome: ok or an error code). */
  readonly commands = new Map<string, number>();
  /** Publications accepted by this node (API, clients, library). */
  publications = 0;
  /** Idempotent publishes answered with an earlier position (a retry within the window: nothing published). */
  publishReplays = 0;
  /** Publication deliveries to local subscribers (fan-out), and messages dropped because a queue was full. */
  deliveries = 0;
  drops = 0;
  /** Connections ended as slow consumers. */
  slowDisconnects = 0;
  /** Subscribe-with-resume outcomes: recovered, or failed by reason (`epoch_changed`, `too_old`, ...). */
  recoveriesSucceeded = 0;
  readonly recoveriesFailed = new Map<string, number>();
  /** Broker operations that failed, by operation. */
  readonly brokerErrors = new Map<string, number>();
  /** Limit hits, by limit (`connections_per_ip`, `command_rate`, `subscriptions`, ...). */
  readonly limitsHit = new Map<string, number>();
  /** Calls to the application's backend (docs/proxy.md), by `kind|outcome` (`connect|ok`, `publish|refused`, `rpc|backend_timeout`, ...). */
  readonly proxyCalls = new Map<string, number>();
  /** Server API requests, by `method route|status`. */
  readonly apiRequests = new Map<string, number>();
  /** Webhooks: events queued by this node, and dropped because a queue was full (webhooks.maxQueue). */
  webhookEvents = 0;
  webhookDropped = 0;
  /** Webhooks: events delivered (counted once per URL), requests that failed, and requests that were retries. */
  webhookDelivered = 0;
  webhookFailures = 0;
  webhookRetries = 0;
  /** Webhooks: events waiting, last known (a gauge; Redis: the shared stream, plus what this node has not written yet). */
  webhookQueueDepth = 0;
}

/** The shared messages/bytes tally of `transport` (made on first use). */
export function sendTally(c: Counters, transport: string): { messages: number; bytes: number } {
  let t = c.sent.get(transport);
  if (t === undefined) c.sent.set(transport, (t = { messages: 0, bytes: 0 }));
  return t;
}

export function inc(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
