/**
 * The WebSocket client: one connection at a time, replaced with backoff whenever it ends (unless the server's code
 * says not to), with every subscription resumed from its last position so missed publications arrive once, in order.
 * Commands are JSON frames matched to replies by id (docs/protocol.md).
 */
import type { StreamPosition, SubscribeResult } from '../protocol/index.js';
import { backoffDelay } from './backoff.js';
import { ClientCodes, ServerCodes, serverSaysReconnect } from './codes.js';
import { Emitter } from './emitter.js';
import { ClientClosedError, ConnectionLostError, httpRefusal, ServerError, SwitchboardError, TimeoutError } from './errors.js';
import { buildUrl, resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';
import { subscriptionFor, type KeyedSubscription } from './keyed.js';
import { isPublicationPush, toDirectMessage, toMemberEvent, toPublication } from './publication.js';
import type { SubscriptionImpl, Subscription, SubscriptionHost, SubscriptionOptions } from './subscription.js';
import { TokenSource } from './token.js';
import type { ConnectionTracing } from './tracing.js';
import type {
  ClientEvents, ClientState, ConnectedContext, HistoryOptions, HistoryResult, Member, PublishOptions, PublishResult,
} from './types.js';
import { OPEN, onUpgradeRefused, resolveWebSocket, type WebSocketLike } from './websocket-impl.js';

/** The WebSocket client's public surface. */
export interface Client {
  readonly state: ClientState;
  /** The server's `connected` push of the current connection. */
  readonly info: ConnectedContext | undefined;
  /** Starts connecting (and reconnecting after every loss) until `disconnect()`. */
  connect(): void;
  /** Closes the connection for good: no reconnect; pending commands fail with `client_closed`. */
  disconnect(): void;
  /**
   * A subscription object for `channel` (the same one on every call); call `subscribe()` on it. With
   * `{ keyed: true }`, a keyed channel's map-like subscription (docs/client.md, "Keyed channels").
   */
  newSubscription<T = unknown>(channel: string, options: SubscriptionOptions & { keyed: true }): KeyedSubscription<T>;
  newSubscription(channel: string, options?: SubscriptionOptions): Subscription;
  /** `newSubscription(channel, options)` and `subscribe()`. */
  subscribe<T = unknown>(channel: string, options: SubscriptionOptions & { keyed: true }): KeyedSubscription<T>;
  subscribe(channel: string, options?: SubscriptionOptions): Subscription;
  /** `subscribe(channel, { ...options, keyed: true })`: a keyed channel as a map kept equal to the server's state. */
  keyed<T = unknown>(channel: string, options?: Omit<SubscriptionOptions, 'keyed' | 'since'>): KeyedSubscription<T>;
  getSubscription(channel: string): Subscription | undefined;
  /** Unsubscribes and forgets the subscription (its position too). */
  removeSubscription(sub: Subscription): void;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  /**
   * Sends `data` to every connection of `user` (their `message` event, with `from` = this user). Allowed by the
   * server's `client.directMessages` (not for anonymous connections by default).
   */
  send(user: string, data: unknown, options?: { event?: string }): Promise<void>;
  presence(channel: string): Promise<Member[]>;
  history<T = unknown>(channel: string, options?: HistoryOptions): Promise<HistoryResult<T>>;
  /**
   * Calls the application's backend over this connection (the server's rpc proxy, docs/proxy.md): resolves to the
   * backend's reply data, or rejects with its refusal (`permission_denied`, ...) or `backend_unavailable`,
   * `backend_timeout`, `backend_invalid`, `feature_disabled` (no rpc proxy). `method` `ns:name` picks namespace `ns`'s proxy.
   */
  rpc<T = unknown>(method: string, data?: unknown): Promise<T>;
  /** A round trip to the server. */
  ping(): Promise<void>;
  /** Resolves when connected; rejects after `timeoutMs` (default `timeout`) or when the client stops for good. */
  ready(timeoutMs?: number): Promise<void>;
  on<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  once<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(event: K, listener: (arg: ClientEvents[K]) => void): void;
}

/** Creates a WebSocket client. It does not connect until `connect()`. */
export function createClient(options: ClientOptions): Client {
  return new WsClient(resolveClientOptions(options));
}

/** A command waiting for its reply. Internal ones (subscribe, refresh) are not retried across connections. */
interface Request {
  readonly id: number;
  readonly method: string;
  readonly frame: string;
  /** The trace context the frame carries (publish), for the tracing hook. */
  readonly traceparent: string | undefined;
  readonly what: string;
  readonly internal: boolean;
  sent: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  onReply(msg: Record<string, any>): void;
  onFail(err: SwitchboardError): void;
}

class WsClient extends Emitter<ClientEvents> implements Client, SubscriptionHost {
  state: ClientState = 'disconnected';
  info: ConnectedContext | undefined;
  private ws: WebSocketLike | undefined;
  /** The tracing hook's view of the current attempt (only with the `tracing` option). */
  private trace: ConnectionTracing | undefined;
  /** Bumped by every attempt and by disconnect(): async steps of an older attempt see the change and stop. */
  private generation = 0;
  private attempt = 0;
  private nextId = 1;
  private readonly subs = new Map<string, SubscriptionImpl>();
  private readonly requests = new Map<number, Request>();
  private readonly tokens: TokenSource;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Date.now() of the last frame received, and of the liveness ping in flight (0: none). */
  private lastRx = 0;
  private pingSentAt = 0;

  constructor(private readonly opts: ResolvedClientOptions) {
    super();
    this.tokens = new TokenSource(opts, opts.timeout);
  }

  get timeout(): number {
    return this.opts.timeout;
  }

  // ---- lifecycle ----

  connect(): void {
    if (this.state !== 'disconnected') return;
    this.attempt = 0;
    this.startAttempt(0);
  }

  disconnect(): void {
    if (this.state === 'disconnected') return;
    this.generation++;
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    if (ws) this.detach(ws, ClientCodes.DisconnectCalled, 'disconnect called');
    this.ended(ClientCodes.DisconnectCalled, 'disconnect called', false);
  }

  ready(timeoutMs = this.opts.timeout): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return this.waitFor('connected', 'disconnected',
      (d) => (d.reconnect ? undefined : new ClientClosedError(`connect (closed with ${d.code} ${d.reason})`)),
      timeoutMs, () => new TimeoutError('connect', timeoutMs));
  }

  private startAttempt(delay: number): void {
    const gen = ++this.generation;
    this.state = 'connecting';
    this.emit('connecting', { attempt: this.attempt, delay });
    void this.open(gen);
  }

  private async open(gen: number): Promise<void> {
    let token: string | undefined;
    let url: string;
    let Ctor;
    try {
      token = await this.tokens.current();
      if (gen !== this.generation) return;
      if (token === '') return this.ended(ClientCodes.NoToken, 'getToken returned no token', false);
      url = buildUrl(this.opts.url, this.opts.params, token ? [['token', token]] : [], true);
      Ctor = await resolveWebSocket(this.opts.WebSocket);
    } catch (err) {
      if (gen !== this.generation) return;
      this.emit('error', { error: asError(err) });
      return this.ended(1006, 'connect failed', asError(err).code !== 'unsupported');
    }
    if (gen !== this.generation) return;
    let ws: WebSocketLike;
    this.trace = this.opts.tracing?.connection('websocket', this.opts.url);
    try {
      ws = new Ctor(url);
    } catch (err) {
      this.emit('error', { error: new SwitchboardError('connect_failed', `cannot open ${this.opts.url}: ${String(err)}`, { cause: err }) });
      return this.ended(1006, 'connect failed', true);
    }
    this.ws = ws;
    this.lastRx = Date.now();
    this.connectTimer = setTimeout(() => this.abandon(ClientCodes.ConnectTimeout, 'connect timeout'), this.opts.timeout);
    ws.onmessage = (e: { data: unknown }) => {
      if (ws === this.ws) this.onFrame(e.data);
    };
    ws.onclose = (e: { code?: number; reason?: string }) => {
      if (ws !== this.ws) return;
      this.ws = undefined;
      this.ended(e.code ?? 1006, e.reason ?? '', undefined);
    };
    // The close event follows an error and carries what we report.
    ws.onerror = () => undefined;
    onUpgradeRefused(ws, (status, body) => {
      if (ws === this.ws) this.refused(ws, status, body);
    });
  }

  /**
   * Node (`ws`): the server refused the upgrade with an HTTP status. Reported as the SSE client reports it: an error
   * with the server's reason, then code 3009; 401 retries only with a token function, 408/429/5xx retry, other 4xx
   * do not (the same URL and token would be refused again).
   */
  private refused(ws: WebSocketLike, status: number, body: string): void {
    this.detach(ws, ClientCodes.HttpError, `HTTP ${status}`);
    const error = httpRefusal(status, body);
    this.trace?.failed(error);
    this.emit('error', { error });
    if (status === 401) this.tokens.stale = true;
    const again = status === 401 ? this.tokens.refreshable : status === 408 || status === 429 || status >= 500;
    this.ended(ClientCodes.HttpError, `HTTP ${status}`, again);
  }

  /** Gives up on the current socket (dead, or refusing) without waiting for its close handshake. */
  private abandon(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.detach(ws, code, reason);
    this.ended(code, reason, undefined);
  }

  private detach(ws: WebSocketLike, code: number, reason: string): void {
    this.ws = undefined;
    ws.onmessage = ws.onclose = ws.onopen = null;
    ws.onerror = () => undefined;
    try {
      ws.close(code, reason);
    } catch {
      // Already closing, or the runtime refuses the code: the socket is dropped either way.
    }
  }

  /**
   * A connection (or an attempt) ended. `reconnect` undefined: decide by the code (server range, token state).
   * Sent commands fail (they may or may not have run); queued ones wait for the next connection.
   */
  private ended(code: number, reason: string, reconnect: boolean | undefined): void {
    const wasConnected = this.state === 'connected';
    clearTimeout(this.connectTimer);
    clearTimeout(this.pingTimer);
    clearTimeout(this.refreshTimer);
    this.pingSentAt = 0;
    this.trace?.closed(code, reason);
    this.trace = undefined;
    if (reconnect === undefined) {
      reconnect = serverSaysReconnect(code);
      // A fixed token that expired is the end; a getToken, or no token at all (cookies, connect proxy), reconnects.
      if (code === 4005) reconnect = this.tokens.refreshable || this.tokens.tokenless;
      // 4005, or an attempt refused before `connected` (perhaps a 401): fetch a fresh token next time.
      if (code === 4005 || !wasConnected) this.tokens.stale = true;
    }
    for (const r of [...this.requests.values()]) {
      if (!r.sent && !r.internal && reconnect) continue;
      this.requests.delete(r.id);
      clearTimeout(r.timer);
      if (r.internal) continue;
      r.onFail(r.sent ? new ConnectionLostError(r.what) : new ClientClosedError(r.what));
    }
    for (const sub of this.subs.values()) {
      if (sub.state === 'subscribed') sub.setSubscribing();
      sub.pendingId = undefined;
    }
    this.info = undefined;
    this.state = reconnect ? 'connecting' : 'disconnected';
    this.emit('disconnected', { code, reason, reconnect });
    if (!reconnect || this.state !== 'connecting') return;
    const delay = backoffDelay(this.attempt, { minDelay: this.opts.minReconnectDelay, maxDelay: this.opts.maxReconnectDelay });
    this.attempt++;
    const gen = ++this.generation;
    this.reconnectTimer = setTimeout(() => {
      if (gen === this.generation) this.startAttempt(delay);
    }, delay);
  }

  // ---- incoming frames ----

  private onFrame(data: unknown): void {
    this.lastRx = Date.now();
    if (typeof data !== 'string') return;
    let msg: Record<string, any>;
    try {
      msg = JSON.parse(data);
    } catch {
      this.emit('error', { error: new SwitchboardError('bad_frame', 'the server sent a frame that is not JSON') });
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    const t = this.trace;
    if (t && (msg.push === 'publication' || msg.push === 'message')) return t.received(msg, data, () => this.onPush(msg));
    if (typeof msg.push === 'string') return this.onPush(msg);
    if (msg.id !== undefined && msg.id !== null) {
      const r = this.requests.get(msg.id);
      if (!r) return;
      this.requests.delete(r.id);
      clearTimeout(r.timer);
      r.onReply(msg);
      return;
    }
    if (msg.error) this.emit('error', { error: new ServerError(String(msg.error.code), String(msg.error.message)) });
  }

  private onPush(p: Record<string, any>): void {
    switch (p.push) {
      case 'publication': {
        if (!isPublicationPush(p)) return;
        const sub = this.subs.get(p.channel);
        // A channel the token's `channels` claim subscribed server-side: no Subscription, delivered as is.
        if (!sub) return this.emit('publication', toPublication(p));
        if (sub.accept(p) === 'gap') this.repair(sub);
        return;
      }
      case 'caught_up':
      case 'skip': {
        const sub = this.subs.get(p.channel);
        if (sub && (p.push === 'skip' ? sub.accept(p, true) : sub.caughtUp(p)) === 'gap') this.repair(sub);
        return;
      }
      case 'message':
        return this.emit('message', toDirectMessage(p));
      case 'join':
      case 'leave': {
        const sub = this.subs.get(p.channel);
        if (sub) sub.member(p.push, p);
        else this.emit(p.push, toMemberEvent(p));
        return;
      }
      case 'connected':
        return this.onConnected(p);
      case 'subscribed': {
        const sub = this.subs.get(p.channel);
        if (sub) sub.live(p as unknown as SubscribeResult, undefined);
        else this.emit('subscribed', { channel: p.channel, recovered: false, wasRecovering: false, missed: 0, epoch: p.epoch, offset: p.offset });
        return;
      }
      case 'unsubscribed': {
        // The server ended a subscription: its subscription token expired (subscribe again from the last position
        // with a fresh token: nothing is missed), or the connection's grant was taken away (it stays unsubscribed).
        const sub = this.subs.get(p.channel);
        if (!sub || sub.state === 'unsubscribed') return;
        if (p.code === ServerCodes.TokenExpired && typeof sub.options.token === 'function') {
          sub.setSubscribing();
          void this.sendSubscribe(sub);
        } else {
          sub.failed(new ServerError(String(p.code), String(p.message)));
        }
        return;
      }
      case 'subscribe_failed':
        this.emit('error', { error: new ServerError(String(p.error?.code), String(p.error?.message)), channel: p.channel });
        return;
    }
  }

  private onConnected(p: Record<string, any>): void {
    clearTimeout(this.connectTimer);
    this.state = 'connected';
    this.attempt = 0;
    const info: { -readonly [K in keyof ConnectedContext]: ConnectedContext[K] } = { client: p.client, user: p.user, version: p.version, protocol: p.protocol, ping: p.ping };
    if (typeof p.expires === 'number') info.expires = p.expires;
    this.info = info;
    this.trace?.connected(info.client, info.user);
    this.emit('connected', this.info);
    if (this.state !== 'connected') return; // a listener disconnected
    if (typeof p.expires === 'number') this.scheduleRefresh(p.expires);
    if (this.opts.pingInterval > 0) this.pingTimer = setTimeout(this.checkLiveness, this.opts.pingInterval);
    for (const sub of this.subs.values()) if (sub.state === 'subscribing') void this.sendSubscribe(sub);
    for (const r of this.requests.values()) if (!r.sent) this.write(r);
  }

  // ---- liveness ----

  /** Pings after `pingInterval` of silence; abandons the socket if the silence then lasts `pingTimeout` more. */
  private readonly checkLiveness = (): void => {
    const now = Date.now();
    if (this.pingSentAt !== 0) {
      if (this.lastRx < this.pingSentAt) return this.abandon(ClientCodes.PingTimeout, 'ping timeout');
      this.pingSentAt = 0;
    }
    const idle = now - this.lastRx;
    if (idle < this.opts.pingInterval) {
      this.pingTimer = setTimeout(this.checkLiveness, this.opts.pingInterval - idle);
      return;
    }
    this.pingSentAt = now;
    // Its reply is a frame like any other; the id matches no request and is ignored.
    this.sendRaw(JSON.stringify({ id: this.nextId++, method: 'ping' }));
    this.pingTimer = setTimeout(this.checkLiveness, this.opts.pingTimeout);
  };

  // ---- token refresh ----

  private scheduleRefresh(expires: number): void {
    clearTimeout(this.refreshTimer);
    if (!this.tokens.refreshable) return;
    const remaining = expires * 1000 - Date.now();
    const margin = this.opts.refreshBefore;
    const delay = remaining > 2 * margin ? remaining - margin : remaining / 2;
    // setTimeout fires at once for delays past 2^31-1 ms; a refresh weeks ahead is re-planned on the next connect.
    if (delay > 2 ** 31 - 1) return;
    const gen = this.generation;
    this.refreshTimer = setTimeout(() => void this.refresh(gen, expires), Math.max(0, delay));
  }

  private async refresh(gen: number, expires: number): Promise<void> {
    let token: string;
    try {
      token = await this.tokens.fetch();
    } catch (err) {
      if (gen !== this.generation) return;
      this.emit('error', { error: asError(err) });
      // Try again at half the remaining life; at expiry the server closes with 4005 and we reconnect anyway.
      const remaining = expires * 1000 - Date.now();
      if (remaining > 2000) this.refreshTimer = setTimeout(() => void this.refresh(gen, expires), remaining / 2);
      return;
    }
    if (gen !== this.generation || this.state !== 'connected') return;
    this.request('refresh', { token }, 'refresh', true, (msg) => {
      if (msg.error) {
        this.emit('error', { error: new ServerError(msg.error.code, `refresh: ${msg.error.message}`) });
        this.tokens.stale = true;
        return this.abandon(ClientCodes.RefreshFailed, 'refresh failed');
      }
      if (typeof msg.result?.expires === 'number') this.scheduleRefresh(msg.result.expires);
    }, (err) => this.emit('error', { error: err }));
  }

  // ---- subscriptions ----

  // `any`: the interface's overloads type the result (keyed or plain, by `options.keyed`).
  newSubscription(channel: string, options?: SubscriptionOptions): any {
    return subscriptionFor(this.subs, channel, this, options);
  }

  subscribe(channel: string, options?: SubscriptionOptions): any {
    const sub = subscriptionFor(this.subs, channel, this, options);
    sub.subscribe();
    return sub;
  }

  keyed<T>(channel: string, options?: Omit<SubscriptionOptions, 'keyed' | 'since'>): KeyedSubscription<T> {
    return this.subscribe(channel, { ...options, keyed: true });
  }

  getSubscription(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  removeSubscription(sub: Subscription): void {
    sub.unsubscribe();
    if (this.subs.get(sub.channel) === sub) this.subs.delete(sub.channel);
  }

  subscribeNow(sub: SubscriptionImpl): void {
    if (this.state === 'connected') void this.sendSubscribe(sub);
  }

  unsubscribeNow(sub: SubscriptionImpl): void {
    if (this.state === 'connected') this.request('unsubscribe', { channel: sub.channel }, 'unsubscribe', true, noop, noop);
  }

  private async sendSubscribe(sub: SubscriptionImpl): Promise<void> {
    const gen = this.generation;
    let token: string | undefined;
    try {
      token = await sub.token();
    } catch (err) {
      return sub.failed(new SwitchboardError('token_failed', `subscription token for "${sub.channel}": ${String(err)}`, { cause: err }));
    }
    if (gen !== this.generation || this.state !== 'connected' || sub.state !== 'subscribing') return;
    const since: StreamPosition | undefined = sub.position;
    const params: Record<string, unknown> = { channel: sub.channel };
    if (since) params.since = since;
    else if (sub.options.snapshot === false) params.snapshot = false;
    if (token) params.token = token;
    if (sub.options.delta) params.delta = sub.options.delta;
    sub.pendingId = this.request('subscribe', params, `subscribe to "${sub.channel}"`, true, (msg) => {
      if (sub.pendingId !== msg.id) return;
      if (msg.error) {
        // The token's `channels` claim subscribed it already: its `subscribed` push made it live.
        if (msg.error.code === ServerCodes.AlreadySubscribed && sub.state === 'subscribed') return;
        return sub.failed(new ServerError(msg.error.code, msg.error.message));
      }
      sub.live(msg.result as SubscribeResult, since);
    }, () => this.abandon(ClientCodes.SubscribeTimeout, 'subscribe timeout'));
  }

  /** A gap in a live stream: resubscribe from the last delivered position (the replay fills it, or says it cannot). */
  private repair(sub: SubscriptionImpl): void {
    sub.setSubscribing();
    this.request('unsubscribe', { channel: sub.channel }, 'unsubscribe', true, noop, noop);
    void this.sendSubscribe(sub);
  }

  forward<K extends keyof ClientEvents>(event: K, arg: ClientEvents[K]): void {
    this.emit(event, arg);
  }

  // ---- commands ----

  publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    const params: Record<string, unknown> = { channel, data };
    if (options.event !== undefined) params.event = options.event;
    if (options.key !== undefined) params.key = options.key;
    if (options.op !== undefined) params.op = options.op;
    if (options.idempotencyKey !== undefined) params.idempotency_key = options.idempotencyKey;
    if (options.excludeSelf) params.exclude_self = true;
    const trace = options.traceparent ? { traceparent: options.traceparent, tracestate: options.tracestate } : this.opts.traceContext?.();
    if (trace?.traceparent) {
      params.traceparent = trace.traceparent;
      if (trace.tracestate) params.tracestate = trace.tracestate;
    }
    return this.call<PublishResult>('publish', params, `publish to "${channel}"`);
  }

  async send(user: string, data: unknown, options: { event?: string } = {}): Promise<void> {
    await this.call('send', options.event === undefined ? { user, data } : { user, data, event: options.event }, `send to "${user}"`);
  }

  async presence(channel: string): Promise<Member[]> {
    const r = await this.call<{ members: Member[] }>('presence', { channel }, `presence of "${channel}"`);
    return r.members;
  }

  async history<T = unknown>(channel: string, options: HistoryOptions = {}): Promise<HistoryResult<T>> {
    const r = await this.call<Record<string, any>>('history', { channel, ...options }, `history of "${channel}"`);
    const publications = (r.publications as Record<string, any>[]).map(toPublication) as HistoryResult<T>['publications'];
    return { publications, epoch: r.epoch, offset: r.offset, earliest: r.earliest, ...(r.next ? { next: r.next as StreamPosition } : {}) };
  }

  async rpc<T = unknown>(method: string, data?: unknown): Promise<T> {
    const r = await this.call<{ data: T }>('rpc', data === undefined ? { method } : { method, data }, `rpc "${method}"`);
    return r.data;
  }

  async ping(): Promise<void> {
    await this.call('ping', {}, 'ping');
  }

  /** A command whose reply resolves (result) or rejects (ServerError) a promise; queued while not connected. */
  private call<T>(method: string, params: Record<string, unknown>, what: string): Promise<T> {
    if (this.state === 'disconnected') return Promise.reject(new ClientClosedError(what));
    return new Promise<T>((resolve, reject) => {
      this.request(method, params, what, false, (msg) => {
        if (msg.error) reject(new ServerError(String(msg.error.code), String(msg.error.message)));
        else resolve(msg.result as T);
      }, reject);
    });
  }

  private request(
    method: string,
    params: Record<string, unknown>,
    what: string,
    internal: boolean,
    onReply: (msg: Record<string, any>) => void,
    onFail: (err: SwitchboardError) => void,
  ): number {
    const id = this.nextId++;
    const r: Request = { id, method, frame: JSON.stringify({ id, method, params }), traceparent: params.traceparent as string | undefined, what, internal, sent: false, timer: undefined, onReply, onFail };
    r.timer = setTimeout(() => {
      this.requests.delete(id);
      onFail(new TimeoutError(what, this.opts.timeout));
    }, this.opts.timeout);
    this.requests.set(id, r);
    if (this.state === 'connected') this.write(r);
    return id;
  }

  private write(r: Request): void {
    if (!this.sendRaw(r.frame)) return;
    r.sent = true;
    // Liveness pings are not requests: no span every 25 s.
    this.trace?.sent(r.method, r.frame, r.traceparent);
  }

  private sendRaw(frame: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    ws.send(frame);
    return true;
  }
}

function noop(): void {}

function asError(err: unknown): SwitchboardError {
  return err instanceof SwitchboardError ? err : new SwitchboardError('internal', String(err), { cause: err });
}
