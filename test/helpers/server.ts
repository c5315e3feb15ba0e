/**
 * A real Switchboard on 127.0.0.1 and a random port, built from CLI-style flags, plus small HTTP helpers for the
 * server API. Everything the tests open through it is closed by `close()` (clients first, then the server).
 */
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { Cleanup, withTimeout, type Closable } from './wait.js';

export interface HttpResult {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else the text. */
  body: any;
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port><websocket.path>` */
  readonly wsUrl: string;
  readonly port: number;
  readonly sb: Switchboard;
  /** Registers something to close before the server closes. Returns it. */
  track<T extends Closable>(c: T): T;
  /** A server API call; `body` is sent as JSON. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  /** `POST /api/publish`; throws unless 200. Returns the position. */
  publish(channel: string, data: unknown, event?: string): Promise<{ channel: string; epoch: string; offset: number }>;
  /** `GET /api/stats`. */
  stats(): Promise<Record<string, any>>;
  /** Closes tracked clients, then shuts the server down gracefully. Idempotent. */
  close(): Promise<void>;
}

/** Defaults first: later flags (the caller's) win. */
// Per-IP connect-rate limiting is off: every test client comes from 127.0.0.1 and reconnect storms are the point of some tests.
const BASE_FLAGS = ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--shutdown.timeout', '2s', '--limits.connectRate', '0'];

export async function startServer(flags: string[] = []): Promise<TestServer> {
  const config = loadConfig({ argv: [...BASE_FLAGS, ...flags] });
  const sb = createSwitchboard({ config });
  const { port } = await sb.listen();
  const url = `http://127.0.0.1:${port}`;
  const cleanup = new Cleanup();
  let closing: Promise<void> | undefined;

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> => {
    const res = await withTimeout(
      fetch(url + path, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
      5000,
      `${method} ${path}`,
    );
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed };
  };

  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}${config.websocket.path}`,
    port,
    sb,
    track: (c) => cleanup.add(c),
    api,
    async publish(channel, data, event) {
      const r = await api('POST', '/api/publish', event === undefined ? { channel, data } : { channel, data, event });
      if (r.status !== 200) throw new Error(`publish to ${channel} failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as { channel: string; epoch: string; offset: number };
    },
    async stats() {
      const r = await api('GET', '/api/stats');
      if (r.status !== 200) throw new Error(`stats failed: ${r.status}`);
      return r.body as Record<string, any>;
    },
    close() {
      return (closing ??= (async () => {
        try {
          await cleanup.run();
        } finally {
          await withTimeout(sb.shutdown(), 15_000, 'server shutdown');
        }
      })());
    },
  };
}

/**
 * An embedded server in production mode (a JWT secret and an API key set), on 127.0.0.1 and a random port, with
 * `config` merged over those defaults (a group given there replaces the default's group). For permission tests.
 */
export async function startJwtServer(secret: string, config: Record<string, unknown> = {}): Promise<{ sb: Switchboard; wsUrl: string }> {
  const sb = createSwitchboard({
    env: {},
    config: { port: 0, host: '127.0.0.1', logLevel: 'silent', apiKey: 'k', jwt: { secret }, limits: { connectRate: 0 }, ...config },
  });
  const { port } = await sb.listen();
  return { sb, wsUrl: `ws://127.0.0.1:${port}/ws` };
}
