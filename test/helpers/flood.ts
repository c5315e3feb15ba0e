/**
 * The retained-history flood of issue #11 (finding 2): one user's WebSocket connections publishing large messages
 * round-robin to many channels as fast as the server answers, with a few commands in flight per connection. Frames
 * are built by concatenating a prepared payload, so the load generator costs little CPU.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { withTimeout } from './wait.js';

export interface FloodOptions {
  /** `ws://…/ws?user=…`: every connection is the same user. */
  readonly url: string;
  readonly connections: number;
  readonly channels: number;
  /** Characters of each publication's data string. */
  readonly dataChars: number;
  /** Stop once this many ms passed. */
  readonly durationMs: number;
  /** Stop early once this many bytes of data were accepted (0: no such stop). */
  readonly stopAfterBytes?: number;
  /** Commands in flight per connection. Default 4. */
  readonly window?: number;
  /** Called every `sampleMs` (default 200) while flooding. */
  readonly onSample?: () => void;
  readonly sampleMs?: number;
}

export interface FloodResult {
  /** Publishes the server accepted. */
  accepted: number;
  /** Data bytes of those. */
  acceptedBytes: number;
  /** Error replies by code. */
  errors: Record<string, number>;
  /** A connection closed before the end (the server died or dropped it). */
  closedEarly: boolean;
}

export async function flood(o: FloodOptions): Promise<FloodResult> {
  const payload = JSON.stringify('x'.repeat(o.dataChars));
  const window = o.window ?? 4;
  const res: FloodResult = { accepted: 0, acceptedBytes: 0, errors: {}, closedEarly: false };
  const deadline = Date.now() + o.durationMs;
  let stopping = false;
  const enough = (): boolean => stopping || Date.now() >= deadline || (o.stopAfterBytes !== undefined && o.stopAfterBytes > 0 && res.acceptedBytes >= o.stopAfterBytes);
  const timer = setInterval(() => o.onSample?.(), o.sampleMs ?? 200);
  let next = 0;
  const one = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(o.url, { perMessageDeflate: false });
      let inFlight = 0;
      let id = 0;
      const send = (): void => {
        while (inFlight < window && !enough() && ws.readyState === WebSocket.OPEN) {
          const channel = `flood${next++ % o.channels}`;
          ws.send(`{"id":${++id},"method":"publish","params":{"channel":"${channel}","data":${payload}}}`);
          inFlight++;
        }
        if (inFlight === 0 && enough()) ws.close();
      };
      ws.on('open', send);
      ws.on('message', (raw: Buffer) => {
        const m = JSON.parse(raw.toString()) as { id?: number; result?: unknown; error?: { code: string } };
        if (m.id === undefined || m.id === null) return;
        inFlight--;
        if (m.error) res.errors[m.error.code] = (res.errors[m.error.code] ?? 0) + 1;
        else {
          res.accepted++;
          res.acceptedBytes += o.dataChars;
        }
        send();
      });
      ws.on('error', (err) => {
        if (ws.readyState !== WebSocket.OPEN) reject(err);
      });
      ws.on('close', () => {
        if (!enough()) {
          res.closedEarly = true;
          stopping = true;
        }
        resolve();
      });
    });
  try {
    await withTimeout(Promise.all(Array.from({ length: o.connections }, one)), o.durationMs + 15_000, 'the flood to end');
  } finally {
    clearInterval(timer);
  }
  return res;
}

/** Resident set size of a process in bytes (Linux /proc), or undefined when it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
