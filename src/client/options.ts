/** Client options: defaults and validation in one place. A bad option throws OptionError naming it. */
import { OptionError } from './errors.js';
import type { ClientTracing } from './tracing.js';
import type { TraceContext } from './types.js';
import type { WebSocketConstructor } from './websocket-impl.js';

/** Where tokens come from: a fixed string, or a callback called on connect and before expiry. */
export interface TokenOptions {
  /** A connection token (JWT). Sent as `?token=` (WebSocket) or `Authorization: Bearer` (SSE fetch reader). */
  token?: string;
  /**
   * Fetches a fresh token: called before the first connect, before the current token expires (refresh), and after
   * the server closes with 4005 or refuses an attempt. Return `''` when the user has no token: the client stops.
   */
  getToken?: () => string | Promise<string>;
}

/** Options shared by both clients (ms unless said otherwise). */
export interface CommonOptions extends TokenOptions {
  /** Server URL: `ws(s)://host/ws` for the WebSocket client, `http(s)://host/events` for SSE. */
  url: string;
  /** Extra query parameters for every connection (e.g. `{ user: 'alice' }` in development mode). */
  params?: Record<string, string>;
  /** Reconnect backoff: first retry waits [min, 2·min], each later ceiling doubles, up to max. Default 500. */
  minReconnectDelay?: number;
  /** Default 20 000. */
  maxReconnectDelay?: number;
  /** Time limit for connecting, for command replies and for `getToken`. Default 10 000. */
  timeout?: number;
  /** Client-side spans (connect, send, receive, close): `otelTracing(otel)` from `switchboard/client/otel`. Default: none. */
  tracing?: ClientTracing;
}

export interface ClientOptions extends CommonOptions {
  /** WebSocket constructor; default: the global one, else the `ws` package (Node 20). */
  WebSocket?: WebSocketConstructor;
  /** After this long without any frame from the server the client sends a `ping`. 0 turns liveness checks off. Default 25 000. */
  pingInterval?: number;
  /** ...and if still nothing arrives within this long, the connection is dead and replaced. Default 10 000. */
  pingTimeout?: number;
  /** Refresh the token this long before it expires (at half its remaining life when that is shorter). Default 30 000. */
  refreshBefore?: number;
  /** Trace context to attach to publishes (see `switchboard/client/otel`). Called once per publish. */
  traceContext?: () => TraceContext | undefined;
}

export type ResolvedClientOptions = Required<Omit<ClientOptions, 'token' | 'getToken' | 'WebSocket' | 'traceContext' | 'tracing' | 'params'>> &
  Pick<ClientOptions, 'token' | 'getToken' | 'WebSocket' | 'traceContext' | 'tracing'> & { params: Record<string, string> };

export function checkMs(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new OptionError(name, 'must be a number of milliseconds >= 0');
  return v;
}

export function checkCommon(o: CommonOptions, schemes: readonly string[]): Required<Omit<CommonOptions, 'token' | 'getToken' | 'tracing'>> {
  if (typeof o !== 'object' || o === null) throw new OptionError('options', 'must be an object with at least "url"');
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new OptionError('url', `must be an absolute URL (${schemes.join(', ')}), got ${JSON.stringify(o.url)}`);
  }
  if (!schemes.includes(url.protocol.slice(0, -1))) throw new OptionError('url', `must use ${schemes.join(' or ')}, got ${url.protocol}`);
  if (o.token !== undefined && typeof o.token !== 'string') throw new OptionError('token', 'must be a string');
  if (o.getToken !== undefined && typeof o.getToken !== 'function') throw new OptionError('getToken', 'must be a function returning a token');
  if (o.tracing !== undefined && typeof o.tracing?.connection !== 'function') throw new OptionError('tracing', 'must be otelTracing(otel) from switchboard/client/otel');
  const minReconnectDelay = checkMs('minReconnectDelay', o.minReconnectDelay, 500);
  const maxReconnectDelay = checkMs('maxReconnectDelay', o.maxReconnectDelay, 20_000);
  if (maxReconnectDelay < minReconnectDelay) throw new OptionError('maxReconnectDelay', 'must be >= minReconnectDelay');
  const timeout = checkMs('timeout', o.timeout, 10_000);
  if (timeout === 0) throw new OptionError('timeout', 'must be > 0');
  return { url: o.url, params: { ...o.params }, minReconnectDelay, maxReconnectDelay, timeout };
}

export function resolveClientOptions(o: ClientOptions): ResolvedClientOptions {
  const common = checkCommon(o, ['ws', 'wss', 'http', 'https']);
  if (o.WebSocket !== undefined && typeof o.WebSocket !== 'function') throw new OptionError('WebSocket', 'must be a WebSocket constructor');
  if (o.traceContext !== undefined && typeof o.traceContext !== 'function') throw new OptionError('traceContext', 'must be a function');
  return {
    ...common,
    token: o.token,
    getToken: o.getToken,
    WebSocket: o.WebSocket,
    traceContext: o.traceContext,
    tracing: o.tracing,
    pingInterval: checkMs('pingInterval', o.pingInterval, 25_000),
    pingTimeout: checkMs('pingTimeout', o.pingTimeout, 10_000),
    refreshBefore: checkMs('refreshBefore', o.refreshBefore, 30_000),
  };
}

/** Adds query parameters (and the token) to a URL; `http(s)` becomes `ws(s)` when `ws` is set. */
export function buildUrl(base: string, params: Record<string, string>, extra: [string, string][] = [], ws = false): string {
  const url = new URL(base);
  if (ws && url.protocol.startsWith('http')) url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  for (const [k, v] of extra) url.searchParams.append(k, v);
  return url.toString();
}
