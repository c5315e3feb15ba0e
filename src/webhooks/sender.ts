/**
 * Delivers the queue to one URL: reads a batch, POSTs it signed, and acknowledges it only after a 2xx answer.
 * Anything else (an error status, a refused or reset connection, no answer within webhooks.timeout) is retried after
 * a delay that doubles from webhooks.retryMin to webhooks.retryMax, with jitter, for as long as it takes: the next
 * batch waits, so the URL gets events in queue order, and a batch whose answer was lost comes again (at least once;
 * the receiver drops repeats by event id).
 */
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';
import { batchBody } from './event.js';
import type { QueuedBatch, WebhookQueue } from './queue.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from './signature.js';

export interface SenderOptions {
  readonly secret: string;
  readonly batchSize: number;
  readonly timeoutMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export class WebhookSender {
  private stopped = false;
  private readWarnedAt = 0;
  private running: Promise<void> | undefined;
  /** Aborts the request in flight and cuts a backoff short on stop. */
  private readonly stop$ = new AbortController();

  constructor(
    readonly target: string,
    private readonly queue: WebhookQueue,
    private readonly o: SenderOptions,
    private readonly counters: Counters,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stop$.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let batch: QueuedBatch | undefined;
      try {
        batch = this.queue.mayDeliver() ? await this.queue.read(this.target, this.o.batchSize) : undefined;
      } catch (err) {
        // At most once per 10 s: while Redis is unreachable this fails on every poll.
        if (Date.now() - this.readWarnedAt > 10_000) {
          this.readWarnedAt = Date.now();
          this.logger.warn({ err, url: this.target }, 'webhooks: reading the queue failed; retrying');
        }
      }
      if (batch) await this.deliver(batch);
      else await this.queue.waitForEvents();
    }
  }

  private async deliver(batch: QueuedBatch): Promise<void> {
    const body = batchBody(batch.events);
    for (let attempt = 0; !this.stopped; attempt++) {
      if (attempt > 0) this.counters.webhookRetries++;
      const failure = await this.post(body);
      if (failure === undefined) {
        this.counters.webhookDelivered += batch.events.length;
        if (attempt > 0) this.logger.info({ event: 'webhook_recovered', url: this.target, attempts: attempt + 1 }, 'webhooks: delivered after retrying');
        try {
          await this.queue.ack(this.target, batch.cursor);
        } catch (err) {
          // Not stored: the batch comes again (at least once).
          this.logger.warn({ err, url: this.target }, 'webhooks: acknowledging a delivered batch failed; it will be sent again');
        }
        return;
      }
      if (this.stopped) return;
      this.counters.webhookFailures++;
      // Logged on the first failure of a run and then every 10th, with the delay, so a long outage logs little.
      if (attempt % 10 === 0) this.logger.warn({ event: 'webhook_failed', url: this.target, attempts: attempt + 1, reason: failure }, 'webhooks: delivery failed; retrying with backoff');
      await this.sleep(this.backoff(attempt));
      // Lost the lock meanwhile (Redis): the node holding it resumes from the stored cursor.
      if (!this.queue.mayDeliver()) return;
    }
  }

  /** undefined when the receiver answered 2xx, else why not. */
  private async post(body: string): Promise<string | undefined> {
    const timestamp = Math.floor(Date.now() / 1000);
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.o.timeoutMs);
    const onStop = () => timeout.abort();
    this.stop$.signal.addEventListener('abort', onStop);
    try {
      const res = await fetch(this.target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signBody(this.o.secret, timestamp, body),
          'user-agent': 'switchboard-webhooks',
        },
        body,
        signal: timeout.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? undefined : `status ${res.status}`;
    } catch (err) {
      return timeout.signal.aborted ? `no answer within ${this.o.timeoutMs} ms (webhooks.timeout)` : String((err as Error).cause ?? err);
    } finally {
      clearTimeout(timer);
      this.stop$.signal.removeEventListener('abort', onStop);
    }
  }

  /** retryMin · 2^attempt, at most retryMax, then between half and all of it (jitter: receivers coming back are not stampeded). */
  private backoff(attempt: number): number {
    const ms = Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(attempt, 30));
    return ms / 2 + Math.random() * (ms / 2);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.stop$.signal;
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
}
