/**
 * The live data stream (seed 002 `data_update`, from the server's demo producer) received three ways, to show each
 * client side by side: the SDK's WebSocket client (a subscription on the page's connection), the SDK's SSE client
 * (fetch reader), and a plain native `EventSource` with no SDK at all. All three resume after a reconnect.
 */
import { createSseClient, type Client, type ReceiveSubscription, type SseClient } from '../../src/client/index.js';
import { byId, clock } from './dom.js';
import { Sparkline } from './sparkline.js';
import { showState } from './status.js';

export type StreamMode = 'ws' | 'sse' | 'eventsource';
export const STREAM_MODES: readonly StreamMode[] = ['ws', 'sse', 'eventsource'];
const MODE_LABEL: Record<StreamMode, string> = { ws: 'WebSocket (SDK)', sse: 'SSE (SDK)', eventsource: 'EventSource (native)' };

/** Seed 002's data_update payload as the demo producer sends it (°C, %, %, Unix seconds). */
export interface Metrics {
  temperature: number;
  humidity: number;
  cpu: number;
  timestamp: number;
  seq?: number;
}

const METRICS = [
  { key: 'temperature', color: '#f97316', digits: 1 },
  { key: 'humidity', color: '#0ea5e9', digits: 1 },
  { key: 'cpu', color: '#8b5cf6', digits: 1 },
] as const;

export interface StreamSetup {
  client: Client;
  channel: string;
  ssePath: string;
  /** Development mode: `?user=`; JWT: the token (SSE takes it as `?token=`). */
  identity: { user?: string; token?: string };
}

export class LiveStream {
  private mode: StreamMode | undefined;
  private stopCurrent: (() => void) | undefined;
  private readonly lines = new Map<string, Sparkline>();
  private readonly last = new Map<string, number>();
  private received = 0;
  private readonly status = byId('stream-status');

  constructor(private readonly setup: StreamSetup) {
    for (const m of METRICS) this.lines.set(m.key, new Sparkline(byId<HTMLCanvasElement>(`spark-${m.key}`), m.color));
    for (const btn of document.querySelectorAll<HTMLButtonElement>('#stream-modes button')) {
      btn.addEventListener('click', () => this.use(btn.dataset.mode as StreamMode));
    }
    window.addEventListener('resize', () => this.lines.forEach((l) => l.draw()));
  }

  use(mode: StreamMode): void {
    if (mode === this.mode) return;
    this.stopCurrent?.();
    this.mode = mode;
    for (const btn of document.querySelectorAll<HTMLButtonElement>('#stream-modes button')) btn.setAttribute('aria-pressed', String(btn.dataset.mode === mode));
    byId('stream-via').textContent = MODE_LABEL[mode];
    showState(this.status, 'connecting', 'Connecting…');
    this.stopCurrent = mode === 'ws' ? this.viaWebSocket() : mode === 'sse' ? this.viaSdkSse() : this.viaEventSource();
  }

  private viaWebSocket(): () => void {
    const { client, channel } = this.setup;
    const sub = client.newSubscription(channel);
    this.watch(sub);
    const offs = [client.on('disconnected', () => showState(this.status, 'reconnecting', 'Reconnecting…'))];
    sub.subscribe();
    return () => {
      offs.forEach((off) => off());
      client.removeSubscription(sub);
    };
  }

  private viaSdkSse(): () => void {
    const { channel, ssePath, identity } = this.setup;
    const sse: SseClient = createSseClient({
      url: new URL(ssePath, location.href).href,
      transport: 'fetch',
      ...(identity.token ? { token: identity.token } : { params: { user: identity.user ?? '' } }),
    });
    this.watch(sse.subscribe(channel));
    sse.on('disconnected', (d) => showState(this.status, d.reconnect ? 'reconnecting' : 'disconnected', d.reconnect ? 'Reconnecting…' : `Stopped: ${d.reason}`));
    sse.connect();
    return () => sse.disconnect();
  }

  /** No SDK: the browser's EventSource reconnects by itself and sends Last-Event-ID, so the server resumes it. */
  private viaEventSource(): () => void {
    const { channel, ssePath, identity } = this.setup;
    const url = new URL(ssePath, location.href);
    url.searchParams.set('channel', channel);
    if (identity.token) url.searchParams.set('token', identity.token);
    else url.searchParams.set('user', identity.user ?? '');
    const es = new EventSource(url);
    es.addEventListener('open', () => showState(this.status, 'connected', 'Live'));
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) showState(this.status, 'disconnected', 'Closed by the server');
      else showState(this.status, 'reconnecting', 'Reconnecting…');
    });
    es.addEventListener('data_update', (e) => {
      const push = JSON.parse((e as MessageEvent<string>).data) as { payload: Metrics };
      this.update(push.payload);
    });
    return () => es.close();
  }

  private watch(sub: ReceiveSubscription): void {
    sub.on('subscribing', () => showState(this.status, 'connecting', 'Subscribing…'));
    sub.on('subscribed', () => showState(this.status, 'connected', 'Live'));
    sub.on('publication', (p) => {
      if (p.event === 'data_update') this.update(p.data as Metrics);
    });
  }

  private update(m: Metrics): void {
    for (const { key, digits } of METRICS) {
      const v = m[key];
      if (typeof v !== 'number') continue;
      const tile = byId(`m-${key}`);
      tile.querySelector('.value')!.textContent = v.toFixed(digits);
      const prev = this.last.get(key);
      const delta = tile.querySelector<HTMLElement>('.delta')!;
      delta.textContent = prev === undefined ? '' : v > prev ? `▲ ${(v - prev).toFixed(digits)}` : v < prev ? `▼ ${(prev - v).toFixed(digits)}` : '■ 0';
      delta.dataset.dir = prev === undefined || v === prev ? 'flat' : v > prev ? 'up' : 'down';
      this.last.set(key, v);
      this.lines.get(key)!.push(v);
    }
    this.received++;
    const count = byId('stream-count');
    count.textContent = String(this.received);
    byId('stream-last').textContent = clock(typeof m.timestamp === 'number' ? m.timestamp * 1000 : Date.now());
    byId('stream-empty').hidden = true;
  }
}
