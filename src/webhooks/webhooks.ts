/**
 * Webhooks: listens to the node's events (NodeEvents), queues them as JSON, and runs one sender per URL. The wiring
 * makes it when `webhooks.url` is set, with the Redis queue on the Redis broker (durable, shared by the nodes) and the
 * memory queue otherwise (bounded, losses counted). See docs/webhooks.md.
 */
import type { Config } from '../config/index.js';
import type { ClientRef, NodeEvents } from '../node/events.js';
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';
import type { Member, ServerPublication } from '../protocol/index.js';
import { EventIds, channelEvent, clientEvent, memberEvent, publicationEvent } from './event.js';
import { MemoryWebhookQueue } from './memory-queue.js';
import type { WebhookQueue } from './queue.js';
import { RedisWebhookQueue } from './redis-queue.js';
import { WebhookSender } from './sender.js';

export class Webhooks implements NodeEvents {
  private readonly senders: WebhookSender[];

  constructor(private readonly queue: WebhookQueue, private readonly ids: EventIds, config: Config, counters: Counters, logger: Logger) {
    const w = config.webhooks;
    const options = { secret: w.secret, batchSize: w.batchSize, timeoutMs: w.timeout, retryMinMs: w.retryMin, retryMaxMs: w.retryMax };
    this.senders = w.url.map((url) => new WebhookSender(url, queue, options, counters, logger));
  }

  async start(): Promise<void> {
    await this.queue.start();
    for (const s of this.senders) s.start();
  }

  /** Stops the senders (a request in flight is abandoned: its batch comes again), then closes the queue. */
  async stop(): Promise<void> {
    await Promise.all(this.senders.map((s) => s.stop()));
    await this.queue.close();
  }

  clientConnected(c: ClientRef): void {
    this.queue.push({ kind: 'event', json: clientEvent(this.ids.next(), 'client_connected', Date.now(), c) });
  }

  clientDisconnected(c: ClientRef): void {
    this.queue.push({ kind: 'event', json: clientEvent(this.ids.next(), 'client_disconnected', Date.now(), c) });
  }

  localChannel(channel: string, occupied: boolean): void {
    const json = channelEvent(this.ids.next(), occupied ? 'channel_occupied' : 'channel_vacated', Date.now(), channel);
    this.queue.push({ kind: occupied ? 'enter' : 'leave', channel, json });
  }

  memberAdded(channel: string, member: Member): void {
    this.queue.push({ kind: 'event', channel, json: memberEvent(this.ids.next(), 'member_added', Date.now(), channel, member) });
  }

  memberRemoved(channel: string, member: Member): void {
    this.queue.push({ kind: 'event', channel, json: memberEvent(this.ids.next(), 'member_removed', Date.now(), channel, member) });
  }

  published(pub: ServerPublication): void {
    this.queue.push({ kind: 'event', channel: pub.channel, json: publicationEvent(this.ids.next(), Date.now(), pub) });
  }
}

/** Webhooks for `config`, or undefined when no URL is set. `redis`: the node is on the Redis broker. */
export function createWebhooks(config: Config, redis: boolean, nodeId: string, counters: Counters, logger: Logger): Webhooks | undefined {
  const w = config.webhooks;
  if (w.url.length === 0) return undefined;
  const ids = new EventIds(nodeId);
  const queue = redis
    ? new RedisWebhookQueue({
      url: config.redis.url,
      prefix: config.redis.prefix,
      nodeId,
      targets: w.url,
      maxQueue: w.maxQueue,
      lockTtlMs: w.lockTtl,
      leaseTtlMs: config.redis.presenceTtl,
      commandTimeoutMs: config.redis.commandTimeout,
      counters,
      logger,
    })
    : new MemoryWebhookQueue(w.url, w.maxQueue, counters, logger);
  return new Webhooks(queue, ids, config, counters, logger);
}
