/**
 * The webhook queue of a node on the memory broker: events in this process, lost if it dies. Bounded by
 * `webhooks.maxQueue` events: past it the oldest waiting event is dropped (the newest tell the current state),
 * counted and logged. Occupancy needs no sharing: this node's first and last subscriber are everyone's.
 */
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';
import { DroppedEvents } from './dropped.js';
import type { QueuedBatch, QueueOp, WebhookQueue } from './queue.js';
import { Wakeup } from './wakeup.js';

/** While idle, a sender looks again this often (ms) even if nothing woke it. */
const POLL_MS = 1000;

export class MemoryWebhookQueue implements WebhookQueue {
  /** Waiting events from `head` on; `buf[head]` has sequence number `first`. Compacted when half is dead. */
  private buf: string[] = [];
  private head = 0;
  private first = 1;
  /** Last sequence number each target acknowledged. */
  private readonly cursors = new Map<string, number>();
  private readonly dropped: DroppedEvents;
  private readonly wakeup = new Wakeup(POLL_MS);

  constructor(private readonly targets: readonly string[], private readonly maxQueue: number, private readonly counters: Counters, private readonly logger: Logger) {
    for (const t of targets) this.cursors.set(t, 0);
    this.dropped = new DroppedEvents(counters, logger, 'memory');
  }

  async start(): Promise<void> {}

  push(op: QueueOp): void {
    if (this.depth() >= this.maxQueue) {
      this.head++;
      this.first++;
      this.dropped.add(1, this.maxQueue);
      this.compact();
    }
    this.buf.push(op.json);
    this.counters.webhookEvents++;
    this.counters.webhookQueueDepth = this.depth();
    this.wakeup.wakeAll();
  }

  mayDeliver(): boolean {
    return true;
  }

  async read(target: string, limit: number): Promise<QueuedBatch | undefined> {
    const from = Math.max((this.cursors.get(target) ?? 0) + 1, this.first);
    const last = this.first + this.depth() - 1;
    if (from > last) return undefined;
    const start = this.head + (from - this.first);
    const events = this.buf.slice(start, start + limit);
    return { events, cursor: String(from + events.length - 1) };
  }

  async ack(target: string, cursor: string): Promise<void> {
    this.cursors.set(target, Number(cursor));
    let min = Infinity;
    for (const t of this.targets) min = Math.min(min, this.cursors.get(t) ?? 0);
    const done = Math.min(min - this.first + 1, this.depth());
    if (done > 0) {
      this.head += done;
      this.first += done;
    }
    this.compact();
    this.counters.webhookQueueDepth = this.depth();
  }

  /** Drops the dead prefix once it is over half the array (amortized O(1) per event). */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.head);
      this.head = 0;
    }
  }

  waitForEvents(): Promise<void> {
    return this.wakeup.wait();
  }

  depth(): number {
    return this.buf.length - this.head;
  }

  async close(): Promise<void> {
    const left = this.depth();
    if (left > 0) this.logger.warn({ event: 'webhook_events_lost', pending: left }, 'webhooks: events not delivered before shutdown are lost (the memory broker keeps them in this process only)');
    this.wakeup.wakeAll();
  }
}
