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
