/**
 * The receive-only SSE client, with the WebSocket client's subscription API. One stream carries every subscribed
 * channel (`?channel=a&channel=b`); adding or removing a subscription reopens it. The client keeps each channel's
 * position itself and resumes with `Last-Event-ID` (fetch reader) or `lastEventId=` (EventSource), so both readers
 * resume, deduplicate and detect gaps exactly like the WebSocket client.
 */
import { formatStreamToken, type StreamPosition } from '../protocol/position.js';
import type { SubscribeResult } from '../protocol/frames.js';
import { backoffDelay } from './backoff.js';
import { ClientCodes, serverSaysReconnect } from './codes.js';
import { Emitter } from './emitter.js';
import { ClientClosedError, OptionError, ServerError, SwitchboardError, TimeoutError, UnsupportedError } from './errors.js';
import { buildUrl, checkCommon, checkMs, type CommonOptions } from './options.js';
import { isPublicationPush, toDirectMessage } from './publication.js';
import { openEventSource, openFetchStream, type EventSourceConstructor, type FetchLike, type SseStream } from './sse-stream.js';
import { subscriptionFor, type KeyedReceiveSubscription } from './keyed.js';
import type { SubscriptionImpl, ReceiveSubscription, SubscriptionHost, SubscriptionOptions } from './subscription.js';
import { TokenSource } from './token.js';
import type { ConnectionTracing } from './tracing.js';
import type { ClientEvents, ClientState, ConnectedContext } from './types.js';

export interface SseClientOptions extends CommonOptions {
  /**
   * `fetch` reads the stream with fetch (any headers; Node and browsers). `eventsource` uses a native EventSource
   * (token in the query; needs `events`). `auto` (default): `eventsource` when an EventSource exists, `events` is
   * given and `headers` is not; otherwise `fetch`.
   */
  transport?: 'auto' | 'fetch' | 'eventsource';
  /** fetch implementation (default: the global one). */
  fetch?: FetchLike;
  /** EventSource constructor (default: the global one). */
  EventSource?: EventSourceConstructor;
  /** Extra request headers (fetch reader only). */
  headers?: Record<string, string>;
  /** Event names your publications use. EventSource delivers only names it listens to: list them all. */
  events?: string[];
  /** Reconnect when no bytes arrive for this long (ms). Default 45 000 with fetch (3 server heartbeats); 0 (off) with EventSource, which cannot see heartbeat comments. */
  heartbeatTimeout?: number;
  /** Send cookies cross-origin (fetch `credentials: 'include'`, EventSource `withCredentials`). Default false. */
  withCredentials?: boolean;
}

export interface SseClient {
  readonly state: ClientState;
  readonly info: ConnectedContext | undefined;
  /** Which reader this client uses. */
  readonly transport: 'fetch' | 'eventsource';
  /** Opens the stream (once a subscription exists) and reopens it after every loss, until `disconnect()`. */
  connect(): void;
  disconnect(): void;
  /** With `{ keyed: true }`, a keyed channel's map-like subscription (docs/client.md, "Keyed channels"). */
  newSubscription<T = unknown>(channel: string, options: { keyed: true }): KeyedReceiveSubscription<T>;
  newSubscription(channel: string, options?: SseSubscriptionOptions): ReceiveSubscription;
  subscribe<T = unknown>(channel: string, options: { keyed: true }): KeyedReceiveSubscription<T>;
  subscribe(channel: string, options?: SseSubscriptionOptions): ReceiveSubscription;
  /** `subscribe(channel, { keyed: true })`: a keyed channel as a map kept equal to the server's state. */
  keyed<T = unknown>(channel: string): KeyedReceiveSubscription<T>;
  getSubscription(channel: string): ReceiveSubscription | undefined;
  removeSubscription(sub: ReceiveSubscription): void;
  ready(timeoutMs?: number): Promise<void>;
  on<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  once<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): void;
}

/** SSE subscriptions take no token (the stream's token covers them). */
/**
 * `snapshot: false` (plain subscriptions to keyed channels): start from now. One SSE stream carries every channel, so
 * the server is asked to skip snapshots only while every subscription without a position asked for it.
 */
export type SseSubscriptionOptions = Pick<SubscriptionOptions, 'since' | 'keyed' | 'snapshot'>;

export function createSseClient(options: SseClientOptions): SseClient {
  return new SseClientImpl(options);
}

/** Stands for "no position yet" in a multi-channel resume token: no real epoch is this short, so it never resumes. */
const NO_POSITION: StreamPosition = { epoch: '0', offset: 0 };

class SseClientImpl extends Emitter<ClientEvents> implements SseClient, SubscriptionHost {
  state: ClientState = 'disconnected';
  info: ConnectedContext | undefined;
  readonly transport: 'fetch' | 'eventsource';
  readonly timeout: number;
  private readonly common: ReturnType<typeof checkCommon>;
  private readonly tokens: TokenSource;
  private readonly subs = new Map<string, SubscriptionImpl>();
  private stream: SseStream | undefined;
  /** The tracing hook's view of the current attempt (only with the `tracing` option). */
  private trace: ConnectionTracing | undefined;
  /** Positions sent with the current stream, per channel (undefined: fresh). */
  private sent = new Map<string, StreamPosition | undefined>();
  private generation = 0;
  private attempt = 0;
  /** The server's `retry:` in ms: the smallest reconnect delay. */
  private retryMs = 0;
  private lastRx = 0;
  private heartbeatTimeout: number;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private reopenQueued = false;
  /** An attempt is between start and its stream (fetching the token): it reads the channel set when it opens. */
  private opening = false;
  /** A `disconnect` event the server sent before ending the stream. */
  private serverEnd: { code: number; reason: string; reconnect: boolean } | undefined;

  constructor(private readonly o: SseClientOptions) {
    super();
    this.common = checkCommon(o, ['http', 'https']);
    this.timeout = this.common.timeout;
    this.tokens = new TokenSource(o, this.timeout);
    const mode = o.transport ?? 'auto';
    if (!['auto', 'fetch', 'eventsource'].includes(mode)) throw new OptionError('transport', 'must be "auto", "fetch" or "eventsource"');
    if (o.events !== undefined && !Array.isArray(o.events)) throw new OptionError('events', 'must be an array of event names');
    const hasEs = (o.EventSource ?? (globalThis as { EventSource?: unknown }).EventSource) !== undefined;
    this.transport = mode === 'auto' ? (hasEs && o.events !== undefined && o.headers === undefined ? 'eventsource' : 'fetch') : mode;
    this.heartbeatTimeout = checkMs('heartbeatTimeout', o.heartbeatTimeout, this.transport === 'fetch' ? 45_000 : 0);
  }

  connect(): void {
    if (this.state !== 'disconnected') return;
    this.attempt = 0;
    this.startAttempt(0);
  }

  disconnect(): void {
    if (this.state === 'disconnected') return;
    this.generation++;
    clearTimeout(this.reconnectTimer);
    this.closeStream();
    this.ended(ClientCodes.DisconnectCalled, 'disconnect called', false);
  }

  ready(timeoutMs = this.timeout): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return this.waitFor('connected', 'disconnected',
      (d) => (d.reconnect ? undefined : new ClientClosedError(`connect (closed with ${d.code} ${d.reason})`)),
      timeoutMs, () => new TimeoutError('connect', timeoutMs));
  }

  private startAttempt(delay: number): void {
    const gen = ++this.generation;
    this.opening = false;
    this.state = 'connecting';
    // Nothing to stream yet: the first subscribe() opens the stream.
    if (this.wanted().length === 0) return;
    this.emit('connecting', { attempt: this.attempt, delay });
    this.opening = true;
    void this.open(gen).finally(() => {
      if (gen === this.generation) this.opening = false;
    });
  }

  private wanted(): SubscriptionImpl[] {
    return [...this.subs.values()].filter((s) => s.state !== 'unsubscribed');
  }

  private async open(gen: number): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.tokens.current();
    } catch (err) {
      if (gen !== this.generation) return;
      this.emit('error', { error: err as SwitchboardError });
      return this.ended(1006, 'token failed', true);
    }
    if (gen !== this.generation) return;
    if (token === '') return this.ended(ClientCodes.NoToken, 'getToken returned no token', false);
    const subs = this.wanted();
    this.sent = new Map(subs.map((s) => [s.channel, s.position]));
    const resume = subs.some((s) => s.position) ? formatStreamToken(subs.map((s) => s.position ?? NO_POSITION)) : undefined;
    const query: [string, string][] = subs.map((s) => ['channel', s.channel]);
    const fresh = subs.filter((s) => !s.position);
    if (fresh.length > 0 && fresh.every((s) => s.options.snapshot === false)) query.push(['snapshot', 'false']);
    const handlers = {
      activity: () => {
        this.lastRx = Date.now();
      },
      event: (type: string, data: string) => this.onEvent(type, data),
      retry: (ms: number) => {
        this.retryMs = ms;
      },
      end: (err: SwitchboardError | undefined, status?: number) => {
        if (gen === this.generation) this.onEnd(err, status);
      },
    };
    const credentials = this.o.withCredentials === true;
    const t = (this.trace = this.o.tracing?.connection('sse', this.common.url));
    try {
      if (this.transport === 'eventsource') {
        const Ctor = this.o.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
        if (!Ctor) throw new UnsupportedError('no EventSource in this runtime: pass the "EventSource" option or use transport "fetch"');
        if (token) query.push(['token', token]);
        if (resume) query.push(['lastEventId', resume]);
        const url = buildUrl(this.common.url, this.common.params, query);
        this.stream = openEventSource(Ctor, url, this.o.events ?? [], credentials, handlers);
      } else {
        const f = this.o.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
        if (!f) throw new UnsupportedError('no fetch in this runtime: pass the "fetch" option');
        const headers: Record<string, string> = { accept: 'text/event-stream', ...this.o.headers };
        if (token) headers.authorization = `Bearer ${token}`;
        if (resume) headers['last-event-id'] = resume;
        // The server's sse.connect span continues the client's (EventSource cannot send headers).
        if (t?.traceparent && !headers.traceparent) headers.traceparent = t.traceparent;
        this.stream = openFetchStream(f, buildUrl(this.common.url, this.common.params, query), headers, credentials, handlers);
      }
    } catch (err) {
      this.emit('error', { error: err as SwitchboardError });
      return this.ended(1006, 'connect failed', !(err instanceof UnsupportedError));
    }
    this.lastRx = Date.now();
    if (this.heartbeatTimeout > 0) this.heartbeatTimer = setTimeout(this.checkHeartbeat, this.heartbeatTimeout);
  }

  private readonly checkHeartbeat = (): void => {
    const idle = Date.now() - this.lastRx;
    if (idle >= this.heartbeatTimeout) return this.restart(ClientCodes.HeartbeatTimeout, 'heartbeat timeout', true);
    this.heartbeatTimer = setTimeout(this.checkHeartbeat, this.heartbeatTimeout - idle);
  };

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    s?.close();
  }

  /** Ends the current stream by the client's decision and opens the next one (`now`: skip the backoff). */
  private restart(code: number, reason: string, backoff: boolean): void {
    this.generation++;
    this.closeStream();
    if (!backoff) this.attempt = 0;
    this.ended(code, reason, true, !backoff);
  }

  private onEnd(err: SwitchboardError | undefined, status: number | undefined): void {
    this.stream = undefined;
    const d = this.serverEnd;
    this.serverEnd = undefined;
    if (d) {
      if (d.code === 4005) this.tokens.stale = true;
      return this.ended(d.code, d.reason, d.code === 4005 ? this.tokens.refreshable : d.reconnect);
    }
    if (err) {
      this.trace?.failed(err);
      this.emit('error', { error: err });
    }
    if (status !== undefined) {
      // 401: maybe an expired token; 408/429/5xx: try later; other 4xx: this URL will not work.
      if (status === 401) this.tokens.stale = true;
      const again = status === 401 ? this.tokens.refreshable : status === 408 || status === 429 || status >= 500;
      return this.ended(ClientCodes.HttpError, `HTTP ${status}`, again);
    }
    this.tokens.stale ||= this.state !== 'connected';
    this.ended(1006, 'connection lost', true);
  }

  private ended(code: number, reason: string, reconnect: boolean, immediate = false): void {
    clearTimeout(this.heartbeatTimer);
    this.trace?.closed(code, reason);
    this.trace = undefined;
    for (const sub of this.subs.values()) if (sub.state === 'subscribed') sub.setSubscribing();
    this.info = undefined;
    this.state = reconnect ? 'connecting' : 'disconnected';
    this.emit('disconnected', { code, reason, reconnect });
    if (!reconnect || this.state !== 'connecting') return;
    const bounds = { minDelay: Math.max(this.common.minReconnectDelay, this.retryMs), maxDelay: Math.max(this.common.maxReconnectDelay, this.retryMs) };
    const delay = immediate ? 0 : backoffDelay(this.attempt, bounds);
    if (!immediate) this.attempt++;
    const gen = ++this.generation;
    this.reconnectTimer = setTimeout(() => {
      if (gen === this.generation) this.startAttempt(delay);
    }, delay);
  }

  // ---- events ----

  private onEvent(type: string, data: string): void {
    let p: Record<string, any>;
    try {
      p = JSON.parse(data);
    } catch {
      return;
    }
    if (p === null || typeof p !== 'object') return;
    switch (type) {
      case 'connected':
        return this.onConnected(p);
      case 'disconnect':
        this.serverEnd = { code: Number(p.code), reason: String(p.reason ?? ''), reconnect: p.reconnect !== false && serverSaysReconnect(Number(p.code)) };
        return;
      case 'stream_error': {
        const error = new ServerError(String(p.code), String(p.message));
        const sub = typeof p.channel === 'string' ? this.subs.get(p.channel) : undefined;
        // The stream ends next (1000); it reopens without the refused channel.
        if (sub) sub.failed(error);
        else this.emit('error', { error });
        return;
      }
      case 'ping':
        return;
      case 'caught_up':
      case 'skip': {
        const sub = this.subs.get(p.channel);
        if (sub && (type === 'skip' ? sub.accept(p, true) : sub.caughtUp(p)) === 'gap') this.restart(ClientCodes.Resync, 'gap in stream', false);
        return;
      }
      case 'join':
      case 'leave':
        this.subs.get(p.channel)?.member(type, p);
        return;
    }
    const t = this.trace;
    if (t && (p.push === 'publication' || p.push === 'message')) t.received(p, data, () => this.onPush(p));
    else this.onPush(p);
  }

  private onPush(p: Record<string, any>): void {
    if (p.push === 'message') return this.emit('message', toDirectMessage(p));
    if (p.push !== 'publication' || !isPublicationPush(p)) return;
    const sub = this.subs.get(p.channel);
    if (sub && sub.accept(p) === 'gap') this.restart(ClientCodes.Resync, 'gap in stream', false);
  }

  private onConnected(p: Record<string, any>): void {
    this.state = 'connected';
    this.attempt = 0;
    this.info = { client: String(p.client), user: String(p.user) };
    this.trace?.connected(this.info.client, this.info.user);
    this.emit('connected', this.info);
    if (p.error?.code) this.emit('error', { error: new ServerError(String(p.error.code), String(p.error.message)) });
    const results = Array.isArray(p.channels) ? (p.channels as SubscribeResult[]) : [];
    for (const r of results) {
      const sub = this.subs.get(r.channel);
      if (sub && this.sent.has(r.channel)) sub.live(r, this.sent.get(r.channel));
    }
  }

  // ---- subscriptions ----

  // `any`: the interface's overloads type the result (keyed or plain, by `options.keyed`).
  newSubscription(channel: string, options?: SseSubscriptionOptions): any {
    return subscriptionFor(this.subs, channel, this, options && { since: options.since, keyed: options.keyed, snapshot: options.snapshot });
  }

  subscribe(channel: string, options?: SseSubscriptionOptions): any {
    const sub = this.newSubscription(channel, options);
    sub.subscribe();
    return sub;
  }

  keyed<T>(channel: string): KeyedReceiveSubscription<T> {
    return this.subscribe(channel, { keyed: true });
  }

  getSubscription(channel: string): ReceiveSubscription | undefined {
    return this.subs.get(channel);
  }

  removeSubscription(sub: ReceiveSubscription): void {
    sub.unsubscribe();
    if (this.subs.get(sub.channel) === sub) this.subs.delete(sub.channel);
  }

  subscribeNow(): void {
    this.channelsChanged();
  }

  unsubscribeNow(): void {
    this.channelsChanged();
  }

  /** Several subscribe/unsubscribe calls in one turn reopen the stream once. */
  private channelsChanged(): void {
    if (this.reopenQueued) return;
    this.reopenQueued = true;
    queueMicrotask(() => {
      this.reopenQueued = false;
      if (this.state === 'disconnected') return;
      const now = this.wanted().map((s) => s.channel).join('\n');
      if (this.stream && now === [...this.sent.keys()].join('\n')) return;
      if (this.stream) return this.restart(ClientCodes.ChannelsChanged, 'channels changed', false);
      if (this.opening) return;
      // Idle (no channels before), or waiting to retry: start now.
      clearTimeout(this.reconnectTimer);
      this.startAttempt(0);
    });
  }

  forward<K extends keyof ClientEvents>(event: K, arg: ClientEvents[K]): void {
    this.emit(event, arg);
  }

  publish(): Promise<never> {
    return Promise.reject(new UnsupportedError('SSE is receive-only: publish with the WebSocket client or the server API'));
  }

  presence(): Promise<never> {
    return Promise.reject(new UnsupportedError('SSE is receive-only: read presence with the WebSocket client or the server API'));
  }

  history(): Promise<never> {
    return Promise.reject(new UnsupportedError('SSE is receive-only: read history with the WebSocket client or the server API'));
  }
}
