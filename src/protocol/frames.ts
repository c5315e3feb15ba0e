import type { StreamPosition } from './position.js';

/**
 * One publication in a channel's stream, as the server holds it: stored by brokers, returned by `Switchboard.publish`
 * and `history`, encoded for clients. Its `data` is JSON text and `time` milliseconds; the client SDK's
 * `Publication<T>` (switchboard/client) is what a client receives: `data` parsed and `timestamp` in ISO 8601.
 */
export interface ServerPublication {
  readonly channel: string;
  /** Event name; `message` unless the publisher chose one. Delivered as `type` (seed field) and SSE `event:`. */
  readonly event: string;
  /** The data as JSON text, serialized once when published and never re-serialized. */
  readonly data: string;
  readonly epoch: string;
  readonly offset: number;
  /** Milliseconds since the Unix epoch, set by the broker when the publication was accepted. */
  readonly time: number;
  readonly meta?: PublicationMeta;
  /** Keyed channels only: the key this publication sets or deletes (docs/keyed-channels.md). */
  readonly key?: string;
  /** Keyed channels only: `upsert` (the key's value becomes `data`) or `delete` (the key goes; `data` is null). */
  readonly op?: KeyOp;
}

/** The delta encodings a subscription may ask for (subscribe `delta`). */
export type DeltaFormat = 'fossil';

/** What a publication does to its key in a keyed channel. Both are idempotent: applying one twice changes nothing. */
export type KeyOp = 'upsert' | 'delete';

export interface PublicationMeta {
  /** W3C trace context of the publisher, delivered to clients so they can continue the trace. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /**
   * A connection id not to deliver to (exclude the publisher: Pusher's `socket_id`, a client's own publish). The
   * publication is still in the stream and in history; only that one connection skips it.
   */
  readonly exclude?: string;
}

/** `meta` plus a connection to exclude (when one is named): the meta of a publish that skips that connection. */
export function withExclude(meta: PublicationMeta | undefined, exclude: string | undefined): PublicationMeta | undefined {
  return exclude === undefined ? meta : { ...meta, exclude };
}

/**
 * One connection as an operator sees it (the admin console, `GET /api/connections`), and as one node describes it
 * to another in a `connections-reply` control message.
 */
export interface ConnectionSnapshot {
  readonly client: string;
  readonly user: string;
  readonly transport: string;
  /** The client's address (through trusted proxies). */
  readonly ip: string;
  /** When the connection was set up (Unix ms). */
  readonly since: number;
  readonly channels: readonly string[];
}

/** A channel member in presence and in join/leave pushes. */
export interface Member {
  readonly user: string;
  readonly client: string;
  readonly info?: unknown;
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The JSON of a publication push. The same text is the WebSocket frame payload and the SSE `data:` line, built once
 * per publication whatever the number of recipients.
 * `{"push":"publication","channel","type","payload"[,"delta"],"epoch","offset","timestamp"[,"traceparent","trace_id","span_id"]}`
 * With `delta` (delta compression, docs/protocol.md): `payload` is that JSON string, a fossil delta against the
 * previous publication of the subscription, and `"delta":true` says so.
 */
export function publicationJson(p: ServerPublication, delta?: string): string {
  let s =
    '{"push":"publication","channel":' + JSON.stringify(p.channel) +
    ',"type":' + JSON.stringify(p.event) +
    (delta === undefined ? ',"payload":' + p.data : ',"payload":' + delta + ',"delta":true') +
    ',"epoch":"' + p.epoch + '","offset":' + p.offset +
    ',"timestamp":"' + isoTime(p.time) + '"';
  if (p.key !== undefined) s += ',"key":' + JSON.stringify(p.key) + ',"op":"' + (p.op ?? 'upsert') + '"';
  const m = p.meta;
  if (m?.traceparent !== undefined) s += traceFields(m.traceparent, m.tracestate);
  return s + '}';
}

/** `traceparent` plus the seed's `trace_id` / `span_id`, so clients of either kind can continue the trace. */
function traceFields(traceparent: string, tracestate: string | undefined): string {
  let s = ',"traceparent":' + JSON.stringify(traceparent);
  if (tracestate) s += ',"tracestate":' + JSON.stringify(tracestate);
  const parts = traceparent.split('-');
  // Escaped: traceparent is client input (any string up to 128 characters), not necessarily hex.
  if (parts.length === 4) s += ',"trace_id":' + JSON.stringify(parts[1]) + ',"span_id":' + JSON.stringify(parts[2]);
  return s;
}

/** A message sent to one user's connections (not part of any channel stream, so no position). */
export interface ServerDirectMessage {
  /** The sending user, when a client sent it (`send`, seed 002 `send_to_user`); absent when the server API did. */
  readonly from?: string;
  readonly event: string;
  readonly data: string;
  readonly time: number;
  readonly meta?: PublicationMeta;
}

export function directMessageJson(m: ServerDirectMessage): string {
  let s = '{"push":"message","type":' + JSON.stringify(m.event) + ',"payload":' + m.data + ',"timestamp":"' + isoTime(m.time) + '"';
  if (m.from !== undefined) s += ',"from":' + JSON.stringify(m.from);
  if (m.meta?.traceparent !== undefined) s += traceFields(m.meta.traceparent, m.meta.tracestate);
  return s + '}';
}

export function memberEventJson(kind: 'join' | 'leave', channel: string, member: Member): string {
  return JSON.stringify({ push: kind, channel, type: kind, payload: member, user: member.user, client: member.client });
}

/**
 * The end of a subscription's catch-up (reply, then replayed or snapshot publications, then this): the client is
 * at `offset` (the last publication it was sent, or the top of the snapshot it was sent, whichever is higher) and
 * the next publication of the channel is exactly `offset + 1`. Sent once per subscribe, on SSE as event `caught_up`.
 */
export function caughtUpJson(channel: string, epoch: string, offset: number): string {
  return '{"push":"caught_up","channel":' + JSON.stringify(channel) + ',"epoch":"' + epoch + '","offset":' + offset + '}';
}

/**
 * Stands in for a publication the connection was excluded from (`exclude_self`, API `exclude`): the channel's stream
 * moved to `offset` without anything for this client, so its next publication (`offset + 1`) is no gap. Sent only
 * to clients that track positions (native WebSocket and SSE); on SSE as event `skip` with the position as `id:`.
 * One connection per publication is excluded, so it is built at most once per publication per node.
 */
export function skipJson(p: ServerPublication): string {
  return '{"push":"skip","channel":' + JSON.stringify(p.channel) + ',"epoch":"' + p.epoch + '","offset":' + p.offset + '}';
}

/**
 * The server ended one subscription (the connection stays): `code` says why, with the codes of error replies —
 * `token_expired` (its subscription token expired) or `permission_denied` (a refreshed token no longer grants it).
 */
export function unsubscribedJson(channel: string, code: string, message: string): string {
  return JSON.stringify({ push: 'unsubscribed', channel, code, message });
}

export interface ConnectedInfo {
  client: string;
  user: string;
  version: string;
  /** Protocol version (docs/protocol.md). */
  protocol: number;
  /** Server ping interval in seconds (0: none), so a client can detect a dead connection. */
  ping: number;
  /** When the connection token expires (Unix seconds); refresh before then. */
  expires?: number;
}

export function connectedJson(info: ConnectedInfo): string {
  return JSON.stringify({ push: 'connected', ...info });
}

/** What the subscribe reply and the SSE `connected` event say about each channel. */
export interface SubscribeResult {
  channel: string;
  /** The newest position of the channel when the subscription went live. */
  epoch: string;
  offset: number;
  /** True when the client asked to resume and every missed publication follows (or none was missed). */
  recovered: boolean;
  /** When resuming failed: why (`epoch_changed`, `too_old`, `future_position`). */
  reason?: string;
  /** How many missed publications are replayed right after the reply (0 when a snapshot follows). */
  missed: number;
  /**
   * Keyed channels only, when a snapshot follows instead of a replay: `delta` (keep your state; every key changed
   * after `since` follows, tombstones included) or `full` (drop your state first; every current key follows).
   */
  snapshot?: 'delta' | 'full';
  /** `fossil` when the subscription asked for delta compression and gets it (not for keyed channels). */
  delta?: DeltaFormat;
  /**
   * When a subscription token allowed it: the token's expiry (Unix seconds). The subscription ends then (an
   * `unsubscribed` push with `token_expired`) unless a fresh token is sent with `refresh` and `channel`.
   */
  expires?: number;
  /** The subscribe proxy's `data` for the client (docs/proxy.md), when the backend gave one. */
  data?: unknown;
}

export type { StreamPosition };
