/**
 * A real webhook receiver on loopback: checks each request's signature with `secret` (401 when it does not verify),
 * keeps every event once by id, and counts the repeats. `listen(port)` / `close()` take it up and down on the same
 * port, so a test can leave the sender facing a dead receiver for a while.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/webhooks/signature.js';

export interface ReceivedEvent {
  id: string;
  name: string;
  time: number;
  channel?: string;
  offset?: number;
  data?: unknown;
  [k: string]: unknown;
}

export class WebhookReceiver {
  /** Events in arrival order, each id once. */
  readonly events: ReceivedEvent[] = [];
  private readonly ids = new Set<string>();
  repeats = 0;
  requests = 0;
  /** How long to wait, after storing a request's events, before answering it (a slow receiver). */
  delayMs = 0;
  refused = 0;
  private server: Server | undefined;

  constructor(private readonly secret: string) {}

  /** A free loopback port (listened on and closed at once), for a receiver that starts down. */
  static async freePort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address() as AddressInfo;
    await new Promise((r) => s.close(r));
    return port;
  }

  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const body = Buffer.concat(chunks).toString('utf8');
        const ok = verifySignature(this.secret, req.headers['x-switchboard-timestamp'] as string | undefined, body,
          req.headers['x-switchboard-signature'] as string | undefined);
        if (!ok) {
          this.refused++;
          res.writeHead(401).end();
          return;
        }
        for (const e of (JSON.parse(body) as { events: ReceivedEvent[] }).events) {
          if (this.ids.has(e.id)) this.repeats++;
          else {
            this.ids.add(e.id);
            this.events.push(e);
          }
        }
        if (this.delayMs > 0) setTimeout(() => res.writeHead(204).end(), this.delayMs);
        else res.writeHead(204).end();
      });
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  named(name: string, channel?: string): ReceivedEvent[] {
    return this.events.filter((e) => e.name === name && (channel === undefined || e.channel === channel));
  }
}
