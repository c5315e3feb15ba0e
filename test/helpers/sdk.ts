/**
 * Test helpers for the client SDK: a recorder of everything a client (or subscription) emits, and a tiny scripted
 * WebSocket server for behaviour a real Switchboard never shows (silence, gaps, unanswered commands).
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  event: string;
  arg: any;
}

/** Records every event of `target` (anything with `on(event, listener)`) in order. */
export function record(target: { on(event: any, l: (arg: any) => void): unknown }, events: string[]): Recorded[] {
  const out: Recorded[] = [];
  for (const event of events) target.on(event, (arg) => out.push({ event, arg }));
  return out;
}

export const CLIENT_EVENTS = ['connecting', 'connected', 'disconnected', 'subscribed', 'publication', 'message', 'join', 'leave', 'recoveryFailed', 'error'];

/** Args of one event kind. */
export const of = (rec: Recorded[], event: string): any[] => rec.filter((r) => r.event === event).map((r) => r.arg);

export interface ScriptedConnection {
  ws: WebSocket;
  /** Parsed frames the client sent. */
  received: any[];
  send(frame: unknown): void;
}

/** A raw WebSocket server on 127.0.0.1:0; `onConnection` scripts each connection. */
export async function scriptedServer(onConnection: (c: ScriptedConnection) => void): Promise<{ url: string; port: number; connections: ScriptedConnection[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const connections: ScriptedConnection[] = [];
  wss.on('connection', (ws) => {
    const c: ScriptedConnection = { ws, received: [], send: (f) => ws.send(JSON.stringify(f)) };
    ws.on('message', (data) => c.received.push(JSON.parse(String(data))));
    connections.push(c);
    onConnection(c);
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
