/**
 * Where webhook events wait until every URL has them. Two implementations: memory (one process, bounded, losses
 * counted) and Redis (one stream shared by every node, which survives a node's death). Each URL (a "target") has
 * its own cursor, so one URL that is down holds back only itself.
 */

/**
 * What the node queues, in order. `enter`/`leave`: the channel's first subscriber on this node arrived / its last
 * one left; `json` is the `channel_occupied` / `channel_vacated` event, queued only when the channel becomes
 * occupied / vacated across all nodes (the queue decides).
 */
export interface QueueOp {
  readonly kind: 'event' | 'enter' | 'leave';
  readonly channel?: string;
  readonly json: string;
}

/** Events read for one target, and the cursor that acknowledges them. */
export interface QueuedBatch {
  readonly events: readonly string[];
  readonly cursor: string;
}

export interface WebhookQueue {
  start(): Promise<void>;
  /** Queues an op; never blocks. Past the bound the op is dropped and counted. */
  push(op: QueueOp): void;
  /** Whether this node delivers now (memory: always; Redis: while it holds the delivery lock). */
  mayDeliver(): boolean;
  /** The oldest events `target` has not acknowledged, at most `limit`; undefined when none (or not delivering). */
  read(target: string, limit: number): Promise<QueuedBatch | undefined>;
  /** `target` has every event up to `cursor`. */
  ack(target: string, cursor: string): Promise<void>;
  /** Resolves when events may be readable: soon after a push, or after a short poll interval (ms). */
  waitForEvents(): Promise<void>;
  /** Events waiting (last known). */
  depth(): number;
  /** Stops; Redis: first writes what is still pending in this process (bounded wait). */
  close(): Promise<void>;
}
