/**
 * SSE test clients: `openEventSource` wraps the `eventsource` package (a spec-following client that reconnects with
 * Last-Event-ID by itself); `rawSse` reads the stream with `http.get` to check exact bytes and headers.
 */
import { get, type IncomingMessage, type ClientRequest } from 'node:http';
import { EventSource } from 'eventsource';
import { withTimeout } from './wait.js';

export interface SseMessage {
  /** Event name (`message` when the server sent none). */
  type: string;
  data: string;
  lastEventId: string;
  /** Which connection (1 = first, 2 = after the first reconnect, ...) delivered it. */
  connection: number;
}

/** Event names the server sends; EventSource only dispatches names someone listens to. */
export const SERVER_EVENTS = ['connected', 'message', 'disconnect', 'ping', 'stream_error', 'join', 'leave', 'chat', 'chat_message', 'direct_message'];

export interface EventSourceOptions {
  /** Extra event names to listen to. */
  events?: string[];
  /** Extra request headers (sent on every connection attempt). */
  headers?: Record<string, string>;
  /**
   * Called before every connection attempt with its number (1, 2, ...) and the request headers EventSource sends
   * (Last-Event-ID among them); the attempt waits for the returned promise.
   */
  beforeConnect?: (attempt: number, headers: Record<string, string>) => Promise<void> | void;
}

export class EsClient {
  readonly messages: SseMessage[] = [];
  /** Request headers of each connection attempt, in order. */
  readonly attempts: Record<string, string>[] = [];
  opens = 0;
  errors = 0;
  private readonly consumed = new Set<SseMessage>();
  private waiters: { pred: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }[] = [];
  readonly es: EventSource;

  constructor(url: string, opts: EventSourceOptions = {}) {
    const fetchImpl = async (input: string | URL, init?: RequestInit): Promise<Response> => {
      const headers = { ...(init?.headers as Record<string, string> | undefined), ...opts.headers };
      this.attempts.push(headers);
      if (opts.beforeConnect) await opts.beforeConnect(this.attempts.length, headers);
      return fetch(input, { ...init, headers });
    };
    this.es = new EventSource(url, { fetch: fetchImpl as typeof fetch });
    this.es.addEventListener('open', () => this.opens++);
    this.es.addEventListener('error', () => this.errors++);
    for (const type of new Set([...SERVER_EVENTS, ...(opts.events ?? [])])) {
      this.es.addEventListener(type, (e: MessageEvent) => this.onMessage({ type, data: String(e.data), lastEventId: e.lastEventId, connection: this.opens }));
    }
  }

  private onMessage(m: SseMessage): void {
    this.messages.push(m);
    for (const w of this.waiters) {
      if (w.pred(m)) {
        this.consumed.add(m);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
        return;
      }
    }
  }

  /** Messages of one event name. */
  ofType(type: string): SseMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** The first not-yet-taken message (received or future) matching `pred`. */
  next(pred: (m: SseMessage) => boolean = () => true, timeoutMs = 3000): Promise<SseMessage> {
    for (const m of this.messages) {
      if (!this.consumed.has(m) && pred(m)) {
        this.consumed.add(m);
        return Promise.resolve(m);
      }
    }
    let waiter!: { pred: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void };
    const p = new Promise<SseMessage>((resolve) => {
      waiter = { pred, resolve };
      this.waiters.push(waiter);
    });
    return withTimeout(p, timeoutMs, `an SSE event (have ${this.messages.length}: ${JSON.stringify(this.messages.slice(-3))})`).finally(
      () => (this.waiters = this.waiters.filter((x) => x !== waiter)),
    );
  }

  /** The next event of this name, its data parsed as JSON. */
  async nextJson(type: string, timeoutMs = 3000): Promise<any> {
    return JSON.parse((await this.next((m) => m.type === type, timeoutMs)).data);
  }

  close(): void {
    this.es.close();
  }
}

export function openEventSource(url: string, opts: EventSourceOptions = {}): EsClient {
  return new EsClient(url, opts);
}

// --- raw reader ---------------------------------------------------------------------------------------------------

export interface RawEvent {
  event?: string;
  data?: string;
  id?: string;
  retry?: string;
  /** Comment lines (without the colon). */
  comments: string[];
}

/** A minimal SSE parser (CRLF, CR and LF line ends) for checking what is on the wire. */
export function parseSse(text: string): { events: RawEvent[]; rest: string } {
  const events: RawEvent[] = [];
  let cur: RawEvent = { comments: [] };
  let dataLines: string[] | undefined;
  let pos = 0;
  const re = /\r\n|\r|\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    // A lone CR at the very end might be the first half of CRLF: leave it for the next chunk.
    if (m[0] === '\r' && m.index === text.length - 1) break;
    const line = text.slice(pos, m.index);
    pos = m.index + m[0].length;
    if (line === '') {
      if (dataLines) cur.data = dataLines.join('\n');
      if (cur.data !== undefined || cur.event !== undefined || cur.id !== undefined || cur.retry !== undefined || cur.comments.length > 0) events.push(cur);
      cur = { comments: [] };
      dataLines = undefined;
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === '') cur.comments.push(value);
    else if (field === 'data') (dataLines ??= []).push(value);
    else if (field === 'event') cur.event = value;
    else if (field === 'id') cur.id = value;
    else if (field === 'retry') cur.retry = value;
  }
  return { events, rest: text.slice(pos) };
}

export class RawSse {
  /** Everything received, as text. */
  text = '';
  readonly ended: Promise<void>;
  isEnded = false;
  constructor(
    readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (this.text += chunk));
    this.ended = new Promise<void>((resolve) => {
      const done = () => {
        this.isEnded = true;
        resolve();
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** Complete events received so far (comments-only blocks included). */
  get events(): RawEvent[] {
    return parseSse(this.text).events;
  }

  /** Resolves with the first complete event matching `pred`. */
  async waitEvent(pred: (e: RawEvent) => boolean, timeoutMs = 3000): Promise<RawEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for a raw SSE event; got ${JSON.stringify(this.text.slice(-500))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  waitEnded(timeoutMs = 3000): Promise<void> {
    return withTimeout(this.ended, timeoutMs, 'SSE response end');
  }

  close(): void {
    this.req.destroy();
    this.res.destroy();
  }
}

/** GETs `url` and resolves once the response head arrives. Non-200 responses are returned too (read `text`). */
export function rawSse(url: string, headers: Record<string, string> = {}, timeoutMs = 3000): Promise<RawSse> {
  return withTimeout(
    new Promise<RawSse>((resolve, reject) => {
      const req = get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => resolve(new RawSse(req, res)));
      req.on('error', reject);
    }),
    timeoutMs,
    `GET ${url}`,
  );
}

/** A plain GET with a fully read body (for error responses): status, headers, parsed JSON body. */
export async function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: any }> {
  const r = await rawSse(url, headers);
  await r.waitEnded();
  let body: unknown = r.text;
  try {
    body = JSON.parse(r.text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.res.headers, body };
}
