/**
 * Which WebSocket to use: the `WebSocket` option, else the global one (browsers, Node ≥ 22), else the `ws` package,
 * imported lazily: Node loads it only when there is no global WebSocket (Node 20). Browsers always have a global
 * WebSocket, so the import never runs there; bundlers are told to leave it alone (esbuild: `external: ['ws']` in
 * scripts/build-client.mjs; webpack and Vite: the ignore comments below).
 */
import { UnsupportedError } from './errors.js';

/** The part of the WHATWG WebSocket the SDK uses; the browser's, Node's and the `ws` package's all fit. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState of an open socket (WHATWG). */
export const OPEN = 1;

let loaded: Promise<WebSocketConstructor> | undefined;

export function resolveWebSocket(option: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (option) return Promise.resolve(option);
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return Promise.resolve(global);
  return (loaded ??= loadWs());
}

async function loadWs(): Promise<WebSocketConstructor> {
  const specifier = 'ws';
  try {
    const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor };
    const ctor = mod.WebSocket ?? mod.default;
    if (ctor) return ctor;
  } catch {
    // Reported below with the fix.
  }
  loaded = undefined;
  throw new UnsupportedError('no WebSocket implementation: this runtime has no global WebSocket and the "ws" package could not be loaded; install "ws" or pass the "WebSocket" option');
}

/** The `ws` package's view of a refused upgrade: the HTTP response (Node's IncomingMessage), read as text. */
interface RefusedResponse {
  readonly statusCode?: number;
  setEncoding(encoding: 'utf8'): unknown;
  on(event: 'data', listener: (chunk: string) => void): unknown;
  on(event: 'end' | 'error', listener: () => void): unknown;
}
/** A refused upgrade's body is an error object of a few hundred bytes; more is not read. */
const MAX_REFUSAL_BODY = 4096;

/**
 * Node's `ws` package only: calls `onRefused` with the status and body when the server answers the upgrade with an
 * HTTP error (a 401 with the reason, a 403 forbidden origin, a 503). Browsers and WHATWG WebSockets never expose
 * these (they see a 1006 close), so for them this does nothing and the close event is all there is. With the
 * listener in place `ws` leaves the handshake open: the caller closes the socket once called.
 */
export function onUpgradeRefused(ws: WebSocketLike, onRefused: (status: number, body: string) => void): void {
  const emitter = ws as unknown as { once?: (event: 'unexpected-response', listener: (req: unknown, res: RefusedResponse) => void) => unknown };
  if (typeof emitter.once !== 'function') return;
  emitter.once('unexpected-response', (_req, res) => {
    let body = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      onRefused(res.statusCode ?? 0, body);
    };
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      if (body.length < MAX_REFUSAL_BODY) body += chunk.slice(0, MAX_REFUSAL_BODY - body.length);
    });
    res.on('end', finish);
    res.on('error', finish);
  });
}
