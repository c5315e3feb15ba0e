/**
 * A small WebSocket test client over `ws`: every frame the server sends is parsed and kept in order; replies are
 * matched to requests by id; pushes can be awaited one by one. Every wait has a timeout.
 */
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { withTimeout } from './wait.js';

export type Frame = Record<string, any>;

export interface Reply {
  id: number | string | null;
  result?: any;
  error?: { code: string; message: string };
}

export interface CloseInfo {
  code: number;
  reason: string;
}

interface Waiter {
  pred: (m: Frame) => boolean;
  pushesOnly: boolean;
  resolve: (m: Frame) => void;
}

export class WsClient {
  /** Every parsed frame from the server, in arrival order (replies included). */
  readonly messages: Frame[] = [];
  /** Resolves when the socket closes, with the close code and reason the client saw. */
  readonly closed: Promise<CloseInfo>;
  isClosed = false;
  private readonly consumed = new Set<Frame>();
  private readonly pending = new Map<number | string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private waiters: Waiter[] = [];
  private nextId = 1;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = data.toString('utf8');
      let m: Frame;
      try {
        m = JSON.parse(text) as Frame;
      } catch {
        m = { unparsed: text, isBinary };
      }
      this.messages.push(m);
      if (m !== null && typeof m === 'object' && 'id' in m && m.id !== null && this.pending.has(m.id)) {
        const p = this.pending.get(m.id)!;
        this.pending.delete(m.id);
        this.consumed.add(m);
        p.resolve(m as Reply);
        return;
      }
      for (const w of this.waiters) {
        if ((!w.pushesOnly || isPush(m)) && w.pred(m)) {
          this.consumed.add(m);
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(m);
          return;
        }
      }
    });
    ws.on('error', () => {
      /* surfaced through `closed` */
    });
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.isClosed = true;
        for (const p of this.pending.values()) p.reject(new Error(`socket closed (${code}) before the reply`));
        this.pending.clear();
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  /** Frames that are not replies (no `id` field): pushes, seed messages. */
  get pushes(): Frame[] {
    return this.messages.filter(isPush);
  }

  /** The underlying TCP socket (to pause reading, for slow-consumer tests). */
  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  /** Sends an object as JSON text, a string as is, a Buffer as a binary frame. */
  send(frame: unknown): void {
    if (Buffer.isBuffer(frame)) this.ws.send(frame, { binary: true });
    else this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends `{id, method, params}` and resolves with the reply of that id (result or error). */
  request(method: string, params: unknown = {}, timeoutMs = 3000): Promise<Reply> {
    const id = this.nextId++;
    const p = new Promise<Reply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.send({ id, method, params });
    return withTimeout(p, timeoutMs, `reply to ${method} #${id}`).finally(() => this.pending.delete(id));
  }

  /** Like request() but throws unless the reply is a result. */
  async call(method: string, params: unknown = {}, timeoutMs = 3000): Promise<any> {
    const r = await this.request(method, params, timeoutMs);
    if (r.error) throw new Error(`${method} failed: ${r.error.code}: ${r.error.message}`);
    return r.result;
  }

  /** The first not-yet-taken push (already received or future) matching `pred`; marks it taken. */
  nextPush(pred: (m: Frame) => boolean = () => true, timeoutMs = 3000): Promise<Frame> {
    return this.take(pred, true, timeoutMs);
  }

  /** Like nextPush over every frame, replies with `id: null` included. */
  next(pred: (m: Frame) => boolean = () => true, timeoutMs = 3000): Promise<Frame> {
    return this.take(pred, false, timeoutMs);
  }

  private take(pred: (m: Frame) => boolean, pushesOnly: boolean, timeoutMs: number): Promise<Frame> {
    for (const m of this.messages) {
      if (!this.consumed.has(m) && (!pushesOnly || isPush(m)) && pred(m)) {
        this.consumed.add(m);
        return Promise.resolve(m);
      }
    }
    let waiter!: Waiter;
    const p = new Promise<Frame>((resolve) => {
      waiter = { pred, pushesOnly, resolve };
      this.waiters.push(waiter);
    });
    return withTimeout(p, timeoutMs, `a matching ${pushesOnly ? 'push' : 'frame'} (have ${this.messages.length}: ${JSON.stringify(this.messages.slice(-3))})`).finally(
      () => (this.waiters = this.waiters.filter((x) => x !== waiter)),
    );
  }

  /** Resolves with the close info, or rejects if the socket is still open after `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<CloseInfo> {
    return withTimeout(this.closed, timeoutMs, 'socket close');
  }

  /** Closes (handshake), or terminates if the handshake does not finish in 1 s. Idempotent. */
  async close(code = 1000): Promise<void> {
    if (this.isClosed) return;
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    try {
      await withTimeout(this.closed, 1000, 'close handshake');
    } catch {
      this.ws.terminate();
      await withTimeout(this.closed, 2000, 'terminate');
    }
  }

  /** Drops the TCP connection without a close frame (an abrupt network loss). */
  async terminate(): Promise<void> {
    if (this.isClosed) return;
    this.ws.terminate();
    await withTimeout(this.closed, 2000, 'terminate');
  }
}

/**
 * The outcome of a seed-vocabulary frame, which gets no success reply: the code of the seed error frame that arrives
 * before the reply to a native command sent right after it (commands run in arrival order), else `ok`.
 */
export async function seedOutcome(c: WsClient, frame: object): Promise<string> {
  const before = c.messages.length;
  c.send(frame);
  await c.request('unsubscribe', { channel: 'seed-outcome-barrier' });
  const err = c.messages.slice(before).find((m) => m.type === 'error' || m.action === 'error');
  return err ? String((err.payload ?? err.data).code) : 'ok';
}

function isPush(m: Frame): boolean {
  return m === null || typeof m !== 'object' || !('id' in m);
}

/** Opens a WebSocket and resolves once it is open. `url` may carry `?user=...`. */
export function connectWs(url: string, timeoutMs = 3000, options?: WebSocket.ClientOptions): Promise<WsClient> {
  const ws = new WebSocket(url, options);
  const client = new WsClient(ws);
  return withTimeout(
    new Promise<WsClient>((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    }),
    timeoutMs,
    `connect ${url}`,
  ).catch((err: unknown) => {
    ws.terminate();
    throw err;
  });
}

/** Connects and waits for the `connected` push. */
export async function connectReady(url: string, timeoutMs = 3000, options?: WebSocket.ClientOptions): Promise<{ client: WsClient; connected: Frame }> {
  const client = await connectWs(url, timeoutMs, options);
  const connected = await client.nextPush((m) => m.push === 'connected', timeoutMs);
  return { client, connected };
}
