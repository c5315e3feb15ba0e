/**
 * One SSE connection, read either with `fetch` (any headers, works in Node) or with a native `EventSource`.
 * Both report through the same handlers and neither reconnects by itself: the SSE client owns reconnects, so
 * backoff, tokens and resume positions follow one set of rules.
 */
import { httpRefusal, SwitchboardError } from './errors.js';
import { SseParser } from './sse-parser.js';

export interface SseStreamHandlers {
  /** Any bytes or event arrived (heartbeats included). */
  activity(): void;
  event(type: string, data: string): void;
  retry(ms: number): void;
  /** The stream is over. `status`: the HTTP status when the server refused the stream. */
  end(error: SwitchboardError | undefined, status?: number): void;
}

export interface SseStream {
  close(): void;
}

export type FetchLike = (url: string, init: { headers: Record<string, string>; signal: AbortSignal; cache?: 'no-store'; credentials?: 'include' | 'same-origin' }) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  body: { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } } | null;
  text(): Promise<string>;
}>;

export function openFetchStream(fetchImpl: FetchLike, url: string, headers: Record<string, string>, credentials: boolean, h: SseStreamHandlers): SseStream {
  const ac = new AbortController();
  let closed = false;
  const end = (err: SwitchboardError | undefined, status?: number) => {
    if (closed) return;
    closed = true;
    ac.abort();
    h.end(err, status);
  };
  void (async () => {
    try {
      const res = await fetchImpl(url, { headers, signal: ac.signal, cache: 'no-store', credentials: credentials ? 'include' : 'same-origin' });
      if (res.status !== 200) return end(await httpError(res), res.status);
      if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) {
        return end(new SwitchboardError('bad_response', `expected text/event-stream from ${url}, got ${res.headers.get('content-type')}`), res.status);
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser({ event: (type, data) => !closed && h.event(type, data), retry: (ms) => h.retry(ms) });
      for (;;) {
        const { done, value } = await reader.read();
        if (done || closed) break;
        h.activity();
        parser.push(decoder.decode(value, { stream: true }));
      }
      end(undefined);
    } catch (err) {
      end(closed ? undefined : new SwitchboardError('connection_lost', `event stream failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  })();
  return { close: () => end(undefined) };
}

async function httpError(res: { status: number; text(): Promise<string> }): Promise<SwitchboardError> {
  return httpRefusal(res.status, await res.text().catch(() => ''));
}

/** The part of the WHATWG EventSource the SDK uses. */
export interface EventSourceLike {
  onopen: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  addEventListener(type: string, listener: (ev: any) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

/** Event names the server itself sends; publications use the app's names, which must be listed (`events`). */
const SERVER_EVENTS = ['connected', 'disconnect', 'stream_error', 'ping', 'join', 'leave', 'caught_up', 'skip', 'message'];

export function openEventSource(Ctor: EventSourceConstructor, url: string, events: readonly string[], credentials: boolean, h: SseStreamHandlers): SseStream {
  const es = new Ctor(url, { withCredentials: credentials });
  let closed = false;
  for (const type of new Set([...SERVER_EVENTS, ...events])) {
    es.addEventListener(type, (e: { data?: unknown }) => {
      if (closed) return;
      h.activity();
      h.event(type, String(e.data));
    });
  }
  // EventSource would retry by itself (and give up on HTTP errors without saying which): stop it, the client decides.
  es.onerror = () => {
    if (closed) return;
    closed = true;
    es.close();
    h.end(new SwitchboardError('connection_lost', 'event stream failed or ended'));
  };
  return {
    close() {
      closed = true;
      es.close();
    },
  };
}
