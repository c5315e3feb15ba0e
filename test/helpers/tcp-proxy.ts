/**
 * A loopback TCP proxy in front of a Redis, to break a node's connections without touching Redis itself: freeze them
 * (bytes stop flowing, nothing is closed, like a peer gone without a FIN), slow their replies down (every byte
 * arrives, late, like a starved Redis working through a backlog), kill them, or hold new ones (a reconnect that does
 * not get through yet). A connection counts as a subscriber once it sent a SUBSCRIBE (or SSUBSCRIBE).
 */
import { once } from 'node:events';
import net from 'node:net';

/** Which of the current connections an action applies to. */
export type ProxyTarget = 'all' | 'commands' | 'subscribers';

interface Pair {
  frozen: boolean;
  /** Requests still reach Redis, but its replies are dropped: a command runs and its answer never arrives. */
  muted: boolean;
  /** Replies trickle: at most `bytes` every `everyMs` (undefined: forwarded at once). */
  pace?: { bytes: number; everyMs: number };
  /** Reply bytes waiting for their turn while paced. */
  backlog: Buffer[];
  subscriber: boolean;
  readonly sockets: net.Socket[];
}

export interface FreezableProxy {
  readonly port: number;
  /** The matching connections open now go silent (in both directions); later connections work. */
  freezeCurrent(target?: ProxyTarget): void;
  /** The matching connections open now still deliver requests to Redis, but its replies are dropped. */
  muteReplies(target?: ProxyTarget): void;
  /** The matching connections open now get Redis's replies at most `bytes` every `everyMs`: all of them, late. */
  slowReplies(bytes: number, everyMs: number, target?: ProxyTarget): void;
  /** Closes the matching connections open now (the client sees the socket close and reconnects). */
  killCurrent(target?: ProxyTarget): void;
  /** New connections are accepted but not forwarded until `release()` (a reconnect kept waiting). */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startFreezableProxy(targetPort: number): Promise<FreezableProxy> {
  const pairs: Pair[] = [];
  const timers: NodeJS.Timeout[] = [];
  let held: (() => void)[] | undefined;
  const matches = (p: Pair, t: ProxyTarget) => t === 'all' || (t === 'subscribers') === p.subscriber;
  const forward = (down: net.Socket) => {
    const up = net.connect(targetPort, '127.0.0.1');
    const pair: Pair = { frozen: false, muted: false, backlog: [], subscriber: false, sockets: [down, up] };
    pairs.push(pair);
    down.on('data', (d: Buffer) => {
      if (!pair.subscriber && /SUBSCRIBE/i.test(d.toString('latin1'))) pair.subscriber = true;
      if (!pair.frozen) up.write(d);
    });
    up.on('data', (d: Buffer) => {
      if (pair.frozen || pair.muted) return;
      if (pair.pace) pair.backlog.push(d);
      else down.write(d);
    });
    down.resume();
    for (const s of pair.sockets) {
      s.on('error', () => pair.sockets.forEach((x) => x.destroy()));
      s.on('close', () => pair.sockets.forEach((x) => x.destroy()));
    }
  };
  const server = net.createServer((down) => {
    if (!held) return forward(down);
    down.pause(); // its bytes wait in the socket until released
    down.on('error', () => down.destroy());
    held.push(() => forward(down));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    freezeCurrent: (target = 'all') => pairs.forEach((p) => matches(p, target) && (p.frozen = true)),
    muteReplies: (target = 'all') => pairs.forEach((p) => matches(p, target) && (p.muted = true)),
    slowReplies: (bytes, everyMs, target = 'all') => {
      for (const p of pairs) {
        if (!matches(p, target) || p.pace) continue;
        p.pace = { bytes, everyMs };
        const timer = setInterval(() => {
          let budget = bytes;
          while (budget > 0 && p.backlog.length > 0) {
            const head = p.backlog[0]!;
            const piece = head.subarray(0, budget);
            if (piece.length === head.length) p.backlog.shift();
            else p.backlog[0] = head.subarray(budget);
            budget -= piece.length;
            p.sockets[0]!.write(piece);
          }
        }, everyMs);
        timers.push(timer);
        p.sockets[0]!.once('close', () => clearInterval(timer));
      }
    },
    killCurrent: (target = 'all') => pairs.forEach((p) => matches(p, target) && p.sockets.forEach((s) => s.destroy())),
    hold: () => {
      held ??= [];
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      waiting.forEach((go) => go());
    },
    close: async () => {
      held = undefined;
      timers.forEach(clearInterval);
      for (const p of pairs) p.sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
