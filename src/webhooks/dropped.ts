/**
 * Webhook events dropped because a queue was full: each is counted (`switchboard_webhook_events_dropped_total`), and
 * logged at most once per 10 s with how many went since the last line, so a flood does not flood the logs.
 */
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';

const LOG_EVERY_MS = 10_000;

export class DroppedEvents {
  private unlogged = 0;
  private lastLog = 0;

  constructor(private readonly counters: Counters, private readonly logger: Logger, private readonly where: string) {}

  add(n: number, maxQueue: number): void {
    if (n <= 0) return;
    this.counters.webhookDropped += n;
    this.unlogged += n;
    const now = Date.now();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    this.logger.error({ event: 'webhook_events_dropped', dropped: this.unlogged, max_queue: maxQueue, queue: this.where },
      'webhook queue full (webhooks.maxQueue): events dropped; is a webhook receiver down?');
    this.unlogged = 0;
  }
}
