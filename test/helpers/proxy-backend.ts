/**
 * Real HTTP backends on loopback for the proxy tests (docs/proxy.md): each records the calls it gets (path, headers,
 * parsed body) and answers through a handler; `slow` never answers in time, `garbage` answers 200 with non-JSON,
 * and `downUrl()` is a port nobody listens on (connection refused).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BackendCall {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: any;
}

/** What a handler answers: a JSON value (sent with status 200), or a raw reply. */
export type Answer = unknown | { raw: string; status?: number } | { hang: true };

export interface TestBackend {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly calls: BackendCall[];
  /** Calls to one path. */
  callsTo(path: string): BackendCall[];
  close(): Promise<void>;
}

export async function startBackend(handler: (call: BackendCall) => Answer | Promise<Answer>): Promise<TestBackend> {
  const calls: BackendCall[] = [];
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      const call = { path: req.url ?? '', headers: req.headers, body };
      calls.push(call);
      void Promise.resolve(handler(call)).then((a) => {
        if (isObj(a) && a.hang === true) {
          open.add(res);
          return;
        }
        if (isObj(a) && typeof a.raw === 'string') {
          res.writeHead(typeof a.status === 'number' ? a.status : 200, { 'content-type': 'application/json' }).end(a.raw);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    callsTo: (path) => calls.filter((c) => c.path === path),
    async close() {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** A loopback URL where nothing listens: a port taken from the OS, then released. */
export async function downUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
