/**
 * Publications missed while a node's pub/sub connection was re-established (node-redis reconnecting, or a dead
 * connection replaced) never come live, and on a quiet channel nothing later would show the gap. So once the
 * subscriptions are confirmed again, every subscribed channel's history after the position the node knows it
 * delivered is read back: RECOVERY_BATCH channels per pipelined round trip, each read one channel's keys (one slot,
 * cluster-safe). The missed publications go to the handler in offset order, as if they had come live (one that also
 * comes live is handed over once, see `advance`). When they cannot all be replayed (history no longer holds them, more
 * than RECOVERY_LIMIT, a new epoch), the handler is told of the gap and the channel's subscribers resume (4004).
 */
import type { BrokerHandler, ServerPublication, StreamPosition } from './broker.js';

/** Channels read per round trip. */
export const RECOVERY_BATCH = 100;
/** More missed publications than this in one channel are not replayed: its subscribers resume (4004) instead. */
export const RECOVERY_LIMIT = 100;

/**
 * A channel the node subscribes to: its SUBSCRIBE (concurrent subscribe calls share it) and the newest position the
 * node knows was handed to its handler (epoch '' until one is known), from which missed publications are read back.
 */
export interface NodeChannel {
  readonly ready: Promise<void>;
  epoch: string;
  offset: number;
}

/**
 * Moves the channel's known position to `pub`; false when `pub` was handed over already (recovery read it from
 * history before it came live), so each publication reaches the handler once.
 */
export function advance(sub: NodeChannel, pub: ServerPublication): boolean {
  if (pub.epoch === sub.epoch && pub.offset <= sub.offset) return false;
  sub.epoch = pub.epoch;
  sub.offset = pub.offset;
  return true;
}

export interface RecoveryHost {
  /** The node's subscribed channels now. */
  readonly subscribed: ReadonlyMap<string, NodeChannel>;
  /** At most `limit` publications of the channel after `since`, oldest first, and its top position. */
  readAfter(channel: string, since: StreamPosition, limit: number): Promise<{ publications: ServerPublication[]; top: StreamPosition }>;
  handler(): BrokerHandler | undefined;
  warn(...args: unknown[]): void;
}

/** Runs one recovery at a time; one asked for meanwhile runs after it; one that failed is retried by `retry()`. */
export class MissedPublications {
  private running: Promise<void> | undefined;
  private again = false;
  private failed = false;
  private stopped = false;

  constructor(private readonly host: RecoveryHost) {}

  /** The subscriptions were (re)confirmed after a reconnect: read back what was published meanwhile. */
  recover(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.failed = false;
    this.running = this.run()
      .catch((err: unknown) => {
        if (this.stopped) return;
        this.failed = true;
        this.host.warn({ err }, 'redis broker: reading back publications missed while reconnecting failed; retrying at the next health check');
      })
      .finally(() => {
        this.running = undefined;
        if (!this.again) return;
        this.again = false;
        this.recover();
      });
  }

  /** Runs again a recovery that failed (call when the broker is ready). */
  retry(): void {
    if (this.failed) this.recover();
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    const known = [...this.host.subscribed].filter(([, sub]) => sub.epoch !== '');
    let replayed = 0;
    const gaps: string[] = [];
    for (let i = 0; i < known.length; i += RECOVERY_BATCH) {
      const batch = known.slice(i, i + RECOVERY_BATCH);
      const reads = await Promise.all(batch.map(([channel, sub]) => this.host.readAfter(channel, sub, RECOVERY_LIMIT)));
      if (this.stopped) return;
      batch.forEach(([channel, sub], j) => {
        if (this.host.subscribed.get(channel) !== sub) return; // unsubscribed meanwhile
        const { publications, top } = reads[j]!;
        for (const pub of publications) {
          if (!advance(sub, pub)) continue;
          replayed++;
          this.host.handler()?.onPublication(pub);
        }
        if (sub.epoch === top.epoch && sub.offset >= top.offset) return;
        sub.epoch = top.epoch;
        sub.offset = top.offset;
        gaps.push(channel);
        this.host.handler()?.onGap(channel);
      });
    }
    if (replayed > 0 || gaps.length > 0) {
      this.host.warn({ replayed, gaps: gaps.length, channels: gaps.slice(0, 10) },
        `redis broker: after reconnecting, replayed ${replayed} missed publication(s) from history; ${gaps.length} channel(s) had a gap history could not fill (their subscribers resume)`);
    }
  }
}
